"""Test settings: the project's settings plus test databases.

``TEST_POSTGRES_URL`` (set by ``make test`` when PostgreSQL is installed, and
by ``.ci/run``) adds a ``postgres`` database so that the store's contract
suite runs on PostgreSQL as well as on SQLite.
"""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-" + "x" * 50)
if "AUDIT_VAR_DIR" not in os.environ:
    # One directory per run: two runs on one machine must not share a database.
    os.environ["AUDIT_VAR_DIR"] = tempfile.mkdtemp(prefix="portal-test-")
    atexit.register(shutil.rmtree, os.environ["AUDIT_VAR_DIR"], ignore_errors=True)

from portal.settings import *  # noqa: E402,F401,F403
from portal.settings import DATABASES, VAR_DIR, database_config  # noqa: E402

ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only

# A file, not shared-cache memory: concurrency tests use several connections.
DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-default.sqlite3")}

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL")
if POSTGRES_URL:
    DATABASES["postgres"] = database_config(POSTGRES_URL)
    DATABASES["postgres"]["CONN_MAX_AGE"] = 0

# Reports wait for the worker (tests run it): a thread would not see the
# test's uncommitted transaction. The thread runner is covered by the browser tests.
REPORT_RUNNER = "worker"
# Tests run inside a transaction that forked workers could not see: one process
# (tests/reports/test_parallel.py runs the workers against a database of its own).
REPORT_WORKERS = 1
