"""The demo's people: who triages alerts."""

import pytest
from django.contrib.auth import get_user_model

from portal.access.access_file import import_document
from portal.access.demo import DEMO_USERS, demo_access_document, grant_demo_groups
from portal.alerts import may_change_alerts

pytestmark = pytest.mark.django_db


def test_the_compliance_officer_triages_alerts_and_auditors_only_read_them():
    import_document(demo_access_document({name: "x-unused-Password-1" for name in DEMO_USERS}), actor="test")
    grant_demo_groups()
    grant_demo_groups()  # a second `make run` changes nothing
    users = get_user_model().objects.filter(username__in=DEMO_USERS)
    assert {u.username for u in users if may_change_alerts(u)} == {"compliance"}
    assert get_user_model().objects.get(username="compliance").has_perm("audit_events.view_alert")
