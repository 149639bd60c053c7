"""Habits of a good web page: keyboard access with a visible focus, narrow screens,
and times shown in the reader's own time zone with UTC at hand."""

from datetime import datetime
import re
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from .pages import BANK_ACCOUNT, NEW_YORK_TEXT, entry_link, timeline_path

FOCUSED = """() => {
    const el = document.activeElement;
    const style = getComputedStyle(el);
    return {
        tag: el.tagName, id: el.id, text: (el.textContent || "").trim().slice(0, 40),
        inFilter: !!el.closest("#changelist-filter"), href: el.getAttribute("href"),
        outlineStyle: style.outlineStyle, outlineWidth: parseFloat(style.outlineWidth) || 0,
    };
}"""
MAX_TABS = 150


def test_the_keyboard_reaches_the_search_box_and_the_filters_with_a_visible_focus(page, sign_in, shot):
    sign_in(page, "auditor-bank")
    page.goto(f"/admin/audit/search/?q={BANK_ACCOUNT[2]}")  # a short result list
    expect(page.locator("#searchbar")).to_be_focused()  # autofocus
    # Start from the top of the page: a click on the header's empty corner.
    page.mouse.click(1, 1)
    expect(page.locator("#searchbar")).not_to_be_focused()

    visited = []
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        visited.append(focused)
        if focused["inFilter"] and focused["tag"] == "A":
            break
    ids = [f["id"] for f in visited]
    assert visited[0]["text"].endswith("Compliance portal"), f"Tab started below the header: {visited[0]}"
    assert "searchbar" in ids, f"Tab never reached the search box: {visited[:30]}"
    assert visited[-1]["inFilter"], f"Tab never reached the filter links within {MAX_TABS} presses"
    assert ids.index("searchbar") < len(visited) - 1
    assert visited[-1]["text"].startswith("All"), visited[-1]
    unmarked = [f for f in visited if f["outlineStyle"] == "none" or f["outlineWidth"] == 0]
    assert unmarked == [], f"focused without a visible outline: {unmarked}"
    shot(page, "keyboard-focus-on-a-filter-link")

    # Enter on a focused filter link follows it.
    page.keyboard.press("Tab")
    facet = page.evaluate(FOCUSED)
    assert facet["inFilter"] and facet["href"], facet
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(re.escape(facet["href"].split("?", 1)[1]) + "$"))


@pytest.mark.browser_context_args(viewport={"width": 375, "height": 800})
def test_on_a_narrow_screen_the_results_stack_without_sideways_scrolling(page, sign_in, shot):
    sign_in(page, "auditor-bank")
    page.goto("/admin/audit/search/")
    cell = page.locator("#result_list tbody tr").first.locator("td").first
    expect(cell).to_be_visible()
    assert cell.evaluate("td => getComputedStyle(td).display") == "block"
    assert page.locator("#result_list tbody tr").first.evaluate("tr => getComputedStyle(tr).display") == "block"
    # Each stacked cell says what it is.
    assert cell.evaluate("td => getComputedStyle(td, '::before').content") == '"Occurred: "'
    shot(page, "search-narrow-screen")
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1] + 1, f"the page scrolls sideways ({widths[0]} > {widths[1]}): {page.evaluate(SIDEWAYS)}"


#: the outermost elements that stick out on the right (their descendants left out)
SIDEWAYS = """() => {
    const out = e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1;
    return [...document.querySelectorAll('body *')].filter(e => out(e) && !out(e.parentElement))
    .slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
         (e.className && typeof e.className === 'string' ? '.' + e.className.split(' ').join('.') : '') +
         ' right=' + Math.round(e.getBoundingClientRect().right));
}"""


@pytest.mark.browser_context_args(viewport={"width": 375, "height": 800})
def test_on_a_narrow_screen_the_dashboard_fits_without_sideways_scrolling(page, sign_in, shot):
    sign_in(page, "compliance")
    cell = page.locator("section[aria-labelledby='health-heading'] tbody td").first
    assert cell.evaluate("td => getComputedStyle(td).display") == "block"
    shot(page, "dashboard-narrow-screen")
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1] + 1, f"the page scrolls sideways ({widths[0]} > {widths[1]}): {page.evaluate(SIDEWAYS)}"


@pytest.mark.browser_context_args(timezone_id="America/New_York")
def test_times_show_in_the_readers_time_zone_with_utc_on_hover(page, sign_in, shot):
    new_york = ZoneInfo("America/New_York")
    sign_in(page, "auditor-bank")
    page.goto(timeline_path(*BANK_ACCOUNT))
    event_url = entry_link(page, 1)
    for url in ("/admin/audit/search/", event_url, timeline_path(*BANK_ACCOUNT)):
        page.goto(url)
        times = page.locator("time").evaluate_all(
            "els => els.map(t => ({datetime: t.getAttribute('datetime'), title: t.title, text: t.textContent}))")
        assert len(times) >= 3, url
        for time in times:
            assert time["title"].endswith("UTC"), time
            assert NEW_YORK_TEXT.match(time["text"]), time
            when = datetime.fromisoformat(time["datetime"]).astimezone(new_york)
            assert time["text"].startswith(when.strftime("%Y-%m-%d %H:%M:%S ")), time
            assert time["text"].endswith(when.strftime(" %Z")), time
    visible = page.locator(".portal-entry-head time").first
    expect(visible).to_have_text(NEW_YORK_TEXT)
    shot(page, "times-in-new-york")
