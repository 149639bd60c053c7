"""Break-glass: policy-gated, justified, bounded, self-expiring, audited and notified."""

import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.utils import timezone

from audit_events.models import StoredEvent
from portal.access.breakglass import BreakGlassError, break_glass_decide, break_glass_request, break_glass_revoke
from portal.access.models import BreakGlassGrant
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db

MAY_BREAK_GLASS = [
    {"effect": "allow", "actions": ["break_glass"], "conditions": [{"attr": "tenant", "op": "eq", "value": "acme"}]},
]
JUSTIFICATION = "Patient unconscious in A&E, allergy history needed now"


@pytest.fixture
def admin_user(db):
    return get_user_model().objects.create_superuser("root", "root@example.com", "x-unused-Password-1")


@pytest.fixture
def doctor(make_person):
    return make_person("doctor", tenants=[], pii=False, policies=MAY_BREAK_GLASS)


def audit(kind):
    return [json.loads(r) for r in StoredEvent.objects.filter(tenant="_portal", event_type=kind)
            .order_by("position").values_list("record", flat=True)]


def test_without_break_glass_the_doctor_sees_nothing(doctor, as_user_api, events):
    assert as_user_api(doctor).get(f"/api/v1/events/{events['acme'][0].event_id}").status_code == 404


def test_activation_opens_the_tenant_with_personal_data_and_flags_every_read(
    doctor, admin_user, as_user_api, events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # notified once committed
        grant = break_glass_request(user=doctor, tenant="acme", justification=JUSTIFICATION, minutes=30)
    assert grant.state == "active" and grant.expires_at - grant.starts_at == timedelta(minutes=30)
    (activated,) = audit("BreakGlassActivated")
    assert activated["payload"]["break_glass"] is True
    assert any("activated" in m.subject for m in mail.outbox) and mail.outbox[0].to == ["root@example.com"]

    api = as_user_api(doctor)
    body = api.get(f"/api/v1/events/{events['acme'][0].event_id}").json()
    assert body["payload"]["holder"]["name"] == "Ann Secret-Name"  # emergency access includes it
    assert api.get(f"/api/v1/events/{events['globex'][0].event_id}").status_code == 404  # other tenant
    (viewed,) = audit("EventViewed")
    assert viewed["payload"]["break_glass"] is True
    assert any("Read under break-glass" in m.subject for m in mail.outbox)


def test_grant_expires_by_itself(doctor, as_user_api, events):
    grant = break_glass_request(user=doctor, tenant="acme", justification=JUSTIFICATION, minutes=5)
    BreakGlassGrant.objects.filter(pk=grant.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    grant.refresh_from_db()
    assert grant.state == "expired"
    assert as_user_api(doctor).get(f"/api/v1/events/{events['acme'][0].event_id}").status_code == 404


def test_aggregate_scoped_grant(doctor, as_user_api, events):
    break_glass_request(user=doctor, tenant="acme", aggregate_type="Account", aggregate_id="other",
                        justification=JUSTIFICATION, minutes=5)
    assert as_user_api(doctor).get(f"/api/v1/events/{events['acme'][0].event_id}").status_code == 404


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"tenant": "globex"}, "no policy allows"),
        ({"justification": "because"}, "at least 20 characters"),
        ({"minutes": 0}, "between 1 and 240"),
        ({"minutes": 241}, "between 1 and 240"),
        ({"tenant": "_portal"}, "cannot be opened"),
        ({"aggregate_type": "Account"}, "both aggregate_type and aggregate_id"),
    ],
)
def test_refusals(doctor, kwargs, message):
    arguments = {"tenant": "acme", "justification": JUSTIFICATION, "minutes": 30, **kwargs}
    with pytest.raises(BreakGlassError, match=message):
        break_glass_request(user=doctor, **arguments)
    assert not BreakGlassGrant.objects.exists()


def test_second_person_approval(doctor, admin_user, make_person, as_user_api, events, settings):
    settings.AUDIT_BREAK_GLASS_APPROVAL = True
    grant = break_glass_request(user=doctor, tenant="acme", justification=JUSTIFICATION, minutes=30)
    assert grant.state == "pending"
    assert as_user_api(doctor).get(f"/api/v1/events/{events['acme'][0].event_id}").status_code == 404
    with pytest.raises(BreakGlassError, match="second person"):
        break_glass_decide(grant=grant, approver=doctor, approve=True)
    bystander = make_person("bystander", tenants=["acme"])
    with pytest.raises(BreakGlassError, match="may not manage access"):
        break_glass_decide(grant=grant, approver=bystander, approve=True)
    break_glass_decide(grant=grant, approver=admin_user, approve=True)
    assert grant.state == "active"
    (activated,) = audit("BreakGlassActivated")
    assert activated["payload"]["details"]["approved_by"] == "root"
    assert as_user_api(doctor).get(f"/api/v1/events/{events['acme'][0].event_id}").status_code == 200


def test_revoke_ends_access(doctor, as_user_api, events):
    grant = break_glass_request(user=doctor, tenant="acme", justification=JUSTIFICATION, minutes=30)
    break_glass_revoke(grant=grant, by=doctor)
    assert as_user_api(doctor).get(f"/api/v1/events/{events['acme'][0].event_id}").status_code == 404
    assert audit("BreakGlassRevoked")


@pytest.fixture
def as_user_api(client, token_for):
    def api(user):
        return ApiClient(client, token_for(user))

    return api


def test_request_and_approve_in_the_admin(client, doctor, admin_user, events, settings):
    settings.AUDIT_BREAK_GLASS_APPROVAL = True
    doctor.is_staff = True
    doctor.save()
    client.force_login(doctor)
    response = client.post("/admin/access/breakglassgrant/add/", {
        "tenant": "acme", "aggregate_type": "", "aggregate_id": "", "justification": JUSTIFICATION, "minutes": 30})
    assert response.status_code == 302
    grant = BreakGlassGrant.objects.get()
    assert grant.state == "pending" and grant.user == doctor
    refused = client.post("/admin/access/breakglassgrant/add/", {
        "tenant": "globex", "aggregate_type": "", "aggregate_id": "", "justification": JUSTIFICATION, "minutes": 30},
        follow=True)
    assert "no policy allows" in refused.content.decode()
    client.force_login(admin_user)
    client.post("/admin/access/breakglassgrant/", {"action": "approve", "_selected_action": [grant.pk]})
    grant.refresh_from_db()
    assert grant.state == "active" and grant.decided_by == admin_user


def test_break_glass_through_the_api(client, doctor, token_for, events):
    api = ApiClient(client, token_for(doctor))
    refused = api.post("/api/v1/break-glass", {"tenant": "globex", "justification": JUSTIFICATION, "minutes": 10})
    assert refused.status_code == 403 and "no policy allows" in refused.json()["detail"]
    short = api.post("/api/v1/break-glass", {"tenant": "acme", "justification": "x", "minutes": 10})
    assert short.status_code == 422 and short.json()["detail"].startswith("justification")
    created = api.post("/api/v1/break-glass", {"tenant": "acme", "justification": JUSTIFICATION, "minutes": 10})
    assert created.status_code == 201 and created.json()["status"] == "active"
    assert api.get(f"/api/v1/events/{events['acme'][0].event_id}").status_code == 200
    assert [g["id"] for g in api.get("/api/v1/break-glass").json()["results"]] == [created.json()["id"]]


def test_policies_bound_what_a_grant_opens(make_person, as_user_api, events):
    doctor = make_person("doctor", tenants=[], pii=False, policies=MAY_BREAK_GLASS + [
        {"effect": "deny", "actions": ["break_glass"],
         "conditions": [{"attr": "classification", "op": "eq", "value": "restricted"}]},
    ])
    break_glass_request(user=doctor, tenant="acme", justification=JUSTIFICATION, minutes=30)
    api = as_user_api(doctor)
    assert api.get(f"/api/v1/events/{events['acme'][0].event_id}").status_code == 200
    assert api.get(f"/api/v1/events/{events['acme'][1].event_id}").status_code == 404  # restricted
    page = api.get("/api/v1/aggregates/acme/Account/acc-1/events").json()
    assert [e["sequence"] for e in page["events"]] == [1]


def test_personal_data_shown_only_by_a_grant_is_flagged(make_person, as_user_api, events):
    reader = make_person("reader", tenants=["acme"], pii=False, policies=[
        {"effect": "allow", "actions": ["view_event", "view_pii"], "conditions": []}] + MAY_BREAK_GLASS)
    break_glass_request(user=reader, tenant="acme", justification=JUSTIFICATION, minutes=30)
    body = as_user_api(reader).get(f"/api/v1/events/{events['acme'][0].event_id}").json()
    assert body["payload"]["holder"]["name"] == "Ann Secret-Name"
    assert audit("EventViewed")[-1]["payload"]["break_glass"] is True
