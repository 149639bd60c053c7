"""The alerts inbox in the browser: the compliance officer opens the inbox, opens an alert,
follows its evidence to the aggregate's timeline, then acknowledges and resolves it."""

import json
import re
import textwrap
import uuid

import pytest
from playwright.sync_api import expect

from .pages import BANK_ACCOUNT, meta_value, timeline_path

ALERT_URL = re.compile(r"/admin/audit/alerts/(\d+)/$")

# Run in the server's database by `manage.py shell`: a rule and an alert of it whose evidence is
# the bank account's first two events (the demo's own alerts vary with its generated data).
MAKE_ALERT = textwrap.dedent("""
    import json
    from datetime import timedelta
    from audit_events.models import Alert, AlertRule
    from audit_events.schema import parse_timestamp
    from audit_events.store import get_event_store
    name, (tenant, aggregate_type, aggregate_id) = json.loads({args!r})
    events = get_event_store().read_aggregate(tenant, aggregate_type, aggregate_id, limit=2)
    keys = ("event_id", "tenant", "aggregate_type", "aggregate_id", "sequence", "event_type", "occurred_at")
    evidence = [{{key: e.record[key] for key in keys}} for e in events]
    start = parse_timestamp(evidence[0]["occurred_at"])
    rule = AlertRule.objects.create(name=name, severity="high", description="Made by the browser tests.",
        spec={{"kind": "threshold", "event_types": [evidence[0]["event_type"]], "count": 2, "window_seconds": 300,
              "group_by": "aggregate"}})
    key = "aggregate:" + "/".join((tenant, aggregate_type, aggregate_id))
    alert = Alert.objects.create(rule=rule, severity="high", tenant=tenant, group_key=key, window_start=start,
        window_end=start + timedelta(minutes=5), evidence=evidence, event_count=len(evidence),
        summary=f"{{len(evidence)}} events of {{key}}")
    print(alert.pk)
""")


@pytest.fixture
def test_alert(portal_server):
    """A rule named test-browser-… and an open alert of it, removed after the test."""
    name = f"test-browser-{uuid.uuid4().hex[:8]}"
    args = json.dumps([name, list(BANK_ACCOUNT)])
    made = portal_server.manage("shell", "-c", MAKE_ALERT.format(args=args))
    yield name, int(made.stdout.strip().splitlines()[-1])
    portal_server.manage("shell", "-c", (
        "from audit_events.models import Alert, AlertRule; "
        f"Alert.objects.filter(rule__name={name!r}).delete(); AlertRule.objects.filter(name={name!r}).delete()"))


def test_open_an_alert_follow_its_evidence_then_acknowledge_and_resolve_it(page, sign_in, shot, test_alert):
    rule_name, alert_id = test_alert
    sign_in(page, "compliance")

    # The dashboard counts open alerts and links to the inbox.
    expect(page.locator("#open-alerts")).to_contain_text("open alert")
    page.locator("#open-alerts").get_by_role("link", name="Open the inbox").click()
    expect(page.locator("h1")).to_have_text("Alerts")
    filters = page.locator("#changelist-filter")
    filters.locator("details[data-filter-title='rule']").get_by_role("link", name=rule_name, exact=True).click()
    rows = page.locator("#alert_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td[data-label='Status']")).to_have_text("open")
    expect(rows.first.locator("td[data-label='Key']")).to_have_text("aggregate:" + "/".join(BANK_ACCOUNT))
    shot(page, "alerts-inbox")

    rows.first.locator("td[data-label='Rule'] a").click()
    expect(page).to_have_url(ALERT_URL)
    assert int(ALERT_URL.search(page.url).group(1)) == alert_id
    expect(meta_value(page, "Name")).to_have_text(rule_name)
    expect(meta_value(page, "Kind")).to_have_text("threshold")
    evidence = page.locator("#evidence tbody tr")
    expect(evidence).to_have_count(2)
    shot(page, "alert-open")

    # The evidence leads to the aggregate's timeline, at the event.
    evidence.first.locator("a.portal-evidence-timeline").click()
    expect(page).to_have_url(re.compile(re.escape(timeline_path(*BANK_ACCOUNT)) + r"\?after=0#seq-1$"))
    expect(page.locator("h1")).to_have_text(f"{BANK_ACCOUNT[1]} {BANK_ACCOUNT[2]}")
    page.go_back()
    expect(page).to_have_url(ALERT_URL)

    page.get_by_role("button", name="Acknowledge").click()
    expect(page.locator("ul.messagelist li.success")).to_have_text(f"Alert #{alert_id} acknowledged.")
    expect(page.locator("#alert-status")).to_have_text("acknowledged")
    expect(meta_value(page, "Acknowledged")).to_contain_text("by compliance")
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)

    page.get_by_label("Resolution").fill("Expected: the browser test made it.")
    page.get_by_role("button", name="Resolve").click()
    expect(page.locator("ul.messagelist li.success")).to_have_text(f"Alert #{alert_id} resolved.")
    expect(page.locator("#alert-status")).to_have_text("resolved")
    expect(page.locator("#alert-resolution")).to_have_text("Expected: the browser test made it.")
    expect(page.locator("#alert-actions")).to_have_count(0)
    shot(page, "alert-resolved")
