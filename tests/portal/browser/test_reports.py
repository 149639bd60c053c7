"""Reports in the browser: requesting one from the Reports page, watching it being made,
downloading it (CSV, and an evidence bundle whose own verifier catches a flipped byte), the
timeline's "Report of this record" link, the form's per-type parameters, bad input, and a
person without export access."""

import csv
import io
import re
import subprocess
import sys
import zipfile
from urllib.parse import urlsplit

from playwright.sync_api import Page, expect

from .pages import BANK_ACCOUNT, result_rows, signed_in_page, timeline_path

REPORTS = "/admin/audit/reports/"
REPORT_URL = re.compile(r"/admin/audit/reports/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/$")
DONE_WITHIN = 60_000  # ms: a one-record report is made in a second or two
CSV_HEADER = ["sequence", "event_id", "event_type", "occurred_at", "recorded_at", "actor_id", "actor_type",
              "classification", "payload", "state_after"]
NO_EXPORT = "Your access does not include exporting reports"


def record_params(tenant: str, aggregate_type: str, aggregate_id: str) -> dict[str, str]:
    return {"tenant": tenant, "aggregate_type": aggregate_type, "aggregate_id": aggregate_id}


def param_row(page: Page, name: str):
    return page.locator(f".portal-param[data-param='{name}']")


def request_section(page: Page):
    return page.locator("section[aria-labelledby='request-heading']")


def fill_request(page: Page, report: str, fmt: str, params: dict[str, str]) -> None:
    """On the Reports page: choose the report (by its label) and format, fill the parameters."""
    page.locator("#report-type").select_option(label=report)
    page.locator("#report-format").select_option(fmt)
    for name, value in params.items():
        page.locator(f"#param-{name}").fill(value)


def request_report(page: Page, report: str, fmt: str, params: dict[str, str]) -> str:
    """Request a report through the form; returns its id once its page has opened."""
    if urlsplit(page.url).path != REPORTS:
        page.goto(REPORTS)
    fill_request(page, report, fmt, params)
    page.get_by_role("button", name="Request report").click()
    expect(page.locator("ul.messagelist li.error")).to_have_count(0)
    expect(page).to_have_url(REPORT_URL)
    return REPORT_URL.search(page.url).group(1)


def wait_until_done(page: Page) -> None:
    """The report page refreshes itself (meta refresh) until the report is done."""
    expect(page.locator("#report-state")).to_have_text("done", timeout=DONE_WITHIN)
    expect(page.locator("#report-download")).to_be_visible()


def download(page: Page, tmp_path, name: str):
    with page.expect_download() as info:
        page.locator("#report-download").click()
    fetched = info.value
    assert fetched.failure() is None, fetched.failure()
    path = tmp_path / name
    fetched.save_as(path)
    return fetched, path


def existing_bank_account(page: Page) -> tuple[str, str, str]:
    """acc-000001, checked through the search page: a bank Account the signed-in person sees."""
    tenant, aggregate_type, aggregate_id = BANK_ACCOUNT
    page.goto(f"/admin/audit/search/?tenant={tenant}&aggregate_type={aggregate_type}&aggregate_id={aggregate_id}")
    rows = result_rows(page)
    assert rows, f"the search finds no event of {'/'.join(BANK_ACCOUNT)}"
    assert all(row["Tenant"] == tenant for row in rows), rows
    assert all(row["Aggregate"].startswith(f"{aggregate_type} {aggregate_id} ") for row in rows), rows
    return BANK_ACCOUNT


def aggregate_event_ids(page: Page, record) -> list[str]:
    tenant, aggregate_type, aggregate_id = record
    answer = page.request.get(f"/api/v1/aggregates/{tenant}/{aggregate_type}/{aggregate_id}/events?limit=1000")
    assert answer.ok, answer.text()
    body = answer.json()
    assert body["next_after"] is None, "the record should have fewer than 1,000 events"
    return [event["event_id"] for event in body["events"]]


def my_report_ids(page: Page) -> list[str]:
    answer = page.request.get("/api/v1/reports")
    assert answer.ok, answer.text()
    return [report["id"] for report in answer.json()]


def test_an_entity_history_is_requested_made_and_downloaded_as_csv(page, sign_in, shot, tmp_path):
    sign_in(page, "compliance")
    record = existing_bank_account(page)
    event_ids = aggregate_event_ids(page, record)

    # Audit trail → Reports, from the sidebar.
    page.locator("#nav-sidebar .app-audit").get_by_role("link", name="Reports", exact=True).click()
    expect(page).to_have_url(re.compile(r"/admin/audit/reports/$"))
    expect(page.locator("h1")).to_have_text("Reports")
    expect(page.locator("#request-heading")).to_have_text("Request a report")
    expect(request_section(page)).not_to_contain_text(NO_EXPORT)

    report_id = request_report(page, "Entity history", "csv", record_params(*record))
    expect(page.locator("#report-status")).to_contain_text("Entity history")
    wait_until_done(page)
    expect(page.locator("dl.portal-meta dt:text-is('Format') + dd")).to_have_text("csv")
    expect(page.locator("dl.portal-meta dt:text-is('Rows') + dd")).to_have_text(str(len(event_ids)))
    expect(page.locator("dl.portal-meta dt:text-is('Parameters') + dd")).to_contain_text(record[2])
    shot(page, "report-done")

    fetched, path = download(page, tmp_path, "entity-history.csv")
    assert re.fullmatch(r"entity_history-\d{8}-\d{6}\.csv", fetched.suggested_filename), fetched.suggested_filename
    content = path.read_bytes()
    assert content.startswith(b"\xef\xbb\xbf"), "the CSV starts with a UTF-8 BOM"
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")))
    header, body = rows[0], rows[1:]
    assert header == CSV_HEADER
    column = {name: index for index, name in enumerate(header)}
    assert [int(row[column["sequence"]]) for row in body] == list(range(1, len(event_ids) + 1))
    assert [row[column["event_id"]] for row in body] == event_ids
    assert len(body) >= 3, f"{'/'.join(record)} should have several events"
    assert all(row[column["state_after"]].startswith("{") for row in body)

    # The list shows the report, done, with its download.
    page.goto(REPORTS)
    row = page.locator("#report-list tbody tr").filter(
        has=page.locator(f"a[href='{REPORTS}{report_id}/']"))
    expect(row).to_have_count(1)
    expect(row.locator("td[data-label='Report']")).to_have_text("entity_history")
    expect(row.locator("td[data-label='Format']")).to_have_text("csv")
    expect(row.locator("td[data-label='Status']")).to_have_text("done")
    expect(row.locator("td[data-label='Rows']")).to_have_text(str(len(event_ids)))
    expect(row.locator("td[data-label='Download'] a")).to_have_attribute("href", f"{REPORTS}{report_id}/download/")
    shot(page, "reports-list")


def test_an_evidence_bundle_verifies_itself_and_catches_a_flipped_byte(page, sign_in, tmp_path):
    sign_in(page, "compliance")
    page.goto(REPORTS)
    request_report(page, "Entity history", "bundle", record_params(*BANK_ACCOUNT))
    wait_until_done(page)
    fetched, bundle = download(page, tmp_path, "bundle.zip")
    assert fetched.suggested_filename.endswith(".zip"), fetched.suggested_filename

    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        assert {"events.jsonl", "hashes.jsonl", "report.csv", "manifest.json", "verify.py", "README.txt"} <= names
        verifier = tmp_path / "verify.py"
        verifier.write_bytes(archive.read("verify.py"))
        entries = [(info, archive.read(info)) for info in archive.infolist()]

    def verify(path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(verifier), str(path)], capture_output=True, text=True,
                              timeout=60, cwd=tmp_path)

    intact = verify(bundle)
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert "VERIFIED" in intact.stdout
    assert "0 masked events" in intact.stdout, intact.stdout  # the officer sees personal data

    # One byte of the first event changed (a digit of its time: the line stays valid JSON).
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(tampered, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for info, data in entries:
            if info.filename == "events.jsonl":
                at = data.index(b'"occurred_at":"') + len(b'"occurred_at":"')
                assert data[at:at + 1].isdigit()
                data = data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]
            archive.writestr(info, data)
    broken = verify(tampered)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "FAILED" in broken.stdout
    assert re.search(r"PROBLEM events\.jsonl: SHA-256 is [0-9a-f]{64} but manifest\.json says", broken.stdout), \
        broken.stdout
    assert "PROBLEM events.jsonl line 1: hash mismatch" in broken.stdout, broken.stdout


def test_report_of_this_record_fills_in_an_entity_history(page, sign_in):
    sign_in(page, "compliance")
    page.goto(timeline_path(*BANK_ACCOUNT))
    page.locator("#report-link").click()
    expect(page).to_have_url(re.compile(r"/admin/audit/reports/\?type=entity_history&"))
    expect(page.locator("#report-type")).to_have_value("entity_history")
    expect(page.locator("#report-type option:checked")).to_have_text("Entity history")
    for name, value in record_params(*BANK_ACCOUNT).items():
        expect(page.locator(f"#param-{name}")).to_be_visible()
        expect(page.locator(f"#param-{name}")).to_have_value(value)
    expect(param_row(page, "actor_id")).to_be_hidden()


def test_the_form_shows_only_the_parameters_of_the_chosen_report(page, sign_in):
    sign_in(page, "compliance")
    page.goto(REPORTS)
    select = page.locator("#report-type")

    select.select_option(label="Actor activity")
    expect(param_row(page, "actor_id")).to_be_visible()
    expect(page.locator("#param-actor_id")).to_be_enabled()
    expect(param_row(page, "aggregate_id")).to_be_hidden()
    expect(page.locator("#param-aggregate_id")).to_be_disabled()  # so it is not submitted either
    expect(param_row(page, "aggregate_type")).to_be_hidden()

    select.select_option(label="Entity history")
    expect(param_row(page, "aggregate_id")).to_be_visible()
    expect(page.locator("#param-aggregate_id")).to_be_enabled()
    expect(param_row(page, "aggregate_type")).to_be_visible()
    expect(param_row(page, "actor_id")).to_be_hidden()
    expect(page.locator("#param-actor_id")).to_be_disabled()
    for name in ("tenant", "from", "to"):
        expect(param_row(page, name)).to_be_visible()
    for name in ("reader", "q", "event_type", "classification"):
        expect(param_row(page, name)).to_be_hidden()


def test_a_request_without_its_aggregate_id_is_refused_and_stores_nothing(page, sign_in):
    sign_in(page, "compliance")
    page.goto(REPORTS)
    before = my_report_ids(page)
    listed_before = page.locator("#report-list tbody tr").count()
    tenant, aggregate_type, _ = BANK_ACCOUNT

    fill_request(page, "Entity history", "csv", {"tenant": tenant, "aggregate_type": aggregate_type})
    page.get_by_role("button", name="Request report").click()

    expect(page).to_have_url(re.compile(r"/admin/audit/reports/$"))
    field_error = page.locator("#error-aggregate_id")
    expect(field_error).to_be_visible()
    message = field_error.inner_text().strip()
    assert message, "the field's error says what is wrong"
    errors = page.locator("ul.messagelist li.error")
    expect(errors).to_have_count(1)
    expect(errors).to_have_text(f"params.aggregate_id: {message}")
    expect(page.locator("#param-aggregate_id")).to_have_attribute("aria-describedby", re.compile(r"error-aggregate_id"))
    # What was filled in stays.
    expect(page.locator("#report-type")).to_have_value("entity_history")
    expect(page.locator("#param-tenant")).to_have_value(tenant)
    expect(page.locator("#param-aggregate_type")).to_have_value(aggregate_type)
    # Nothing was stored.
    assert my_report_ids(page) == before
    expect(page.locator("#report-list tbody tr")).to_have_count(listed_before)


def test_without_export_access_no_report_is_made_and_others_reports_are_not_found(page, new_context, sign_in):
    officer = signed_in_page(new_context, sign_in, "compliance")
    report_id = request_report(officer, "Entity history", "csv", record_params(*BANK_ACCOUNT))
    wait_until_done(officer)
    report, report_download = f"{REPORTS}{report_id}/", f"{REPORTS}{report_id}/download/"
    assert officer.request.get(report_download).status == 200  # the officer's own: served

    sign_in(page, "auditor-bank")
    page.goto(REPORTS)
    expect(request_section(page)).to_contain_text(NO_EXPORT)
    expect(request_section(page).locator("p.help code")).to_have_text("export_report")
    before = my_report_ids(page)
    listed_before = page.locator("#report-list tbody tr").count()

    request_params = record_params(*BANK_ACCOUNT)
    fill_request(page, "Entity history", "csv", request_params)
    page.get_by_role("button", name="Request report").click()
    expect(page).to_have_url(re.compile(r"/admin/audit/reports/$"))
    expect(page.locator("ul.messagelist li.error")).to_have_text(
        "type: Your access does not include exporting reports (export_report).")
    expect(page.locator("#report-list tbody tr")).to_have_count(listed_before)
    assert my_report_ids(page) == before
    assert report_id not in before

    # The officer's report does not exist for the auditor, nor its file.
    response = page.goto(report)
    assert response.status == 404
    expect(page.locator("#report-state")).to_have_count(0)
    response = page.goto(report_download)
    assert response.status == 404
    assert page.request.get(f"/api/v1/reports/{report_id}").status == 404
