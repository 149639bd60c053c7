"""Fixtures shared by the whole suite."""

import itertools
import json

import pytest

_counter = itertools.count(1)


def event_dict(**overrides) -> dict:
    """A valid ingest event; keyword arguments replace fields (``None`` removes one)."""
    event = {
        "tenant": "acme",
        "aggregate_type": "Account",
        "aggregate_id": "acc-1",
        "event_type": "AccountUpdated",
        "occurred_at": "2026-11-20T09:30:00.250000+01:00",
        "actor": {"id": "u-jsmith", "type": "user", "ip": "192.0.2.10", "user_agent": "Mozilla/5.0"},
        "classification": "confidential",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "pii": ["/holder/name"],
        "payload": {"holder": {"name": "Ann Example"}, "balance_cents": 125000, "note": "Grüße ✓"},
    }
    for key, value in overrides.items():
        if value is None:
            event.pop(key, None)
        else:
            event[key] = value
    return event


@pytest.fixture
def make_event():
    return event_dict


@pytest.fixture
def publisher(db):
    """A publisher key for tenants acme and globex: ``(key, secret)``."""
    from audit_events.services import publisher_key_create

    return publisher_key_create(name=f"publisher-{next(_counter)}", tenants=["acme", "globex"])


class ApiClient:
    """Django's test client speaking JSON with a bearer token."""

    def __init__(self, client, token=None):
        self.client = client
        self.token = token

    def _headers(self, token):
        token = self.token if token is ... else token
        return {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}

    def post(self, path, body, token=..., **extra):
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return self.client.post(
            path, data, content_type="application/json", **self._headers(token), **extra
        )

    def get(self, path, token=..., **extra):
        return self.client.get(path, **self._headers(token), **extra)


@pytest.fixture
def api(client, publisher):
    return ApiClient(client, publisher[1])
