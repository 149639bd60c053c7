"""The aggregate timeline: its entries and diffs, the chain badge, and the time control
(slider by event, moment on business or recorded time) that replays the state."""

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from .pages import BANK_ACCOUNT, query_params, state_api_path, timeline_path

NEW_YORK = ZoneInfo("America/New_York")
STATE_META = re.compile(r"^After event #(?P<sequence>\d+), as of (?P<when>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+)\.$")
TOP_KEYS = "els => els.map(e => e.textContent)"


def open_timeline(page, sign_in, username="auditor-bank"):
    sign_in(page, username)
    page.goto(timeline_path(*BANK_ACCOUNT))
    head = int(page.locator("#seq-slider").get_attribute("max"))  # the latest event's number
    assert head >= 3, f"{'/'.join(BANK_ACCOUNT)} should have at least 3 events, has {head}"
    return head


def top_keys(page) -> list[str]:
    return page.locator("#state-tree > ul.portal-tree > li > .portal-key").evaluate_all(TOP_KEYS)


def test_the_timeline_lists_each_event_with_its_diff_under_a_verified_chain(page, sign_in, shot):
    head = open_timeline(page, sign_in)

    expect(page.locator("h1")).to_have_text(f"{BANK_ACCOUNT[1]} {BANK_ACCOUNT[2]}")
    expect(page.locator("#chain-badge")).to_have_text("✓ chain verified")
    expect(page.locator("#chain-badge")).to_have_class(re.compile(r"\bportal-ok\b"))
    entries = page.locator("li.portal-entry")
    expect(entries).to_have_count(head)
    for index in range(head):
        entry = entries.nth(index)
        expect(entry).to_have_id(f"seq-{index + 1}")
        expect(entry.locator(".portal-entry-head a").first).to_contain_text(f"#{index + 1} ")
        diff = entry.locator("table.portal-diff")
        expect(diff, f"entry #{index + 1} shows what it changed").to_have_count(1)
        assert diff.locator("tbody tr").count() >= 1
    # The first event adds the account's fields; later ones change some of them.
    expect(entries.first.locator("table.portal-diff tbody td[data-label='Change']").first).to_have_text("added")
    assert "changed" in entries.nth(1).locator("td[data-label='Change']").all_inner_texts()
    # By default the state panel shows the latest state.
    expect(page.locator("#state-sequence")).to_have_text(f"#{head}")
    expect(page.locator("#seq-slider")).to_have_value(str(head))
    expect(page.locator(f"li#seq-{head}")).to_have_class(re.compile(r"\bportal-current\b"))
    shot(page, "timeline")


def test_the_event_slider_replays_the_state_from_the_keyboard(page, sign_in, shot):
    head = open_timeline(page, sign_in)
    latest_tree = page.locator("#state-tree").inner_text()
    latest_keys = top_keys(page)
    expected = page.request.get(state_api_path(*BANK_ACCOUNT) + "?sequence=1")
    assert expected.ok, expected.text()
    expected_keys = list(expected.json()["state"])

    slider = page.locator("#seq-slider")
    slider.focus()
    page.keyboard.press("Home")
    page.keyboard.press("ArrowRight")

    expect(page).to_have_url(re.compile(r"[?&]sequence=1(&|$)"))
    expect(page.locator("#seq-output")).to_have_text(f"#1 of {head}")
    expect(page.locator("#state-tree")).not_to_have_text(latest_tree)
    assert top_keys(page) == expected_keys != latest_keys
    expect(page.locator("li#seq-1")).to_have_class(re.compile(r"\bportal-current\b"))
    expect(page.locator(f"li#seq-{head}")).not_to_have_class(re.compile(r"\bportal-current\b"))
    expect(page.locator("#state-meta")).to_contain_text("After event #1")
    shot(page, "timeline-slider-at-event-1")
    # The state panel keeps its structure when the script updates it.
    expect(page.locator("#state-sequence"), "#state-sequence is still there after the slider moved").to_have_count(1)
    expect(page.locator("#state-sequence")).to_have_text("#1")


@pytest.mark.browser_context_args(timezone_id="America/New_York")
def test_a_moment_on_business_or_recorded_time_replays_the_state(page, sign_in, shot):
    head = open_timeline(page, sign_in)
    occurred = [
        datetime.fromisoformat(page.locator(f"li#seq-{n} .portal-entry-head time").first.get_attribute("datetime"))
        for n in (2, 3)
    ]
    assert occurred[0] < occurred[1]
    moment = (occurred[0] + (occurred[1] - occurred[0]) / 2).replace(microsecond=0)
    moment_utc = moment.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")
    latest_tree = page.locator("#state-tree").inner_text()

    # The moment input takes the reader's local time (New York); the URL carries UTC.
    page.locator("#at-input").fill(moment.astimezone(NEW_YORK).strftime("%Y-%m-%dT%H:%M:%S"))
    page.locator("#time-select").select_option("occurred")
    page.get_by_role("button", name="Show state").click()

    expect(page.locator("#seq-output")).to_have_text(f"#2 of {head}")
    params = query_params(page.url)
    assert (params.get("at"), params.get("time")) == (moment_utc, "occurred")
    assert "sequence" not in params
    expect(page.locator("#state-tree")).not_to_have_text(latest_tree)
    expect(page.locator("li#seq-2")).to_have_class(re.compile(r"\bportal-current\b"))
    expect(page.locator("#state-meta")).to_contain_text("After event #2")
    expect(page.locator("#state-meta time")).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT"))
    business_meta = page.locator("#state-meta").inner_text().strip()
    business_time_title = page.locator("#state-meta time").get_attribute("title")
    shot(page, "timeline-moment-business-time")

    # On the recorded line the same moment comes before the demo was loaded: no event yet.
    page.locator("#time-select").select_option("recorded")
    page.get_by_role("button", name="Show state").click()
    expect(page.locator("#seq-output")).to_have_text(f"#0 of {head}")
    assert query_params(page.url).get("time") == "recorded"
    expect(page.locator("#state-meta")).to_contain_text("After event #0")

    # The state meta reads as the server renders it: "After event #2, as of <local time>."
    meta = STATE_META.match(business_meta)
    assert meta, f"the state meta after choosing a moment reads {business_meta!r}"
    assert meta["sequence"] == "2" and re.search(r" (EST|EDT|GMT-[45])$", meta["when"])
    # Like every other time of the portal, its title gives it in UTC ("... UTC").
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$", business_time_title), business_time_title
