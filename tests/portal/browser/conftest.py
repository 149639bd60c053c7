"""Browser tests: the portal served by a real server, driven by Chromium (Playwright).

The portal runs in a subprocess (``manage.py runserver``) over a database of
its own, set up once per session by the same commands as ``make run``:
``migrate``, ``bootstrap_demo`` (demo people, generated passwords) and
``run_projector --once``. pytest-django's ``live_server`` cannot be used: it
empties the database between tests with DELETE/TRUNCATE, which the audit
store's append-only triggers refuse. These tests therefore never use the
``db`` fixture; they change the portal's data only through the browser or
``portal_server.manage(...)``.

Fixtures:

- ``portal_server`` (session): ``.url``, ``.credentials`` (username ->
  password), ``.var_dir``, ``.log_path`` and ``.manage(*args)``, which runs a
  management command against the server's database (``CompletedProcess``;
  raises on a non-zero exit).
- ``base_url`` is the server's URL, so ``page.goto("/admin/")`` works.
- ``sign_in(page, username, password=None)``: signs in through the admin's
  login page (the demo password when none is given) and asserts it worked.
- ``shot(page, name)``: a full-page PNG at ``artifacts/screenshots/<name>.png``.
  A failing test leaves ``artifacts/screenshots/FAILED-<test>.png`` as well,
  and its report shows what the server logged meanwhile.

Chromium is Debian's ``/usr/bin/chromium`` (``CHROMIUM_PATH`` to use another);
without it these tests skip, or fail under ``CI``.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.own_database import manage, portal_env

# Playwright's sync API keeps an event loop set as running in the test thread,
# which Django's async-unsafe check would take for an async context.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
SCREENSHOTS = REPO / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
DEMO_EVENTS = 1500
START_TIMEOUT = 60  # seconds for runserver to answer
COMMAND_TIMEOUT = 600  # seconds for one management command

ADMIN_LOGIN_ERROR = (
    "Please enter the correct username and password for a staff account. "
    "Note that both fields may be case-sensitive."
)


# -- collection ---------------------------------------------------------------


def _in_this_folder(item) -> bool:
    return Path(str(item.path)).resolve().is_relative_to(HERE)


def pytest_collection_modifyitems(config, items):
    """Mark this folder's tests ``browser`` and run them last.

    Last, because Playwright's event loop stays set in the test thread until
    the session ends; no other test should run beside it.
    """
    ours = [item for item in items if _in_this_folder(item)]
    if not ours:
        return
    for item in ours:
        item.add_marker(pytest.mark.browser)
    chosen = set(map(id, ours))
    items[:] = [item for item in items if id(item) not in chosen] + ours


# -- Chromium -------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """The Chromium binary; skips (fails under ``CI``) when it is missing."""
    if not os.access(CHROMIUM, os.X_OK):
        reason = f"Chromium not found at {CHROMIUM} (Debian: apt-get install chromium; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args, browser_name, chromium_executable):
    """pytest-playwright's launch options (``--headed``, ``--slowmo``) plus Debian's Chromium."""
    args = {"headless": True, **browser_type_launch_args}
    if browser_name == "chromium":
        args["executable_path"] = chromium_executable
        args["args"] = [
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-gpu",
        ]
    return args


# -- the portal server ----------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PortalServer:
    """A portal served by ``manage.py runserver`` over a database of its own."""

    url: str
    var_dir: Path
    env: dict
    log_path: Path
    credentials: dict = field(default_factory=dict)
    process: subprocess.Popen | None = None
    started_in: float = 0.0  # seconds the set-up took, server included

    def manage(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess:
        """Run ``manage.py ARGS`` against the server's database; raises when it fails."""
        return manage(self.env, *args, timeout=timeout)

    def log(self, offset: int = 0) -> str:
        """What the server wrote to stderr (requests, errors), from byte ``offset``."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                return log.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def start(self) -> None:
        port = int(self.url.rsplit(":", 1)[1])
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--insecure"],
                cwd=REPO, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the portal server exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/admin/login/", timeout=2) as response:
                    if response.status == 200:
                        return
            except urllib.error.HTTPError as exc:
                raise RuntimeError(f"the portal server answered {exc.code} on /admin/login/") from exc
            except OSError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise RuntimeError(f"the portal server did not answer within {START_TIMEOUT}s")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


_SERVER_STARTED_IN = pytest.StashKey[float]()


def pytest_terminal_summary(terminalreporter, config):
    if _SERVER_STARTED_IN in config.stash:
        terminalreporter.write_line(
            f"portal server (migrate, {DEMO_EVENTS} demo events, projector, runserver) "
            f"ready in {config.stash[_SERVER_STARTED_IN]:.1f}s"
        )


@pytest.fixture(scope="session")
def portal_server(request, tmp_path_factory, chromium_executable):
    """The demo portal, served for the whole session (see the module's docstring)."""
    started = time.monotonic()
    var_dir = tmp_path_factory.mktemp("portal-server")
    server = PortalServer(
        url=f"http://127.0.0.1:{_free_port()}",
        var_dir=var_dir,
        env=portal_env(var_dir),
        log_path=var_dir / "server.log",
    )
    try:
        server.manage("migrate", "--noinput")
        server.manage("bootstrap_demo", "--events", str(DEMO_EVENTS))
        server.manage("run_projector", "--once")
        credentials = json.loads((var_dir / "demo_credentials.json").read_text())
        server.credentials = {name: secret for name, secret in credentials.items() if name != "demo-publisher"}
        server.start()
    except (AssertionError, RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        server.stop()
        pytest.fail(f"the portal server could not start: {exc}\n--- server log ---\n{server.log()}", pytrace=False)
    server.started_in = time.monotonic() - started
    request.config.stash[_SERVER_STARTED_IN] = server.started_in
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def base_url(portal_server):
    """Relative URLs in ``page.goto`` resolve against the portal server."""
    return portal_server.url


# -- signing in -------------------------------------------------------------------


@pytest.fixture
def sign_in(portal_server):
    """``sign_in(page, username, password=None)``: through the admin's login page.

    Without ``password`` the user's demo password is used. Asserts that the
    admin index opened for that user; returns the page.
    """
    from playwright.sync_api import expect

    def sign_in(page, username: str, password: str | None = None):
        if password is None:
            password = portal_server.credentials[username]
        page.goto(f"{portal_server.url}/admin/login/")
        page.get_by_label("Username:").fill(username)
        page.get_by_label("Password:").fill(password)
        page.get_by_role("button", name="Log in").click()
        expect(page.locator(".errornote"), f"signing in as {username} was refused").to_have_count(0)
        expect(page).to_have_url(f"{portal_server.url}/admin/")
        expect(page.locator("#user-tools")).to_contain_text(username)
        return page

    return sign_in


# -- screenshots ------------------------------------------------------------------


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "screenshot"


def take_screenshot(page, name: str) -> Path:
    """A full-page PNG of ``page`` at ``artifacts/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{_file_name(name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def shot():
    """``shot(page, name)`` -> the path of a full-page PNG under ``artifacts/screenshots/``."""
    return take_screenshot


_LOG_OFFSET = pytest.StashKey[int]()


@pytest.fixture(autouse=True)
def _server_log_offset(request):
    """Remember where the server's log stood when the test started."""
    if "portal_server" in request.fixturenames:
        request.node.stash[_LOG_OFFSET] = request.getfixturevalue("portal_server").log_size()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure: a screenshot ``FAILED-<test>.png`` and the server's log in the report."""
    outcome = yield
    report = outcome.get_result()
    if report.when not in ("setup", "call") or not report.failed or not _in_this_folder(item):
        return
    page = getattr(item, "funcargs", {}).get("page")
    if page is not None:
        try:
            path = take_screenshot(page, f"FAILED-{item.name}")
            report.sections.append(("screenshot", str(path)))
        except Exception as exc:  # a closed or crashed page: the report matters more
            report.sections.append(("screenshot", f"could not be taken: {exc}"))
    server = getattr(item, "funcargs", {}).get("portal_server")
    if server is not None and _LOG_OFFSET in item.stash:
        report.sections.append(("portal server log", server.log(item.stash[_LOG_OFFSET])[-20000:]))
