"""The admin for publisher keys and the read-only event views."""

import re

import pytest
from django.urls import reverse

from audit_events.auth import authenticate_publisher
from audit_events.models import PublisherKey, StoredEvent
from audit_events.store import get_event_store
from portal.access.models import Policy, Role
from tests.audit_events.store.contracts import event

pytestmark = pytest.mark.django_db


def test_admin_creates_a_key_and_shows_its_secret_once(admin_client):
    response = admin_client.post(
        reverse("admin:audit_events_publisherkey_add"),
        {"name": "crm", "tenants": "acme, globex"},
    )
    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"]
    secret = re.search(r'value="(ak_[^"]+)"', response.content.decode()).group(1)
    assert "messages" not in response.cookies
    key = PublisherKey.objects.get(name="crm")
    assert key.tenants == ["acme", "globex"]
    assert authenticate_publisher(secret) == key
    change = admin_client.get(reverse("admin:audit_events_publisherkey_change", args=[key.pk]))
    assert secret not in change.content.decode()


@pytest.mark.parametrize("tenants, message", [("_portal", "reserved"), ("Not Valid", "not a valid tenant"), ("", "required")])
def test_admin_refuses_bad_tenants(admin_client, tenants, message):
    response = admin_client.post(reverse("admin:audit_events_publisherkey_add"), {"name": "crm", "tenants": tenants})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not PublisherKey.objects.exists()


def test_events_are_read_only_in_the_admin(admin_client, admin_user):
    # Even a superuser reads events through policies: give them one that allows all.
    role = Role.objects.create(name="everything")
    Policy.objects.create(role=role, effect="allow", actions=["*"], conditions=[])
    role.members.add(admin_user)
    get_event_store().append([event()])
    stored = StoredEvent.objects.get(tenant="acme")  # signing in is an audit event too
    assert admin_client.get(reverse("admin:audit_events_storedevent_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:audit_events_storedevent_add")).status_code == 403
    detail = admin_client.get(reverse("admin:audit_events_storedevent_change", args=[stored.pk]))
    assert detail.status_code == 200 and b"Save" not in detail.content
    assert admin_client.post(reverse("admin:audit_events_storedevent_delete", args=[stored.pk]), {"post": "yes"}).status_code == 403
