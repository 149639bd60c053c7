"""Big CSV exports written by several worker processes (REPORT_WORKERS).

Workers are forked processes with database connections of their own, so they
cannot see a test's transaction: these tests run the service in ``manage.py
shell`` over a database of its own (the demo data of ``bootstrap_demo``), with a
count limit of 50 so that the demo's result is "big".
"""

import json

import pytest

from tests.own_database import manage, portal_env

SCRIPT = """
import hashlib, json
from django.contrib.auth import get_user_model
from reports import services
from reports.services import report_generate, report_request, reports_storage
from reports.types.activity import SearchedEvents

parts = []
real = services._write_in_parts
services._write_in_parts = lambda *args: parts.append(args[7]) or real(*args)
if {fail}:
    rows = SearchedEvents.rows
    def failing(self, params, reader, span=None):
        if span and span[0] > 0:
            raise OSError("disk full")
        yield from rows(self, params, reader, span=span)
    SearchedEvents.rows = failing
user = get_user_model().objects.get(username="compliance")
job = report_generate(job_id=report_request(requested_by=user, type="search_export", format="csv", params={{}}).pk)
body = reports_storage().open(job.file_name).read() if job.file_name else b""
print(json.dumps({{"status": job.status, "rows": job.rows, "size": job.size, "error": job.error, "workers": parts,
                   "sha256": hashlib.sha256(body).hexdigest(), "lines": body.count(b"\\r\\n"), "file": job.file_name}}))
"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    var_dir = tmp_path_factory.mktemp("report-workers")
    env = portal_env(var_dir, REPORT_RUNNER="worker", SEARCH_SQL_COUNT_LIMIT="50")
    manage(env, "migrate", "--noinput")
    manage(env, "bootstrap_demo", "--events", "600")
    manage(env, "run_projector", "--once")
    return env


def generate(env, workers: int, fail: bool = False) -> dict:
    out = manage({**env, "REPORT_WORKERS": str(workers)}, "shell", "-c", SCRIPT.format(fail=fail))
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_workers_write_exactly_the_file_one_process_writes(demo):
    alone, together = generate(demo, 1), generate(demo, 3)
    assert alone["workers"] == [] and together["workers"] == [3]  # the parts path was taken
    assert alone["status"] == together["status"] == "done"
    assert alone["rows"] == together["rows"] > 50 and together["lines"] == together["rows"] + 1  # + header
    assert (together["sha256"], together["size"]) == (alone["sha256"], alone["size"])


def test_a_failing_worker_fails_the_report_and_leaves_no_file(demo):
    failed = generate(demo, 3, fail=True)
    assert failed["workers"] == [3]
    assert failed["status"] == "failed" and failed["file"] == "" and "internal error" in failed["error"]
