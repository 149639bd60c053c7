"""The legal-holds report: every hold on the reader's tenants, placed and released."""

import pytest
from django.contrib.auth import get_user_model

from audit_events.privacy.holds import place_hold, release_hold
from tests.reports.test_reports import csv_rows, generated

pytestmark = pytest.mark.django_db


def hold(counsel, **fields):
    fields = {"tenant": "acme", "scope": "subject", "target": "pat-42", "reason": "Matter 2026-17: litigation",
              **fields}
    return place_hold(owner=counsel, placed_by=counsel, **fields)


def test_holds_are_reportable_within_the_readers_tenants(client, exporter, run_worker, history):
    counsel = get_user_model().objects.create_user("counsel", "counsel@example.com", "x-unused-Password-1")
    hold(counsel)
    released = hold(counsel, scope="tenant", target="")
    release_hold(hold_id=released.pk, released_by=counsel, reason="closed")
    hold(counsel, tenant="globex")
    exporter(pii=False)
    _, body = generated(client, run_worker, "legal_holds", "csv")
    rows = csv_rows(body)
    assert [(r["tenant"], r["scope"], r["status"]) for r in rows] == [("acme", "subject", "active"),
                                                                      ("acme", "tenant", "released")]
    assert rows[0]["target"] == rows[0]["reason"] == "(masked)" and rows[1]["released_by"] == "counsel"
    _, active = generated(client, run_worker, "legal_holds", "csv", status="active")
    assert len(csv_rows(active)) == 1
