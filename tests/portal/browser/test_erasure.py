"""Erasure in the browser takes two people: the compliance officer asks for a data subject to be
erased, the admin approves on the confirmation page, and the event page then shows the
subject's personal data as erased."""

import json
import textwrap
import uuid

from playwright.sync_api import expect

from .pages import BANK

# Run in the server's database by `manage.py shell`: one event about a data subject of its own
# (the demo's subjects are left alone for the other tests), projected at once.
PUBLISH = textwrap.dedent("""
    import json
    from audit_events.projector import catch_up
    from audit_events.schema import EventIn
    from audit_events.services import append_events
    tenant, subject = json.loads({args!r})
    event = EventIn.model_validate({{
        "tenant": tenant, "aggregate_type": "Customer", "aggregate_id": subject, "data_subject": subject,
        "event_type": "CustomerRegistered", "occurred_at": "2026-11-20T09:30:00Z",
        "actor": {{"id": "svc-onboarding", "type": "service"}}, "classification": "confidential",
        "pii": ["/name"], "payload": {{"name": "Erin Erasable", "segment": "retail"}}}})
    [result] = append_events(events=[event])
    catch_up()
    print(result.event_id)
""")


def test_one_admin_asks_another_approves_and_the_data_reads_as_erased(page, sign_in, shot, portal_server):
    subject = f"cust-browser-{uuid.uuid4().hex[:8]}"
    made = portal_server.manage("shell", "-c", PUBLISH.format(args=json.dumps([BANK, subject])))
    event_path = f"/admin/audit/events/{made.stdout.strip().splitlines()[-1]}/"

    sign_in(page, "compliance")
    page.goto(event_path)
    expect(page.locator("#content")).to_contain_text("Erin Erasable")
    page.goto("/admin/audit_events/erasurerequest/add/")
    page.locator("#id_tenant").fill(BANK)
    page.locator("#id_subject").fill(subject)
    page.locator("#id_reason").fill("Art. 17 request R-2026-114, identity checked")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    row = page.locator("#result_list tbody tr", has_text=subject)
    expect(row).to_contain_text("waiting for approval")
    shot(page, "erasure-requested")
    page.goto(event_path)  # asking destroys nothing
    expect(page.locator("#content")).to_contain_text("Erin Erasable")
    page.context.clear_cookies()  # the next person, on the same browser

    sign_in(page, "admin")
    page.goto("/admin/audit_events/erasurerequest/?status__exact=pending")
    page.locator("#result_list tbody tr", has_text=subject).locator("input.action-select").check()
    page.locator("select[name=action]").select_option("approve")
    page.get_by_role("button", name="Go").click()
    expect(page.locator("#content")).to_contain_text("Erasing cannot be undone")
    expect(page.locator("#content")).to_contain_text("compliance")
    shot(page, "erasure-approve-confirmation")
    page.get_by_role("button", name="Yes, erase").click()
    expect(page.locator(".messagelist")).to_contain_text("1 event(s) now read as erased")

    expect(page.locator("#changelist")).not_to_contain_text(subject)  # no longer waiting
    page.goto("/admin/audit_events/erasurerequest/?status__exact=erased")
    page.locator("#result_list tbody tr", has_text=subject).locator("th a").click()
    expect(page.locator("#content")).to_contain_text('"approved_by": "admin"')
    expect(page.locator("#content")).to_contain_text('"requested_by": "compliance"')
    page.goto(event_path)
    expect(page.locator(".portal-erased").first).to_have_text("erased")
    expect(page.locator("#content")).not_to_contain_text("Erin Erasable")
    expect(page.locator("#content")).to_contain_text("retail")  # only the personal data is gone
    shot(page, "event-with-erased-personal-data")
