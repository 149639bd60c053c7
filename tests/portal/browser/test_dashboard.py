"""The dashboard (the admin's index) and the tenant switcher."""

import re

from playwright.sync_api import expect

from .pages import BANK, HOSPITAL, SHOP, query_params, result_rows


def test_the_dashboard_shows_activity_top_lists_and_verified_tenants(page, sign_in, shot):
    sign_in(page, "compliance")

    activity = page.locator("#activity-heading")
    expect(activity).to_contain_text("Activity since")
    expect(activity.locator("time")).to_have_count(1)
    expect(page.locator(".portal-summary strong").first).to_have_text(re.compile(r"^[\d,]+$"))
    chart = page.locator(".portal-chart svg")
    expect(chart).to_be_visible()
    expect(chart).to_have_attribute("aria-label", "Events per day")
    assert chart.locator("rect").count() >= 7, "30 days of demo events give a bar per active day"

    for heading, label in (("#types-heading", "Top event types"), ("#actors-heading", "Top actors")):
        expect(page.locator(heading)).to_have_text(label)
        rows = page.locator(f"section[aria-labelledby='{heading[1:]}'] tbody tr")
        assert rows.count() >= 3, f"{label} lists several entries"
        expect(rows.first.locator("td").first.locator("a")).to_have_attribute("href", re.compile(r"^/admin/audit/"))

    expect(page.locator("#health-heading")).to_contain_text("chain verification")
    tenants = page.locator("section[aria-labelledby='health-heading'] table").first.locator("tbody tr")
    names = tenants.locator("td[data-label='Tenant']").all_inner_texts()
    assert {BANK, HOSPITAL, SHOP} <= set(names), names
    for name in (BANK, HOSPITAL, SHOP):
        row = tenants.filter(has=page.locator(f"td[data-label='Tenant'] a:text-is('{name}')"))
        expect(row.locator("td[data-label='Hash chains'] .portal-badge")).to_have_text("✓ verified")
    shot(page, "dashboard")


def test_the_tenant_switcher_narrows_the_dashboard_and_the_search(page, sign_in, shot):
    sign_in(page, "compliance")
    switcher = page.locator("#tenant-switcher select")
    expect(switcher).to_have_value("")
    switcher.select_option(SHOP)
    page.locator("#tenant-switcher").get_by_role("button", name="Switch").click()

    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.locator("#tenant-switcher select")).to_have_value(SHOP)
    expect(page.locator("#activity-heading")).to_contain_text(f"· {SHOP}")
    expect(page.locator("section[aria-labelledby='health-heading'] table").first.locator(
        "td[data-label='Tenant']")).to_have_text([SHOP])
    shot(page, "dashboard-one-tenant")

    page.locator(".app-audit").get_by_role("link", name="Search events").click()
    expect(page).to_have_url(re.compile(rf"/admin/audit/search/\?(.*&)?tenant={SHOP}(&|$)"))
    assert query_params(page.url)["tenant"] == SHOP
    rows = result_rows(page)
    assert rows and {row["Tenant"] for row in rows} == {SHOP}
    selected = page.locator("#changelist-filter details[data-filter-title='tenant'] li.selected a")
    expect(selected).to_have_text(re.compile(rf"^{SHOP}\b"))

    # Back to all of one's tenants.
    page.locator("#tenant-switcher select").select_option("")
    page.locator("#tenant-switcher").get_by_role("button", name="Switch").click()
    expect(page.locator("#tenant-switcher select")).to_have_value("")
