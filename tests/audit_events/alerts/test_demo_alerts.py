"""Done when: the demo data of ``make run`` raises at least one alert of each built-in rule,
and each is in the inbox."""

import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from audit_events.models import Alert, AlertRule

pytestmark = pytest.mark.django_db


def test_make_runs_demo_raises_every_built_in_rule_and_the_inbox_lists_them(settings, tmp_path, client):
    settings.VAR_DIR = tmp_path
    call_command("bootstrap_demo", "--events", "5000", stdout=StringIO())  # make run's DEMO_EVENTS
    call_command("run_projector", "--once", stdout=StringIO())  # as make run's projector does
    builtin = list(AlertRule.objects.filter(builtin=True).order_by("name"))
    raised = {rule.name: Alert.objects.filter(rule=rule).count() for rule in builtin}
    assert len(raised) == 6 and all(raised.values()), raised

    client.force_login(get_user_model().objects.get(username="compliance"))  # the demo's alert triager
    shown = set()
    for rule in builtin:
        page = client.get(reverse("admin:audit_alerts"), {"rule": rule.name}).content.decode()
        if re.search(rf"/admin/audit/alerts/\d+/", page) and rule.name in page:
            shown.add(rule.name)
    assert shown == {rule.name for rule in builtin}
