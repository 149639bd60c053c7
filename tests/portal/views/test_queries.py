"""The frame and the page share one read of the person's access (it is several queries)."""

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse


def test_a_search_page_reads_the_persons_access_once(client, person, events):
    person("auditor", tenants=["acme", "globex"])
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("admin:audit_search"), {"tenant": "acme"}).status_code == 200
    attribute_reads = [q for q in queries.captured_queries if "access_subjectattributes" in q["sql"]]
    assert len(attribute_reads) == 1
