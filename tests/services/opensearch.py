"""A real single-node OpenSearch 2.19 for the tests, built from Maven Central artifacts.

The engine is the small Java program under ``tests/services/opensearch/`` (see
``docs/SEARCH_ENGINE.md``): the ``org.opensearch:opensearch`` server with the
``transport-netty4-client``, ``analysis-common`` and ``lang-painless`` modules,
started in-process by ``portal.testing.EmbeddedOpenSearch``.

Building needs Maven and the jars in the local Maven repository (``~/.m2``).
``.ci/run`` fills it by running ``python -m tests.services.opensearch build``
(the only step that downloads); afterwards builds run offline (``mvn -o``).
When the repository lacks something, :func:`build` falls back to an online
``mvn`` run, which is the only way anything is downloaded.

Python API::

    url, process = start_opensearch(workdir)   # e.g. "http://127.0.0.1:41703"
    ...
    stop_opensearch(process)

Command line::

    python -m tests.services.opensearch build   # Maven build (offline first, then online)
    python -m tests.services.opensearch run     # start in the foreground, print the URL

Environment: ``OPENSEARCH_JAVA_OPTS`` adds JVM options (e.g. ``-Xmx1g``, later
options win); ``OPENSEARCH_JAVA_HOME`` (else ``JAVA_HOME``, else ``java`` on
``PATH``) picks the Java runtime (17 or newer; the 2.19 line is tested on 17).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import selectors
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

SERVICE_DIR = Path(__file__).resolve().parent / "opensearch"
POM = SERVICE_DIR / "pom.xml"
SOURCES = SERVICE_DIR / "src"
TARGET = SERVICE_DIR / "target"
STAMP = TARGET / ".portal-build-stamp"
MAIN_CLASS = "portal.testing.EmbeddedOpenSearch"
READY_PREFIX = "OPENSEARCH_READY "
START_TIMEOUT = 120.0

# Close to a distribution's config/jvm.options, with a heap sized for tests.
JVM_OPTIONS = [
    "-Xms256m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-Djava.awt.headless=true",
    "-Dfile.encoding=UTF-8",
    "-Djava.locale.providers=SPI,COMPAT",
    "-Dio.netty.noUnsafe=true",
    "-Dio.netty.noKeySetOptimization=true",
    "-Dio.netty.recycler.maxCapacityPerThread=0",
    "-Dlog4j.shutdownHookEnabled=false",
    "-Dlog4j2.disable.jmx=true",
]


class OpenSearchUnavailable(RuntimeError):
    """The engine could not be built or started; the message says why."""


# --------------------------------------------------------------------- build


def _source_digest() -> str:
    digest = hashlib.sha256()
    for path in [POM, *sorted(SOURCES.rglob("*"))]:
        if path.is_file():
            digest.update(str(path.relative_to(SERVICE_DIR)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def is_built() -> bool:
    """True when ``target/`` holds a build of the current pom.xml and sources."""
    try:
        return STAMP.read_text().strip() == _source_digest() and any((TARGET / "lib").glob("opensearch-2*.jar"))
    except OSError:
        return False


@contextlib.contextmanager
def _build_lock():
    TARGET.mkdir(parents=True, exist_ok=True)
    with open(TARGET / ".build.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # parallel test workers build once
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _maven(offline: bool) -> subprocess.CompletedProcess:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise OpenSearchUnavailable("Maven (mvn) is not installed; it builds the test OpenSearch engine")
    command = [mvn, "-q", "-B", *(["-o"] if offline else []), "-f", str(POM), "package"]
    return subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def build(*, force: bool = False, allow_online: bool = True, log=None) -> None:
    """Build the engine into ``target/`` unless it is up to date.

    Offline first (``mvn -o``); online only when that fails and ``allow_online``.
    """
    with _build_lock():
        if not force and is_built():
            return
        digest = _source_digest()
        # copy-dependencies never removes jars: start from an empty lib/ so a
        # version change cannot leave two versions of a jar on the classpath.
        shutil.rmtree(TARGET / "lib", ignore_errors=True)
        STAMP.unlink(missing_ok=True)
        result = _maven(offline=True)
        if result.returncode != 0 and allow_online:
            if log:
                log("offline Maven build failed (local repository incomplete?); retrying online")
            shutil.rmtree(TARGET / "lib", ignore_errors=True)
            result = _maven(offline=False)
        if result.returncode != 0:
            tail = "\n".join(result.stdout.strip().splitlines()[-30:])
            raise OpenSearchUnavailable(f"Maven build of the test OpenSearch engine failed:\n{tail}")
        STAMP.write_text(digest + "\n")


# --------------------------------------------------------------------- start / stop


def _java() -> str:
    for variable in ("OPENSEARCH_JAVA_HOME", "JAVA_HOME"):
        home = os.environ.get(variable)
        if home and os.access(os.path.join(home, "bin", "java"), os.X_OK):
            return os.path.join(home, "bin", "java")
    java = shutil.which("java")
    if java is None:
        raise OpenSearchUnavailable("Java is not installed (the test OpenSearch engine needs Java 17)")
    return java


def command(home: Path, http_port: int = 0) -> list[str]:
    """The ``java`` command line that starts the engine with ``home`` as path.home."""
    classpath = os.pathsep.join([str(TARGET / "classes"), str(TARGET / "lib" / "*")])
    extra = shlex.split(os.environ.get("OPENSEARCH_JAVA_OPTS", ""))
    return [
        _java(), *JVM_OPTIONS, f"-Djava.io.tmpdir={home / 'tmp'}", *extra,
        "-cp", classpath, MAIN_CLASS,
        "--home", str(home), "--http-port", str(http_port), "--watch-stdin",
    ]


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _wait_ready(process: subprocess.Popen, log_path: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise OpenSearchUnavailable(
                    f"OpenSearch did not report ready within {timeout:.0f} s; log {log_path}:\n{_tail(log_path)}")
            if selector.get_map() and selector.select(min(remaining, 1.0)):
                chunk = os.read(process.stdout.fileno(), 4096)
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    text = line.decode(errors="replace").strip()
                    if text.startswith(READY_PREFIX):
                        return text[len(READY_PREFIX):].strip()
                if not chunk:  # stdout closed: the JVM is exiting
                    selector.unregister(process.stdout)
            elif not selector.get_map():
                time.sleep(0.1)
            if process.poll() is not None:
                raise OpenSearchUnavailable(
                    f"OpenSearch exited with status {process.returncode} before it was ready; "
                    f"log {log_path}:\n{_tail(log_path)}")


def _wait_yellow(url: str, timeout: float) -> None:
    """Wait until the cluster state is recovered and usable (status yellow or green)."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_cluster/health?wait_for_status=yellow&timeout=10s", timeout=15) as r:
                if json.load(r).get("status") in ("yellow", "green"):
                    return
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last_error = exc
        time.sleep(0.2)
    raise OpenSearchUnavailable(f"OpenSearch at {url} did not become healthy: {last_error}")


def start_opensearch(workdir, *, http_port: int = 0, timeout: float = START_TIMEOUT):
    """Build if needed, start the engine on 127.0.0.1, and return ``(url, process)``.

    ``http_port`` 0 lets the node bind a free port itself (no race with other
    processes); the URL carries the port it bound. The node's home and data
    live in a fresh directory under ``workdir`` that :func:`stop_opensearch`
    removes; its log stays in ``workdir/opensearch-<pid>.log``. The node also
    stops by itself when this Python process dies (its stdin is a pipe from us).
    Raises :class:`OpenSearchUnavailable` when it cannot build or start.
    """
    build()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="opensearch-home-", dir=workdir))
    (home / "tmp").mkdir()
    log_path = home.with_name(home.name.replace("-home-", "-") + ".log")
    with open(log_path, "wb") as log:
        try:
            process = subprocess.Popen(
                command(home, http_port),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                cwd=home, start_new_session=True,  # Ctrl-C reaches the tests, which then stop it
            )
        except OSError as exc:
            shutil.rmtree(home, ignore_errors=True)
            raise OpenSearchUnavailable(f"cannot run Java: {exc}") from exc
    process.opensearch_home = home
    process.opensearch_log = log_path
    try:
        url = _wait_ready(process, log_path, timeout)
        _wait_yellow(url, timeout=30)
    except BaseException:
        stop_opensearch(process)
        raise
    process.opensearch_url = url
    return url, process


def stop_opensearch(process, timeout: float = 30.0) -> None:
    """Stop the engine cleanly (SIGTERM, then SIGKILL after ``timeout``) and remove its data."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for stream in (process.stdin, process.stdout):
        if stream:
            with contextlib.suppress(OSError):
                stream.close()
    home = getattr(process, "opensearch_home", None)
    if home:
        shutil.rmtree(home, ignore_errors=True)


# --------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.services.opensearch", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    b = sub.add_parser("build", help="build the engine with Maven (offline first, then online)")
    b.add_argument("--force", action="store_true", help="rebuild even when up to date")
    b.add_argument("--offline", action="store_true", help="never let Maven download")
    r = sub.add_parser("run", help="start the engine in the foreground and print its URL")
    r.add_argument("--port", type=int, default=0, help="HTTP port on 127.0.0.1 (default: a free one)")
    r.add_argument("--workdir", help="directory for its data and log (default: a temporary one, removed)")
    args = parser.parse_args(argv)

    def log(message):
        print(message, file=sys.stderr)

    try:
        if args.action == "build":
            started = time.monotonic()
            build(force=args.force, allow_online=not args.offline, log=log)
            size = sum(p.stat().st_size for p in (TARGET / "lib").glob("*.jar"))
            log(f"OpenSearch test engine ready in {TARGET} "
                f"({size / 1e6:.0f} MB of jars; {time.monotonic() - started:.1f} s)")
            return 0

        workdir = args.workdir or tempfile.mkdtemp(prefix="portal-opensearch-")
        started = time.monotonic()
        url, process = start_opensearch(workdir, http_port=args.port)
        log(f"started in {time.monotonic() - started:.1f} s; log: {process.opensearch_log}; Ctrl-C stops it")
        print(url, flush=True)
        try:
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
            process.wait()
            log(f"OpenSearch exited with status {process.returncode}")
            return process.returncode or 1
        except KeyboardInterrupt:
            return 0
        finally:
            stop_opensearch(process)
            if not args.workdir:
                shutil.rmtree(workdir, ignore_errors=True)
    except OpenSearchUnavailable as exc:
        log(str(exc))
        return 2


if __name__ == "__main__":
    sys.exit(main())
