"""Access administration in the admin: roles, policies, tokens, the simulator, and their audit."""

import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from audit_events.models import StoredEvent
from portal.access.models import Role, UserToken
from portal.access.selectors import subject_for
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db


def role_form(name, policies):
    data = {
        "name": name, "description": "", "members": [],
        "policies-TOTAL_FORMS": str(len(policies)), "policies-INITIAL_FORMS": "0",
        "policies-MIN_NUM_FORMS": "0", "policies-MAX_NUM_FORMS": "1000",
    }
    for i, policy in enumerate(policies):
        data.update({
            f"policies-{i}-effect": policy["effect"],
            f"policies-{i}-actions": json.dumps(policy["actions"]),
            f"policies-{i}-conditions": json.dumps(policy.get("conditions", [])),
            f"policies-{i}-description": "",
        })
    return data


def access_changes():
    return [json.loads(r) for r in StoredEvent.objects.filter(tenant="_portal", event_type="AccessChanged")
            .order_by("position").values_list("record", flat=True)]


def test_admin_adds_a_role_and_it_takes_effect(admin_client, make_person):
    person = make_person("ann", tenants=["acme"], policies=[])
    response = admin_client.post(reverse("admin:access_role_add"), role_form("readers", [
        {"effect": "allow", "actions": ["view_event"], "conditions": [{"attr": "tenant", "op": "in", "value": "subject.tenants"}]},
    ]) | {"members": [person.pk]})
    assert response.status_code == 302, response.content[:2000]
    role = Role.objects.get(name="readers")
    assert role.policies.count() == 1
    subject = subject_for(person)
    assert any(p.actions == ["view_event"] for p in subject.policies)
    (change,) = [c for c in access_changes() if c["payload"]["target"]["model"] == "access.Role"]
    assert change["payload"]["details"]["action"] == "added" and change["actor"]["id"] == "user:admin"


def test_admin_refuses_an_invalid_policy_with_its_reason(admin_client):
    response = admin_client.post(reverse("admin:access_role_add"), role_form("bad", [
        {"effect": "allow", "actions": ["view_event"], "conditions": [{"attr": "tenant", "op": "lte", "value": "internal"}]},
    ]))
    assert response.status_code == 200
    assert "classification only" in response.content.decode()
    assert not Role.objects.filter(name="bad").exists()


def allow_everything(user):
    role = Role.objects.create(name=f"everything-{user.pk}")
    role.policies.create(effect="allow", actions=["*"], conditions=[])
    role.members.add(user)


def test_simulator_shows_decision_and_reasons(admin_client, admin_user, make_person, events):
    allow_everything(admin_user)
    person = make_person("ann", tenants=["acme"], clearance="confidential")
    url = reverse("admin:access_role_simulate")
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"user": person.pk, "event_id": events["acme"][1].event_id,
                                       "actions": ["view_event"]})
    text = response.content.decode()
    assert "denied" in text
    assert "classification lte subject.clearance (= &#x27;confidential&#x27;) is false" in text
    pasted = json.dumps({"tenant": "acme", "aggregate_type": "Account", "aggregate_id": "a", "event_type": "X",
                         "classification": "internal", "actor": {"id": "u", "type": "user"}})
    response = admin_client.post(url, {"user": person.pk, "event_json": pasted, "actions": ["view_event"]})
    assert "allowed by" in response.content.decode()
    assert StoredEvent.objects.filter(tenant="_portal", event_type="PolicySimulated").count() == 2


def test_simulator_needs_staff(client, make_person):
    person = make_person("ann")
    client.force_login(person)
    response = client.get(reverse("admin:access_role_simulate"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_people_create_their_own_tokens_and_see_only_theirs(client, make_person, events):
    person = make_person("ann", tenants=["acme"])
    person.is_staff = True
    person.save()
    other = make_person("bob")
    UserToken.objects.create(user=other, name="bob's", key_id="b0b0b0b0b0b0", secret_hash="0" * 64)
    client.force_login(person)
    response = client.post(reverse("admin:access_usertoken_add"), {"name": "my script"})
    assert response.status_code == 200 and "no-cache" in response["Cache-Control"]
    secret = re.search(r'value="(ut_[^"]+)"', response.content.decode()).group(1)
    listing = client.get(reverse("admin:access_usertoken_changelist")).content.decode()
    assert "my script" in listing and "bob&#x27;s" not in listing and "bob's" not in listing
    api = ApiClient(client, secret)
    assert api.get(f"/api/v1/events/{events['acme'][0].event_id}").status_code == 200
    token = UserToken.objects.get(name="my script")
    client.post(reverse("admin:access_usertoken_changelist"), {"action": "revoke", "_selected_action": [token.pk]})
    client.logout()
    assert ApiClient(client, secret).get(f"/api/v1/events/{events['acme'][0].event_id}").status_code == 401
    actions = [c["payload"]["details"]["action"] for c in access_changes()]
    assert "added" in actions and "revoked" in actions


def test_user_admin_shows_attributes(admin_client, make_person):
    make_person("ann", tenants=["acme"], clearance="internal")
    page = admin_client.get(reverse("admin:auth_user_changelist")).content.decode()
    assert "acme" in page and "internal" in page


def test_admin_event_pages_follow_the_policies_and_mask(client, make_person, events):
    reader = make_person("reader", tenants=["acme"], clearance="confidential", pii=False)
    reader.is_staff = True
    reader.save()
    client.force_login(reader)
    listing = client.get(reverse("admin:audit_events_storedevent_changelist"))
    assert listing.status_code == 200
    text = listing.content.decode()
    assert "acc-1" in text and "g-1" not in text  # globex is out of scope
    visible = StoredEvent.objects.get(event_id=events["acme"][0].event_id)
    restricted = StoredEvent.objects.get(event_id=events["acme"][1].event_id)
    other = StoredEvent.objects.get(event_id=events["globex"][0].event_id)
    detail = client.get(reverse("admin:audit_events_storedevent_change", args=[visible.pk]))
    assert detail.status_code == 200
    assert b"Secret-Name" not in detail.content and b"masked" in detail.content
    for hidden in (restricted, other):
        response = client.get(reverse("admin:audit_events_storedevent_change", args=[hidden.pk]))
        assert response.status_code in (302, 404)
        assert b"Gus" not in response.content
    kinds = set(StoredEvent.objects.filter(tenant="_portal").values_list("event_type", flat=True))
    assert {"SearchPerformed", "EventViewed"} <= kinds


def test_latest_states_are_for_superusers_only(client, make_person):
    reader = make_person("reader", tenants=["acme"])
    reader.is_staff = True
    reader.save()
    client.force_login(reader)
    assert client.get(reverse("admin:audit_events_aggregatestate_changelist")).status_code == 403


def test_simulator_does_not_echo_events_the_operator_cannot_view(admin_client, make_person, events):
    person = make_person("ann", tenants=["acme"])
    response = admin_client.post(reverse("admin:access_role_simulate"), {
        "user": person.pk, "event_id": events["globex"][0].event_id, "actions": ["view_event"]})
    text = response.content.decode()
    assert "No stored event you may view has this id" in text and "globex" not in text


def test_access_administration_needs_manage_access(client, make_person):
    clerk = make_person("clerk", tenants=["acme"])
    clerk.is_staff = True
    clerk.save()
    from django.contrib.auth.models import Permission

    clerk.user_permissions.add(*Permission.objects.filter(codename__in=[
        "view_role", "change_role", "add_role", "view_user", "change_user"]))
    client.force_login(clerk)
    assert client.get(reverse("admin:access_role_changelist")).status_code == 403
    assert client.get(reverse("admin:auth_user_change", args=[clerk.pk])).status_code == 403
    role = Role.objects.create(name="portal-admins")
    role.policies.create(effect="allow", actions=["manage_access"],
                         conditions=[{"attr": "tenant", "op": "eq", "value": "_portal"}])
    role.members.add(clerk)
    assert client.get(reverse("admin:access_role_changelist")).status_code == 200
    own = client.get(reverse("admin:auth_user_change", args=[clerk.pk]))
    assert own.status_code == 200 and b'name="is_superuser"' not in own.content  # read-only, not editable
    response = client.post(reverse("admin:auth_user_change", args=[clerk.pk]), {"username": "clerk"})
    assert response.status_code == 403  # nobody raises their own access
