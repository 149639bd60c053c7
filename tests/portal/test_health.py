"""Liveness, readiness and metrics (portal.health) through Django's test client."""

import re
import socket

import pytest

from audit_events.projector import catch_up
from audit_events.search import get_search_index
from tests.conftest import event_dict

pytestmark = pytest.mark.django_db


def test_healthz_answers_anyone_with_no_detail(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_readyz_names_what_is_reachable(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "store": "ok", "search": "ok"}}


@pytest.fixture
def unreachable_search(settings):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.SEARCH_BACKEND, settings.OPENSEARCH_URL = "opensearch", f"http://127.0.0.1:{port}"
    get_search_index.cache_clear()
    yield
    get_search_index.cache_clear()


def test_readyz_is_503_naming_the_part_that_fails_but_not_why(client, unreachable_search):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "not ready", "checks": {"database": "ok", "store": "ok", "search": "failed"}}
    assert "127.0.0.1" not in response.content.decode()


def test_metrics_are_for_staff_or_the_scrape_token(client, make_person, settings):
    assert client.get("/metrics").status_code == 401
    client.force_login(make_person("not-staff"))
    assert client.get("/metrics").status_code == 401
    settings.METRICS_TOKEN = "scrape-" + "t" * 30
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {settings.METRICS_TOKEN}")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain; version=0.0.4")


def metric(text: str, name: str, labels: str = "") -> float:
    match = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.MULTILINE)
    assert match, f"{name}{labels} missing from:\n{text}"
    return float(match.group(1))


def test_metrics_count_ingest_appends_and_projection_lag(api, client, signed_in_staff):
    signed_in_staff("operator")
    before = client.get("/metrics").content.decode()
    created = metric(before, "audit_ingest_events_total", '{status="created"}') if 'status="created"' in before else 0
    appends = metric(before, "audit_append_seconds_count")
    assert api.post("/api/v1/events", {"events": [event_dict(aggregate_id="m1"), event_dict(aggregate_id="m2")]}
                    ).status_code == 201
    text = client.get("/metrics").content.decode()
    assert metric(text, "audit_ingest_events_total", '{status="created"}') == created + 2
    assert metric(text, "audit_append_seconds_count") == appends + 1
    assert metric(text, "audit_append_seconds_bucket", '{le="+Inf"}') == appends + 1
    stored = metric(text, "audit_events_stored_total")
    assert stored >= 2 and metric(text, "audit_projection_lag_events", '{projection="search"}') >= 2
    catch_up()
    text = client.get("/metrics").content.decode()
    assert metric(text, "audit_projection_lag_events", '{projection="search"}') == 0


def test_an_api_only_deployment_is_ready_without_a_search_backend(client, settings, unreachable_search):
    settings.PORTAL_API_ONLY = True  # the ingest stage: it never searches
    response = client.get("/readyz")
    assert response.status_code == 200 and response.json()["checks"] == {"database": "ok", "store": "ok"}


def test_metrics_refuse_staff_who_have_not_passed_the_second_factor(client, signed_in_staff, settings):
    settings.PORTAL_REQUIRE_TOTP = True
    signed_in_staff("unverified")
    assert client.get("/metrics").status_code == 401
