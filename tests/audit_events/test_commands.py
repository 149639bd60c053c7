"""Management commands: create_api_key, seed_demo, bootstrap_demo, verify_chain."""

import json
from datetime import datetime, timezone
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from audit_events.models import PublisherKey, StoredEvent
from portal.access.demo import DEMO_USERS
from tests.conftest import ApiClient, event_dict

pytestmark = pytest.mark.django_db


def run(*args, **kwargs) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err, **kwargs)
    return out.getvalue(), err.getvalue()


def test_create_api_key_prints_only_the_secret(client):
    out, err = run("create_api_key", "billing", "--tenant", "acme", "--tenant", "globex")
    secret = out.strip()
    assert "\n" not in secret and secret.startswith("ak_")
    assert "cannot be shown again" in err
    key = PublisherKey.objects.get(name="billing")
    assert key.tenants == ["acme", "globex"] and secret not in key.secret_hash
    api = ApiClient(client, secret)
    assert api.post("/api/v1/events", event_dict(tenant="globex")).status_code == 201


@pytest.mark.parametrize(
    "args, message",
    [
        (["k1", "--tenant", "_portal"], "reserved"),
        (["k1", "--tenant", "Bad Tenant"], "not a valid tenant name"),
    ],
)
def test_create_api_key_refuses_bad_tenants(args, message):
    with pytest.raises(CommandError, match=message):
        run("create_api_key", *args)
    assert not PublisherKey.objects.exists()


def test_create_api_key_refuses_a_taken_name():
    run("create_api_key", "k1", "--tenant", "acme")
    with pytest.raises(CommandError, match="exists already"):
        run("create_api_key", "k1", "--tenant", "acme")


UNTIL = "2026-11-01T00:00:00Z"


def test_seed_demo_is_reproducible_and_idempotent():
    out, _ = run("seed_demo", "--events", "600", "--seed", "7", "--until", UNTIL)
    assert out.strip() == "seeded 600 events (0 were stored already)"
    first = list(StoredEvent.objects.order_by("position").values_list("event_id", "hash"))
    out, _ = run("seed_demo", "--events", "600", "--seed", "7", "--until", UNTIL)
    assert out.strip() == "seeded 0 events (600 were stored already)"
    assert StoredEvent.objects.count() == 600
    tenants = set(StoredEvent.objects.values_list("tenant", flat=True))
    assert tenants == {"acme-bank", "st-marys-hospital", "northwind-shop"}
    hospital = StoredEvent.objects.filter(tenant="st-marys-hospital").first()
    assert json.loads(hospital.record)["pii"]  # personal data is marked
    assert max(StoredEvent.objects.values_list("occurred_at", flat=True)) <= datetime(2026, 11, 1, tzinfo=timezone.utc)
    out, _ = run("verify_chain")
    assert out.strip().startswith("verified 600 events in ")
    assert first == list(StoredEvent.objects.order_by("position").values_list("event_id", "hash"))


def test_seed_demo_bad_arguments():
    with pytest.raises(CommandError, match="--events"):
        run("seed_demo", "--events", "0")
    with pytest.raises(CommandError, match="--until"):
        run("seed_demo", "--events", "1", "--until", "soon")


def test_bootstrap_demo_sets_up_once(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    out, _ = run("bootstrap_demo", "--events", "300")
    credentials = json.loads((tmp_path / "demo_credentials.json").read_text())
    for name in DEMO_USERS:
        assert credentials[name] in out
        user = get_user_model().objects.get(username=name)
        assert user.check_password(credentials[name]) and user.access_roles.exists()
    assert get_user_model().objects.get(username="admin").is_superuser
    assert not get_user_model().objects.get(username="analyst").access_attributes.pii
    assert StoredEvent.objects.exclude(tenant="_portal").count() == 300
    assert (tmp_path / "demo_credentials.json").stat().st_mode & 0o077 == 0
    out, _ = run("bootstrap_demo", "--events", "300")  # a second `make run`
    assert StoredEvent.objects.exclude(tenant="_portal").count() == 300
    assert credentials["auditor-bank"] in out


def test_verify_chain_ok_output():
    out, _ = run("verify_chain")
    assert out.strip() == "verified 0 events in 0 aggregates"
    with pytest.raises(CommandError, match="TYPE:ID"):
        run("verify_chain", "--aggregate", "nocolon")
