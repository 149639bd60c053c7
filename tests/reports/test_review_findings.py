"""What a review of reports found, each pinned by the test that would have caught it."""

import hashlib
from datetime import datetime, timedelta, timezone

import pytest
from django.utils import timezone as django_timezone

from audit_events.store import get_event_store
from portal.access.breakglass import break_glass_request
from reports.admin import ReportScheduleForm
from reports.models import ReportJob, ReportSchedule
from reports.services import _advance
from tests.audit_events.store.contracts import event

from .conftest import EXPORTER_POLICIES, SECRET
from .test_reports import csv_rows, generated


def test_data_access_shows_reads_only_of_records_the_requester_may_see(client, exporter, make_person, run_worker,
                                                                        history):
    outsider = make_person("globex-auditor", tenants=["globex"])
    client.force_login(outsider)
    client.get("/api/v1/aggregates/globex/Account/g-1/events")
    exporter(tenants=["acme", "_portal"])
    client.get("/api/v1/aggregates/acme/Account/acc-1/events")
    _, body = generated(client, run_worker, "data_access", "csv")
    tenants = {r["tenant"] for r in csv_rows(body)}
    assert "globex" not in tenants and "acme" in tenants


def test_reports_never_rest_on_break_glass(client, exporter, run_worker, history):
    officer = exporter(tenants=["globex"], pii=False, policies=EXPORTER_POLICIES + [
        {"effect": "allow", "actions": ["break_glass"], "conditions": [{"attr": "tenant", "op": "eq", "value": "acme"}]}])
    break_glass_request(user=officer, tenant="acme", justification="Patient unconscious, allergy history now",
                        minutes=5)
    _, body = generated(client, run_worker, "search_export", "csv")
    assert {r["tenant"] for r in csv_rows(body)} == {"globex"}
    assert SECRET not in body.decode("utf-8-sig")


def test_exporting_a_record_shows_under_who_viewed_it(client, exporter, run_worker, history):
    exporter(tenants=["acme", "_portal"])
    generated(client, run_worker, "entity_history", "csv", tenant="acme", aggregate_type="Account",
              aggregate_id="acc-2")
    _, body = generated(client, run_worker, "data_access", "csv", aggregate_id="acc-2")
    assert {"ReportRequested", "ReportGenerated", "ReportDownloaded"} <= {r["action"] for r in csv_rows(body)}


def test_integrity_counts_visible_events_and_names_hidden_breaks(client, exporter, run_worker, db):
    store = get_event_store()
    store.append([event(tenant="acme", aggregate_id="mixed", pii=[], payload={}, classification="internal"),
                  event(tenant="acme", aggregate_id="mixed", pii=[], payload={}, classification="restricted")])
    exporter(clearance="internal")
    _, body = generated(client, run_worker, "integrity", "csv")
    rows = [r for r in csv_rows(body) if r["section"] == "aggregate"]
    assert [(r["aggregate_id"], r["events"]) for r in rows] == [("mixed", "1")]


def test_the_file_digest_is_in_the_hash_chained_audit(client, exporter, run_worker, history):
    exporter()
    status, body = generated(client, run_worker, "integrity", "csv")
    generated_events = [e.record for e in get_event_store().iter_events(tenant="_portal")
                        if e.record["event_type"] == "ReportGenerated"]
    assert generated_events[-1]["payload"]["details"]["sha256"] == hashlib.sha256(body).hexdigest()


def test_downloads_check_expiry_and_current_access(client, exporter, run_worker, history):
    officer = exporter()
    status, _ = generated(client, run_worker, "integrity", "csv")
    url = f"/api/v1/reports/{status['id']}/download"
    officer.report_jobs.update(expires_at=django_timezone.now() - timedelta(seconds=1))
    assert client.get(url).status_code == 410  # before any worker pass
    officer.report_jobs.update(expires_at=django_timezone.now() + timedelta(days=1))
    from portal.access.models import Role

    Role.objects.filter(members=officer).delete()
    assert client.get(url).status_code == 403


def test_a_schedule_must_hold_an_object_of_parameters(exporter, db):
    owner = exporter()
    form = ReportScheduleForm(data={"name": "x", "owner": owner.pk, "type": "integrity", "format": "csv",
                                    "params": '"abc"', "every": "daily", "next_run_at": "2026-01-01 00:00",
                                    "active": "on"})
    assert not form.is_valid() and "params" in form.errors


def test_a_broken_schedule_does_not_stop_the_others(exporter, run_worker, history):
    owner = exporter()
    due = django_timezone.now() - timedelta(minutes=1)
    ReportSchedule.objects.create(name="stale", owner=owner, type="no-such-type", format="csv", next_run_at=due)
    ReportSchedule.objects.create(name="good", owner=owner, type="integrity", format="csv", next_run_at=due)
    run_worker()
    assert ReportJob.objects.filter(schedule__name="good").exists()
    assert all(s.next_run_at > django_timezone.now() for s in ReportSchedule.objects.all())


@pytest.mark.parametrize("due, expected", [
    ("2025-01-30", ["2025-02-28", "2025-03-30", "2025-04-30"]),
    ("2025-01-31", ["2025-02-28", "2025-03-31", "2025-04-30"]),
])
def test_monthly_schedules_keep_their_day_of_the_month(due, expected):
    start = datetime.fromisoformat(due).replace(hour=6, tzinfo=timezone.utc)
    got = [_advance("monthly", start, start + timedelta(days=1) + timedelta(days=31 * n)) for n in range(3)]
    assert [d.date().isoformat() for d in got] == expected


def test_an_exporters_tenant_scope_is_what_both_export_and_read_reach(exporter):
    # The search index narrows candidates by it: it must hold every tenant the export may
    # contain (export_report and the read action), and need not hold more.
    from reports.readers import ExportReader

    reads_two = {"effect": "allow", "actions": ["search"],
                 "conditions": [{"attr": "tenant", "op": "in", "value": ["acme", "globex"]}]}
    exports_one = {"effect": "allow", "actions": ["export_report"],
                   "conditions": [{"attr": "tenant", "op": "eq", "value": "acme"}]}
    exports_any = {"effect": "allow", "actions": ["export_report"], "conditions": []}
    assert ExportReader(exporter("one", policies=[reads_two, exports_one])).tenant_scope("search") == ["acme"]
    assert ExportReader(exporter("any", policies=[reads_two, exports_any])).tenant_scope("search") == [
        "acme", "globex"]
