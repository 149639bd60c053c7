"""Legal holds: placed and released by named people (each an audit event), checked before any
erasure, managed in the admin, and reportable."""

import pytest
from django.contrib.auth import get_user_model

from audit_events.models import LegalHold
from audit_events.privacy.holds import LegalHoldError, check_not_held, holds_covering, place_hold, release_hold
from tests.conftest import audit_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def counsel():
    return get_user_model().objects.create_user("counsel", "counsel@example.com", "x-unused-Password-1")


def hold(counsel, **fields):
    fields = {"tenant": "acme", "scope": "subject", "target": "pat-42", "reason": "Matter 2026-17: litigation",
              **fields}
    return place_hold(owner=counsel, placed_by=counsel, **fields)


def test_placing_and_releasing_are_audit_events(counsel):
    placed = hold(counsel)
    released = release_hold(hold_id=placed.pk, released_by=counsel, reason="Matter 2026-17 closed")
    assert released.released_at is not None and not released.active
    placed_event, released_event = [r for r in audit_of("counsel") if r["event_type"].startswith("LegalHold")]
    assert placed_event["event_type"] == "LegalHoldPlaced" and released_event["event_type"] == "LegalHoldReleased"
    assert placed_event["payload"]["target"] == {"hold_id": placed.pk, "tenant": "acme", "scope": "subject",
                                                 "target": "pat-42"}
    assert placed_event["pii"] == ["/target/target", "/details/reason"]  # a subject's id is theirs
    with pytest.raises(LegalHoldError, match=f"hold #{placed.pk} was released already"):
        release_hold(hold_id=placed.pk, released_by=counsel, reason="again")


@pytest.mark.parametrize("fields, field", [
    ({"scope": "planet"}, "scope"),
    ({"scope": "aggregate", "target": "pat-42"}, "target"),
    ({"scope": "tenant", "target": "pat-42"}, "target"),
    ({"scope": "subject", "target": " "}, "target"),
    ({"reason": "  "}, "reason"),
])
def test_a_hold_that_says_too_little_is_refused_naming_the_field(counsel, fields, field):
    with pytest.raises(LegalHoldError) as refused:
        hold(counsel, **fields)
    assert refused.value.field == field and str(refused.value).startswith(f"{field}: ")
    assert not LegalHold.objects.exists()


def test_erasure_is_refused_under_any_hold_that_covers_the_subject(counsel):
    check_not_held(tenant="acme", subject="pat-42")  # nothing held yet
    on_subject = hold(counsel)
    with pytest.raises(LegalHoldError, match=rf"pat-42 of acme is under legal hold.*#{on_subject.pk} on pat-42 "
                                             r"\(owner counsel\)\. The hold's owner must release it first"):
        check_not_held(tenant="acme", subject="pat-42")
    check_not_held(tenant="globex", subject="pat-42")  # another tenant's subject of the same id
    release_hold(hold_id=on_subject.pk, released_by=counsel, reason="closed")
    check_not_held(tenant="acme", subject="pat-42")

    on_record = hold(counsel, scope="aggregate", target="Patient:pat-7")
    assert holds_covering(tenant="acme", subject="Patient:pat-7") == [on_record]  # the aggregate is the subject
    assert holds_covering(tenant="acme", subject="pat-9", aggregates=["Patient:pat-7"]) == [on_record]
    assert holds_covering(tenant="acme", subject="pat-9") == []
    on_tenant = hold(counsel, scope="tenant", target="")
    assert holds_covering(tenant="acme", subject="anyone") == [on_tenant]


def test_admins_place_and_release_holds_in_the_admin(client, counsel):
    admin = get_user_model().objects.create_superuser("ops", "ops@example.com", "x-unused-Password-1")
    client.force_login(admin)
    bad = client.post("/admin/audit_events/legalhold/add/", {"tenant": "acme", "scope": "aggregate",
                                                              "target": "nocolon", "reason": "x", "owner": counsel.pk})
    assert bad.status_code == 200 and "an aggregate is written TYPE:ID" in bad.content.decode()
    good = client.post("/admin/audit_events/legalhold/add/", {"tenant": "acme", "scope": "aggregate",
                                                               "target": "Patient:pat-7", "reason": "Subpoena 88",
                                                               "owner": counsel.pk})
    assert good.status_code == 302
    placed = LegalHold.objects.get()
    assert placed.placed_by == admin and placed.owner == counsel
    assert [r["event_type"] for r in audit_of("ops") if r["event_type"].startswith("LegalHold")] == ["LegalHoldPlaced"]
    change = f"/admin/audit_events/legalhold/{placed.pk}/change/"
    assert client.post(change, {"release_reason": " "}).status_code == 200  # a reason is needed
    assert client.post(change, {"release_reason": "Subpoena answered"}).status_code == 302
    placed.refresh_from_db()
    assert placed.released_by == admin and placed.release_reason == "Subpoena answered"
    assert client.get(f"/admin/audit_events/legalhold/{placed.pk}/delete/").status_code == 403


def test_a_hold_names_a_real_tenant_and_a_whole_target(counsel):
    with pytest.raises(LegalHoldError, match="tenant: name the tenant the hold is on, as events name it"):
        hold(counsel, tenant="Acme Bank")
    with pytest.raises(LegalHoldError, match="target: at most 300 characters"):
        hold(counsel, target="p" * 301)


_POSTGRES = ["postgres"] if "postgres" in __import__("django.conf").conf.settings.DATABASES else []


@pytest.mark.postgres
@pytest.mark.django_db(databases=_POSTGRES)
def test_on_postgresql_a_tenants_holds_and_erasures_take_turns():
    """The advisory lock an erasure and a hold placement take: held until the transaction ends,
    per tenant (SQLite needs none: it writes one transaction at a time)."""
    from django.db import connections, transaction

    from audit_events.privacy.holds import hold_lock_number, lock_holds
    from tests.audit_events.store.test_sql import require_postgres

    require_postgres()
    wrapper = connections["postgres"]
    other = wrapper.get_new_connection(wrapper.get_connection_params())
    other.autocommit = True
    try:
        def free(tenant):  # from another session
            return other.execute("SELECT pg_try_advisory_xact_lock(%s)", [hold_lock_number(tenant)]).fetchone()[0]

        with transaction.atomic(using="postgres"):
            assert free("acme")
            lock_holds("acme", using="postgres")
            assert not free("acme") and free("globex")
    finally:
        other.close()
