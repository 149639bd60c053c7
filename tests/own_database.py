"""The environment of a portal process over a database of its own (a subprocess):
what the browser tests' server and the report workers' tests run with."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

__all__ = ["REPO", "manage", "portal_env"]

REPO = Path(__file__).resolve().parent.parent


def portal_env(var_dir: Path, **settings: str) -> dict:
    """os.environ without the test run's own configuration, pointed at ``var_dir``."""
    env = {
        name: value
        for name, value in os.environ.items()
        # Nothing of the test run's own configuration leaks into the subprocess.
        if not name.startswith(("DJANGO_", "AUDIT_", "OPENSEARCH_", "PORTAL_", "SEARCH_", "REPORT_"))
        and name not in ("DATABASE_URL", "TEST_POSTGRES_URL")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        DJANGO_ENV="local",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        AUDIT_VAR_DIR=str(var_dir),
        DATABASE_URL=f"sqlite:///{var_dir / 'portal.sqlite3'}",
        SEARCH_BACKEND="sql",
        PORTAL_REQUIRE_TOTP="false",
        PYTHONUNBUFFERED="1",
        **settings,
    )
    return env


def manage(env: dict, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """``manage.py ARGS`` in ``env``; raises AssertionError with its output when it fails."""
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"manage.py {' '.join(args)} exited {result.returncode}\n"
                             f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}")
    return result
