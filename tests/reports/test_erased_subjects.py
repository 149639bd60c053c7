"""After an erasure, reports and the portal's pages show the subject's personal data as erased
(the round trip's other surfaces are in tests/audit_events/privacy/test_erasure.py)."""

import re

import pytest
from django.core.management import call_command

from tests.reports.conftest import SECRET
from tests.reports.test_reports import csv_rows, generated, text_of

pytestmark = pytest.mark.django_db
ACCOUNT = {"tenant": "acme", "aggregate_type": "Account", "aggregate_id": "acc-1"}


@pytest.mark.parametrize("format", ["csv", "xlsx"])
def test_reports_and_pages_read_erased_after_the_key_is_destroyed(client, exporter, run_worker, history, format):
    exporter()
    _, before = generated(client, run_worker, "entity_history", format, **ACCOUNT)
    assert SECRET in text_of(format, before)
    timeline = "/admin/audit/timeline/acme/Account/acc-1/"
    assert SECRET in client.get(timeline).content.decode()

    call_command("erase_subject", "Account:acc-1", "--tenant", "acme", "--reason", "Art. 17 request R-7",
                 stdout=open("/dev/null", "w"))

    _, after = generated(client, run_worker, "entity_history", format, **ACCOUNT)
    text = text_of(format, after)
    assert SECRET not in text and re.search(r'erased"+: ?true', text)
    if format == "csv":
        assert len(csv_rows(after)) == 2  # every event still listed; only the value is gone
    page = client.get(timeline).content.decode()
    assert SECRET not in page and "portal-erased" in page
