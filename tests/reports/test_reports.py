"""Reports end to end: request through the API, the worker generates, download and parse back."""

import csv
import io
import json
import subprocess
import sys
import zipfile
from datetime import timedelta

import pytest
from django.core import mail
from django.core.files.storage import storages
from django.utils import timezone
from openpyxl import load_workbook
from pypdf import PdfReader

from audit_events.store import get_event_store
from reports.models import ReportJob, ReportSchedule

from .conftest import SECRET

pytestmark = pytest.mark.both_stores  # the portal works unchanged on either event store
FORMATS = ["csv", "xlsx", "pdf", "bundle"]


def request(client, type, format="csv", **params):
    return client.post("/api/v1/reports", {"type": type, "format": format, "params": params},
                       content_type="application/json")


def generated(client, run_worker, type, format="csv", **params) -> tuple[dict, bytes]:
    answer = request(client, type, format, **params)
    assert answer.status_code == 202, answer.content
    run_worker()
    status = client.get(f"/api/v1/reports/{answer.json()['id']}").json()
    assert status["status"] == "done", status
    download = client.get(status["download_url"])
    assert download.status_code == 200
    return status, b"".join(download.streaming_content)


def text_of(format: str, body: bytes) -> str:
    """Everything a person could read in the file."""
    if format == "csv":
        return body.decode("utf-8-sig")
    if format == "xlsx":
        book = load_workbook(io.BytesIO(body), read_only=True)
        return "\n".join(" ".join(str(c) for c in row if c is not None)
                         for sheet in book.worksheets for row in sheet.iter_rows(values_only=True))
    if format == "pdf":
        return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)
    with zipfile.ZipFile(io.BytesIO(body)) as bundle:
        return "\n".join(bundle.read(name).decode("utf-8", "replace") for name in bundle.namelist())


def csv_rows(body: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


@pytest.mark.parametrize("format", FORMATS)
def test_entity_history_in_every_format(client, exporter, run_worker, history, format):
    exporter()
    status, body = generated(client, run_worker, "entity_history", format,
                             tenant="acme", aggregate_type="Account", aggregate_id="acc-1")
    assert status["rows"] == 2
    text = text_of(format, body)
    assert "Gus Hidden" not in text
    assert (SECRET in text) if format != "pdf" else ("Ann" in text)  # PDF cells are cut to fit
    if format == "csv":
        rows = csv_rows(body)
        assert [r["sequence"] for r in rows] == ["1", "2"]
        assert {"event_id", "event_type", "occurred_at", "actor_id", "payload"} <= set(rows[0])
        assert json.loads(rows[1]["state_after"]) == {"holder": {"name": SECRET}, "balance": 2}


@pytest.mark.parametrize("type, params, expected", [
    ("actor_activity", {"actor_id": "u-jsmith"}, 3),
    ("search_export", {"tenant": "acme"}, 3),
    ("activity_summary", {}, None),
    ("integrity", {}, 3),  # acc-1, acc-2 and the officer's own access-audit aggregate
    ("data_access", {}, None),
])
@pytest.mark.parametrize("format", FORMATS)
def test_every_type_in_every_format(client, exporter, run_worker, history, type, params, expected, format):
    exporter(tenants=["acme", "_portal"])
    client.get("/api/v1/aggregates/acme/Account/acc-1/events")  # something for the access audit
    status, body = generated(client, run_worker, type, format, **params)
    if expected is not None:
        assert status["rows"] == expected
    assert status["rows"] > 0
    assert "Gus Hidden" not in text_of(format, body) and "globex" not in text_of(format, body)


def test_data_access_says_who_viewed_which_record(client, exporter, run_worker, history):
    exporter(tenants=["acme", "_portal"])
    client.get("/api/v1/aggregates/acme/Account/acc-1/state")
    _, body = generated(client, run_worker, "data_access", "csv", tenant="acme", aggregate_id="acc-1")
    rows = csv_rows(body)
    assert rows and {r["reader"] for r in rows} == {"user:officer"}
    assert "StateReplayed" in {r["action"] for r in rows}


@pytest.mark.parametrize("format", FORMATS)
def test_personal_data_is_masked_in_every_format(client, exporter, run_worker, history, format):
    exporter("masked", pii=False)
    _, body = generated(client, run_worker, "search_export", format, tenant="acme")
    assert SECRET not in text_of(format, body)


def test_formula_cells_are_neutralised_in_csv(client, exporter, run_worker, history):
    exporter()
    _, body = generated(client, run_worker, "entity_history", "csv",
                        tenant="acme", aggregate_type="Account", aggregate_id="acc-2")
    payload = csv_rows(body)[0]["payload"]
    assert not payload.startswith("=")


def test_the_bundle_verifies_itself_and_fails_after_one_byte_changes(client, exporter, run_worker, history, tmp_path):
    exporter()
    _, body = generated(client, run_worker, "entity_history", "bundle",
                        tenant="acme", aggregate_type="Account", aggregate_id="acc-1")
    good = tmp_path / "good.zip"
    good.write_bytes(body)
    with zipfile.ZipFile(good) as bundle:
        (tmp_path / "verify.py").write_bytes(bundle.read("verify.py"))
        names = bundle.namelist()
        contents = {name: bundle.read(name) for name in names}
    ok = subprocess.run([sys.executable, str(tmp_path / "verify.py"), str(good)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    line = contents["events.jsonl"]
    contents["events.jsonl"] = line.replace(b'"balance":1', b'"balance":7', 1)
    assert contents["events.jsonl"] != line
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as bundle:
        for name in names:
            bundle.writestr(name, contents[name])
    failed = subprocess.run([sys.executable, str(tmp_path / "verify.py"), str(bad)], capture_output=True, text=True)
    assert failed.returncode == 1 and "events.jsonl" in failed.stdout + failed.stderr


def test_bad_requests_name_the_field_and_store_nothing(client, exporter, history):
    exporter()
    cases = [
        ({"type": "nope", "format": "csv", "params": {}}, "type"),
        ({"type": "entity_history", "format": "docx", "params": {"tenant": "acme", "aggregate_type": "Account",
                                                                 "aggregate_id": "acc-1"}}, "format"),
        ({"type": "entity_history", "format": "csv", "params": {"tenant": "acme", "aggregate_type": "Account"}},
         "params.aggregate_id"),
        ({"type": "actor_activity", "format": "csv", "params": {"actor_id": "u-1", "from": "2026-02-01T00:00:00Z",
                                                                "to": "2026-01-01T00:00:00Z"}}, "params.to"),
        ({"type": "search_export", "format": "csv", "params": {"limit": 5}}, "params.limit"),
        ({"type": "search_export", "format": "csv", "params": {"classification": "secret"}}, "params.classification"),
        ({"type": "integrity", "format": "csv", "params": {"surprise": 1}}, "params.surprise"),
    ]
    for body, field in cases:
        answer = client.post("/api/v1/reports", body, content_type="application/json")
        assert answer.status_code == 400, (body, answer.content)
        assert field in [e["field"] for e in answer.json()["errors"]], (field, answer.json())
    assert not ReportJob.objects.exists()


def test_people_without_export_access_are_refused(client, make_person, history):
    user = make_person("reader", tenants=["acme"])
    client.force_login(user)
    answer = request(client, "integrity")
    assert answer.status_code == 403 and "export_report" in answer.json()["detail"]


def test_someone_elses_report_is_404_everywhere(client, exporter, make_person, run_worker, history):
    exporter()
    status, _ = generated(client, run_worker, "integrity", "csv")
    other = exporter("other-officer")
    client.force_login(other)
    for url in (f"/api/v1/reports/{status['id']}", f"/api/v1/reports/{status['id']}/download",
                f"/admin/audit/reports/{status['id']}/", f"/admin/audit/reports/{status['id']}/download/"):
        assert client.get(url).status_code == 404, url
    assert client.get("/api/v1/reports").json() == []
    assert client.get("/api/v1/reports/not-a-uuid").status_code == 404


def test_an_aggregate_out_of_scope_fails_the_report_with_a_reason(client, exporter, run_worker, history):
    exporter()
    answer = request(client, "entity_history", tenant="globex", aggregate_type="Account", aggregate_id="g-1")
    run_worker()
    status = client.get(f"/api/v1/reports/{answer.json()['id']}").json()
    assert status["status"] == "failed" and "No aggregate you may view" in status["error"]
    assert client.get(f"/api/v1/reports/{status['id']}/download").status_code == 409


def test_reports_expire_and_their_files_go(client, exporter, run_worker, history):
    exporter()
    status, _ = generated(client, run_worker, "integrity", "csv")
    job = ReportJob.objects.get(pk=status["id"])
    assert storages["reports"].exists(job.file_name)
    ReportJob.objects.filter(pk=job.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    run_worker()
    assert not storages["reports"].exists(job.file_name)
    assert client.get(f"/api/v1/reports/{job.pk}").json()["status"] == "expired"
    assert client.get(f"/api/v1/reports/{job.pk}/download").status_code == 410


def test_requests_generation_and_downloads_are_audited(client, exporter, run_worker, history):
    exporter()
    generated(client, run_worker, "integrity", "csv")
    kinds = [e.record["event_type"] for e in get_event_store().iter_events(tenant="_portal")]
    assert {"ReportRequested", "ReportGenerated", "ReportDownloaded"} <= set(kinds)


def test_a_due_schedule_reports_the_period_just_ended_and_mails_its_owner(client, exporter, run_worker, history):
    owner = exporter()
    due = timezone.now().replace(day=1, hour=6, minute=0, second=0, microsecond=0)
    schedule = ReportSchedule.objects.create(name="monthly access review", owner=owner, type="actor_activity",
                                             format="csv", params={"actor_id": "u-jsmith"}, every="monthly",
                                             next_run_at=due)
    run_worker()  # requests the job
    run_worker()  # generates it
    job = ReportJob.objects.get(schedule=schedule)
    assert job.status == "done" and job.requested_by == owner
    assert job.params["to"].startswith(due.strftime("%Y-%m-01"))
    schedule.refresh_from_db()
    assert schedule.next_run_at > timezone.now() and schedule.last_run_at is not None
    assert mail.outbox and "monthly access review" in mail.outbox[0].subject


def test_the_portal_page_requests_and_lists_reports(client, exporter, run_worker, history):
    exporter()
    page = client.get("/admin/audit/reports/?type=entity_history&tenant=acme&aggregate_type=Account&aggregate_id=acc-1")
    assert page.status_code == 200 and 'value="acc-1"' in page.content.decode()
    answer = client.post("/admin/audit/reports/", {"type": "entity_history", "format": "csv", "tenant": "acme",
                                                   "aggregate_type": "Account", "aggregate_id": "acc-1",
                                                   "actor_id": "ignored-for-this-type"})
    assert answer.status_code == 302
    run_worker()
    status_page = client.get(answer["Location"])
    assert "done" in status_page.content.decode()
    job = ReportJob.objects.get()
    assert job.params == {"tenant": "acme", "aggregate_type": "Account", "aggregate_id": "acc-1"}
    download = client.get(f"/admin/audit/reports/{job.pk}/download/")
    assert download.status_code == 200 and download["Content-Disposition"].startswith("attachment")
    bad = client.post("/admin/audit/reports/", {"type": "entity_history", "format": "csv", "tenant": "acme"})
    assert bad.status_code == 200 and "params.aggregate_id" in bad.content.decode()


def test_the_zappa_runner_generates_through_zappas_task(client, exporter, history, settings,
                                                         django_capture_on_commit_callbacks):
    """Outside Lambda, Zappa's @task runs in-line: the same path a Lambda invocation takes."""
    from reports.runners import get_report_runner

    settings.REPORT_RUNNER = "zappa"
    get_report_runner.cache_clear()
    try:
        exporter()
        with django_capture_on_commit_callbacks(execute=True):
            answer = request(client, "integrity")
        assert client.get(f"/api/v1/reports/{answer.json()['id']}").json()["status"] == "done"
    finally:
        get_report_runner.cache_clear()


def test_the_scheduled_event_handler_requests_due_reports(exporter, history):
    from reports.tasks import run_due_schedules

    owner = exporter()
    ReportSchedule.objects.create(name="daily", owner=owner, type="integrity", format="csv", every="daily",
                                  next_run_at=timezone.now() - timedelta(minutes=1))
    answer = run_due_schedules({"source": "aws.events"}, None)
    assert len(answer["requested"]) == 1 and answer["expired"] == 0
