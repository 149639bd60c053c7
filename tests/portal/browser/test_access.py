"""Access in the browser: masked personal data, tenant isolation, and a role added in
the admin taking effect for the next request."""

import html
import re
import secrets

from playwright.sync_api import expect

from .pages import (
    BANK, BANK_ACCOUNT, EVENT_URL, SHOP, entry_link, meta_value, personal_values, result_rows,
    signed_in_page, state_api_path, telling, timeline_path,
)


def absent(content: str, values) -> list[str]:
    """The values that do occur in ``content`` (raw or HTML-escaped): should be none."""
    return [v for v in values if v in content or html.escape(v) in content]


def bank_account_as_auditor(new_context, sign_in):
    """The bank's auditor reads acc-000001: its first event's URL and every personal value
    of its events (from the timeline's "Download events (JSON)" link)."""
    page = signed_in_page(new_context, sign_in, "auditor-bank")
    page.goto(timeline_path(*BANK_ACCOUNT))
    download = page.get_by_role("link", name="Download events (JSON)").get_attribute("href")
    answer = page.request.get(download)
    assert answer.ok, answer.text()
    records = answer.json()["events"]
    values = telling(v for record in records for v in personal_values(record))
    assert len(values) >= 5, f"acc-000001 should carry personal data, found {values}"
    first_event = entry_link(page, 1)
    page.goto(first_event)
    record = records[0]
    shown = page.content()
    # The auditor does see them: the check below is not vacuous.
    assert not [v for v in telling(personal_values(record)) if html.escape(v) not in shown and v not in shown]
    return page, first_event, record, values


def test_an_analyst_sees_personal_data_masked_and_cannot_reveal_it(page, new_context, sign_in, shot):
    auditor, event_url, record, values = bank_account_as_auditor(new_context, sign_in)
    surname = record["payload"]["name"].split()[-1]

    sign_in(page, "analyst")
    page.goto(event_url)
    expect(meta_value(page, "Personal data")).to_contain_text("masked for you")
    masked = page.locator(".portal-payload .portal-masked")
    expect(masked).to_have_count(len(record["pii"]))
    expect(masked.first).to_have_text("masked")
    for key in ("name", "email", "ssn"):
        item = page.locator(".portal-payload > ul.portal-tree > li").filter(
            has=page.locator(f":scope > .portal-key:text-is('{key}')"))
        expect(item.locator(":scope > .portal-masked")).to_have_count(1)
        expect(item.locator(":scope > .portal-pii")).to_have_text("personal data")
    assert absent(page.content(), values) == []
    shot(page, "event-masked-for-analyst")

    page.goto(timeline_path(*BANK_ACCOUNT))
    expect(page.locator("#state-tree .portal-masked").first).to_be_visible()
    assert page.locator("#state-tree .portal-masked").count() >= len(record["pii"])
    assert page.locator("table.portal-diff .portal-masked").count() >= 1
    assert absent(page.content(), values) == []
    # The slider replays through the API: still masked.
    page.locator("#seq-slider").focus()
    page.keyboard.press("Home")
    page.keyboard.press("ArrowRight")
    expect(page).to_have_url(re.compile(r"[?&]sequence=1(&|$)"))
    expect(page.locator("#seq-output")).to_contain_text("#1 of")
    expect(page.locator("#state-tree .portal-masked").first).to_be_visible()
    assert absent(page.content(), values) == []
    shot(page, "timeline-masked-for-analyst")

    # No way around the mask: searching for the name finds nothing for the analyst...
    auditor.goto(f"/admin/audit/search/?q={surname}")
    assert result_rows(auditor), f"the bank's auditor finds {surname!r}"
    page.goto("/admin/audit/search/")
    page.locator("#searchbar").fill(surname)
    page.locator("#searchbar").press("Enter")
    expect(page).to_have_url(re.compile(rf"[?&]q={surname}(&|$)"))
    assert result_rows(page) == []
    expect(page.locator("#result_list tbody")).to_contain_text("No events you may see match.")
    assert absent(page.content(), values) == []

    # ...and the API answers the analyst's session with masked values too.
    answer = page.request.get(state_api_path(*BANK_ACCOUNT))
    assert answer.ok, answer.text()
    state = answer.json()["state"]
    assert state["name"] == {"masked": True} and state["ssn"] == {"masked": True}
    assert absent(answer.text(), values) == []
    events = page.request.get(state_api_path(*BANK_ACCOUNT).removesuffix("/state") + "/events")
    assert events.ok, events.text()
    assert absent(events.text(), values) == []


def test_another_tenants_records_answer_not_found(page, new_context, sign_in, shot):
    admin = signed_in_page(new_context, sign_in, "admin")
    admin.goto(timeline_path(*BANK_ACCOUNT))
    event_url = entry_link(admin, 1)
    assert EVENT_URL.search(event_url)
    account_number = admin.locator("#state-tree").inner_text()
    account_number = re.search(r'account_number: "(\d+)"', account_number).group(1)
    admin.goto(event_url)
    stored_hash = meta_value(admin, "Hash").inner_text().strip()
    secret_values = [account_number, stored_hash]

    sign_in(page, "auditor-shop")
    response = page.goto(timeline_path(*BANK_ACCOUNT))
    assert response.status == 404
    assert absent(page.content(), secret_values) == []
    expect(page.locator("#state-tree")).to_have_count(0)
    shot(page, "tenant-isolation-timeline-404")

    response = page.goto(event_url)
    assert response.status == 404
    assert absent(page.content(), secret_values) == []

    api = page.request.get(state_api_path(*BANK_ACCOUNT))
    assert api.status == 404
    assert absent(api.text(), secret_values) == []
    # Searching the bank's tenant by name shows nothing of it either.
    page.goto(f"/admin/audit/search/?tenant={BANK}&q={BANK_ACCOUNT[2]}")
    assert result_rows(page) == []


def test_a_role_added_in_the_admin_takes_effect_and_its_removal_too(page, new_context, sign_in, portal_server, shot):
    role_name = f"shop-readers-{secrets.token_hex(3)}"
    # A shop record, found as admin (not "restricted": no clearance needed either way).
    sign_in(page, "admin")
    page.goto(f"/admin/audit/search/?tenant={SHOP}&aggregate_type=Order&classification=internal")
    row = page.locator("#result_list tbody tr").first
    event_url = row.locator("td[data-label='Event'] a").get_attribute("href")
    timeline_url = row.locator("td[data-label='Aggregate'] a").get_attribute("href")
    aggregate = row.locator("td[data-label='Aggregate'] a").inner_text().strip()

    # The hospital's auditor cannot see the shop: checked first.
    hospital = signed_in_page(new_context, sign_in, "auditor-hospital")
    assert hospital.goto(timeline_url).status == 404
    assert hospital.goto(event_url).status == 404

    try:
        # Access control → Roles → Add role.
        page.goto("/admin/")
        page.locator(".app-access").get_by_role("link", name="Roles", exact=True).click()
        expect(page).to_have_url(re.compile(r"/admin/access/role/$"))
        page.get_by_role("link", name="Add role").click()
        page.locator("#id_name").fill(role_name)
        page.locator("#id_description").fill("Reads the shop's records (browser test).")
        page.locator("#id_members_from").select_option(label="auditor-hospital")
        page.locator("#id_members_add").click()
        expect(page.locator("#id_members_to option")).to_have_text(["auditor-hospital"])
        page.locator("#policies-group .add-row a").filter(has_text="Add another Policy").click()
        page.locator("#id_policies-0-effect").select_option("allow")
        page.locator("#id_policies-0-actions").fill('["search", "view_event", "view_timeline", "replay_state"]')
        page.locator("#id_policies-0-conditions").fill(f'[{{"attr": "tenant", "op": "eq", "value": "{SHOP}"}}]')
        shot(page, "admin-add-role")
        page.locator("input[name='_save']").click()
        expect(page.locator(".errornote")).to_have_count(0)
        expect(page.locator("ul.messagelist li.success")).to_contain_text(role_name)
        expect(page.locator("#result_list")).to_contain_text(role_name)

        # The next request of the hospital's auditor already has the role.
        response = hospital.goto(timeline_url)
        assert response.status == 200
        expect(hospital.locator("h1")).to_have_text(aggregate)
        expect(hospital.locator("li.portal-entry").first).to_be_visible()
        assert hospital.goto(event_url).status == 200
        expect(meta_value(hospital, "Tenant")).to_have_text(SHOP)
        shot(hospital, "role-grants-shop-event-to-hospital-auditor")

        # Deleting the role takes the access away again.
        page.locator("#result_list").get_by_role("link", name=role_name, exact=True).click()
        page.get_by_role("link", name="Delete").click()
        page.get_by_role("button", name=re.compile(r"Yes, I.m sure")).click()
        expect(page.locator("ul.messagelist li.success")).to_contain_text("deleted successfully")
        assert hospital.goto(timeline_url).status == 404
        assert hospital.goto(event_url).status == 404
    finally:
        # Leave no grant behind for the session's other tests, whatever happened above.
        portal_server.manage(
            "shell", "-c",
            f"from portal.access.models import Role; Role.objects.filter(name={role_name!r}).delete()",
        )
