"""Searching the audit trail and opening an event, as an auditor would in a browser."""

import re

from playwright.sync_api import expect

from .pages import BANK, EVENT_URL, HEX64, meta_value, query_params, result_rows

FACET = re.compile(r"^(?P<value>\S+) \((?P<count>[\d,]+)\)$")


def test_a_word_and_a_facet_narrow_the_search_and_the_url_can_be_shared(page, context, sign_in, shot):
    sign_in(page, "auditor-bank")
    # The dashboard lists the audit views as an "Audit trail" section, like the sidebar.
    page.locator(".app-audit").get_by_role("link", name="Search events").click()
    expect(page).to_have_url(re.compile(r"/admin/audit/search/$"))
    sidebar = page.locator("#nav-sidebar .app-audit")
    expect(sidebar.locator("caption")).to_have_text("Audit trail")
    expect(sidebar.get_by_role("link", name="Search events")).to_have_attribute("aria-current", "page")

    page.locator("#searchbar").fill("account")
    page.locator("#searchbar").press("Enter")
    expect(page).to_have_url(re.compile(r"[?&]q=account(&|$)"))
    assert result_rows(page), "searching 'account' as the bank's auditor found nothing"

    # A facet of the right-hand Filter panel, under "By event type".
    by_type = page.locator("#changelist-filter details[data-filter-title='event type']")
    expect(by_type.locator("summary")).to_have_text("By event type")
    facet = by_type.locator("li:not(.selected) a").first
    label = FACET.match(facet.inner_text().strip())
    assert label, f"a facet reads 'value (count)', not {facet.inner_text()!r}"
    event_type, count = label["value"], int(label["count"].replace(",", ""))
    facet.click()

    expect(page).to_have_url(re.compile(rf"[?&]event_type={event_type}(&|$)"))
    assert query_params(page.url)["q"] == "account", "choosing a facet kept the words"
    selected = by_type.locator("li.selected a")
    expect(selected).to_have_count(1)
    expect(selected).to_have_text(re.compile(rf"^{event_type}\b"))
    expect(selected).to_have_attribute("aria-current", "true")
    expect(page.locator(".portal-summary strong")).to_have_text(f"{count:,}")
    first_page = result_rows(page)
    assert first_page, "the facet's own results are empty"
    assert {row["Event"] for row in first_page} == {event_type}
    assert {row["Tenant"] for row in first_page} == {BANK}
    shot(page, "search-word-and-event-type-facet")

    # The URL is the whole search: opened afresh, it shows the same results.
    shared_url = page.url
    fresh = context.new_page()
    fresh.goto(shared_url)
    assert result_rows(fresh) == first_page
    expect(fresh.locator("#searchbar")).to_have_value("account")
    expect(fresh.locator("#changelist-filter details[data-filter-title='event type'] li.selected a")).to_have_text(
        re.compile(rf"^{event_type}\b"))
    fresh.close()

    # Cursor pagination: the next page holds other rows of the same search.
    next_link = page.locator("a.portal-next")
    if count <= len(first_page):
        expect(next_link).to_have_count(0)
        return
    expect(next_link).to_have_text(re.compile(r"Next page"))
    next_link.click()
    expect(page).to_have_url(re.compile(r"[?&]cursor="))
    second_page = result_rows(page)
    assert second_page, "the next page is empty"
    assert not {row["url"] for row in second_page} & {row["url"] for row in first_page}
    assert {row["Event"] for row in second_page} == {event_type}
    assert query_params(page.url)["event_type"] == event_type
    expect(page.get_by_role("link", name="First page")).to_be_visible()
    shot(page, "search-next-page")


def test_an_event_page_shows_metadata_payload_hash_chain_and_related_views(page, sign_in, shot):
    sign_in(page, "auditor-bank")
    page.goto(f"/admin/audit/search/?tenant={BANK}&aggregate_type=Account")
    row = page.locator("#result_list tbody tr").first
    event_type = row.locator("td[data-label='Event']").inner_text().strip()
    actor = row.locator("td[data-label='Actor']").inner_text().strip()
    aggregate = row.locator("td[data-label='Aggregate'] a").inner_text().strip()
    row.locator("td[data-label='Event'] a").click()

    expect(page).to_have_url(EVENT_URL)
    event_id = EVENT_URL.search(page.url).group(1)
    expect(page.locator("h1")).to_contain_text(f"{event_type} · {aggregate} #")
    expect(meta_value(page, "Event id")).to_have_text(event_id)
    expect(meta_value(page, "Event type")).to_contain_text(event_type)
    expect(meta_value(page, "Tenant")).to_have_text(BANK)
    expect(meta_value(page, "Actor")).to_contain_text(actor)
    expect(meta_value(page, "Occurred (business time)").locator("time")).to_have_count(1)
    stored_hash = meta_value(page, "Hash").inner_text().strip()
    previous_hash = meta_value(page, "Previous hash").inner_text().strip()
    assert HEX64.match(stored_hash), stored_hash
    assert HEX64.match(previous_hash), previous_hash
    assert stored_hash != previous_hash
    expect(meta_value(page, "This link").locator(".portal-badge.portal-ok")).to_have_text("✓ verified")
    expect(meta_value(page, "Tenant's chains").locator(".portal-badge.portal-ok")).to_have_text("✓ verified")

    # The payload as a tree; the bank's auditor may see its personal data.
    payload = page.locator(".portal-payload > ul.portal-tree")
    expect(payload).to_be_visible()
    assert payload.locator(":scope > li > .portal-key").count() >= 1
    expect(page.locator(".portal-payload .portal-masked")).to_have_count(0)
    shot(page, "event-page")

    # Related views.
    timeline_link = page.get_by_role("link", name="Timeline at this event")
    expect(timeline_link).to_be_visible()
    page.get_by_role("link", name="Actor's activity").click()
    expect(page).to_have_url(re.compile(rf"/admin/audit/actors/{re.escape(actor)}/$"))
    expect(page.locator("h1")).to_have_text(f"Activity of {actor}")
    rows = result_rows(page)
    assert rows and {r["Actor"] for r in rows} == {actor}
    shot(page, "actor-activity")

    page.go_back()
    expect(page).to_have_url(EVENT_URL)
    page.get_by_role("link", name="Timeline at this event").click()
    sequence = int(query_params(page.url)["sequence"])
    expect(page.locator(f"li#seq-{sequence}")).to_have_class(re.compile(r"\bportal-current\b"))
    expect(page.locator("#seq-slider")).to_have_value(str(sequence))
