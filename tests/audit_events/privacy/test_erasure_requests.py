"""Erasure from the admin takes two people: one asks, a second approves (and only then is the
key destroyed), each step in the access audit; a hold, a missing key or a lack of rights is
refused with the field named, and the person who asked can never approve alone."""

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.test import Client

from audit_events.jcs import canonicalize
from audit_events.models import ErasureRequest, SubjectKey
from audit_events.privacy.erasure import ErasureError, approve_erasure, reject_erasure, request_erasure
from audit_events.privacy.holds import place_hold, release_hold
from audit_events.projector import catch_up
from tests.conftest import ApiClient, audit_of, event_dict

pytestmark = pytest.mark.django_db
NAME = "Ann Secret-Name"
ADD = "/admin/audit_events/erasurerequest/add/"
LIST = "/admin/audit_events/erasurerequest/"
ERASE_IN_ACME = {"effect": "allow", "actions": ["erase_subject"],
                 "conditions": [{"attr": "tenant", "op": "eq", "value": "acme"}]}


@pytest.fixture
def published(api):
    answer = api.post("/api/v1/events", {"events": [
        event_dict(aggregate_id="enc-1", data_subject="pat-42", payload={"holder": {"name": NAME}}),
        event_dict(aggregate_id="enc-2", data_subject="pat-7", payload={"holder": {"name": "Other Person"}}),
    ]})
    assert answer.status_code == 201, answer.content
    catch_up()
    return [r["event_id"] for r in answer.json()["results"]]


@pytest.fixture
def admin_of(make_person):
    """A staff member who may erase in acme, with the Django permissions named."""

    def make(username, *permissions, policies=(ERASE_IN_ACME,)):
        from tests.conftest import AUDITOR_POLICIES

        person = make_person(username, tenants=["acme"], policies=[*AUDITOR_POLICIES, *policies])
        person.is_staff = True
        person.save(update_fields=["is_staff"])
        person.user_permissions.add(*Permission.objects.filter(
            content_type__app_label="audit_events", codename__in=["view_erasurerequest", *permissions]))
        browser = Client()
        browser.force_login(person)
        browser.user = person
        return browser

    return make


@pytest.fixture
def reader(make_person, token_for, client):
    return ApiClient(client, token_for(make_person("doctor", tenants=["acme"])))


def act(browser, action, *requests, **confirm):
    return browser.post(LIST, {"action": action, "_selected_action": [r.pk for r in requests], **confirm})


def name_of(reader, event_id):
    return reader.get(f"/api/v1/events/{event_id}").json()["payload"]["holder"]["name"]


def test_one_admin_asks_a_second_approves_and_the_key_is_destroyed(published, admin_of, reader, api, capsys):
    dpo = admin_of("dpo", "add_erasurerequest", "approve_erasurerequest")
    second = admin_of("second", "approve_erasurerequest")
    asked = dpo.post(ADD, {"tenant": "acme", "subject": "pat-42", "reason": "Art. 17 request R-88"})
    assert asked.status_code == 302, asked.content.decode()
    erasure = ErasureRequest.objects.get()
    assert erasure.status == "pending" and erasure.requested_by == dpo.user
    requested = audit_of("dpo")[-1]
    assert requested["event_type"] == "ErasureRequested" and requested["pii"] == ["/target/subject", "/details/reason"]
    assert name_of(reader, published[0]) == NAME  # asking destroys nothing

    # The person who asked may approve others' requests, never their own.
    confirm = act(dpo, "approve", erasure)
    assert confirm.status_code == 200 and "Erasing cannot be undone" in confirm.content.decode()
    refused = act(dpo, "approve", erasure, confirm="yes")
    assert refused.status_code == 302
    assert "a second admin must approve" in " ".join(m.message for m in refused.wsgi_request._messages)
    erasure.refresh_from_db()
    assert erasure.status == "pending" and name_of(reader, published[0]) == NAME

    page = act(second, "approve", erasure)
    assert page.status_code == 200 and "pat-42" in page.content.decode() and "dpo" in page.content.decode()
    assert act(second, "approve", erasure, confirm="yes").status_code == 302
    erasure.refresh_from_db()
    assert erasure.status == "erased" and erasure.decided_by == second.user
    receipt = erasure.receipt
    assert receipt["approval"] == {"request": erasure.pk, "requested_by": "dpo", "approved_by": "second"}
    key = api.get("/api/v1/checkpoints/keys").json()["keys"][-1]
    Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"])).verify(
        base64.b64decode(receipt["signature"]), canonicalize({k: v for k, v in receipt.items() if k != "signature"}))
    assert SubjectKey.objects.get(tenant="acme", subject="pat-42").destroyed_at is not None

    assert name_of(reader, published[0]) == {"erased": True}
    assert name_of(reader, published[1]) == "Other Person"
    erased = [r for r in audit_of("second") if r["event_type"] == "SubjectErased"]
    assert len(erased) == 1 and erased[0]["payload"]["details"]["approval"]["requested_by"] == "dpo"
    detail = second.get(f"{LIST}{erasure.pk}/change/").content.decode()
    assert receipt["key_id"] in detail and "Signed receipt" in detail
    call_command("verify_chain", "--tenant", "acme")
    assert "verified" in capsys.readouterr().out

    again = act(second, "approve", erasure)  # decided requests are not offered again
    assert "None of the selected requests is waiting" in " ".join(m.message for m in again.wsgi_request._messages)


def messages_of(response):
    return " ".join(m.message for m in response.wsgi_request._messages)


def test_a_superuser_still_cannot_erase_alone(published, django_user_model):
    root = django_user_model.objects.create_superuser("root", "root@example.com", "x-unused-Password-1")
    browser = Client()
    browser.force_login(root)
    assert browser.post(ADD, {"tenant": "acme", "subject": "pat-42", "reason": "R-90"}).status_code == 302
    erasure = ErasureRequest.objects.get()
    assert "a second admin must approve" in messages_of(act(browser, "approve", erasure, confirm="yes"))
    with pytest.raises(ErasureError, match="a second admin must approve"):
        approve_erasure(erasure=erasure, approver=root)
    assert SubjectKey.objects.get(tenant="acme", subject="pat-42").destroyed_at is None


def test_a_withdrawal_racing_an_approval_wins_or_loses_whole(published, admin_of, monkeypatch):
    import portal.access.selectors as selectors

    dpo, second = admin_of("dpo", "add_erasurerequest"), admin_of("second", "approve_erasurerequest")
    erasure = request_erasure(tenant="acme", subject="pat-42", reason="R-88", requested_by=dpo.user)
    real = selectors.may_erase

    def withdrawn_meanwhile(user, *, tenant):  # the asker withdraws while the approver's checks run
        if user == dpo.user and ErasureRequest.objects.get().status == "pending":
            reject_erasure(erasure=ErasureRequest.objects.get(), by=dpo.user, note="asked by mistake")
        return real(user, tenant=tenant)

    monkeypatch.setattr(selectors, "may_erase", withdrawn_meanwhile)
    with pytest.raises(ErasureError, match=f"request #{erasure.pk} was decided meanwhile"):
        approve_erasure(erasure=erasure, approver=second.user)
    erasure.refresh_from_db()
    assert (erasure.status, erasure.decided_by) == ("rejected", dpo.user)
    assert SubjectKey.objects.get(tenant="acme", subject="pat-42").destroyed_at is None


def test_a_failure_after_the_key_is_destroyed_leaves_key_and_request_as_they_were(published, admin_of, monkeypatch):
    import audit_events.privacy.erasure as erasure_module

    dpo, second = admin_of("dpo", "add_erasurerequest"), admin_of("second", "approve_erasurerequest")
    erasure = request_erasure(tenant="acme", subject="pat-42", reason="R-88", requested_by=dpo.user)
    real = erasure_module.erase_subject

    def then_fail(**arguments):
        real(**arguments)
        assert SubjectKey.objects.get(tenant="acme", subject="pat-42").destroyed_at is not None
        raise RuntimeError("the archive is unreachable")

    monkeypatch.setattr(erasure_module, "erase_subject", then_fail)
    failed = act(second, "approve", erasure, confirm="yes")
    assert "could not be carried out (the error is logged); it is still waiting" in messages_of(failed)
    erasure.refresh_from_db()
    assert erasure.status == "pending" and erasure.receipt is None
    assert SubjectKey.objects.get(tenant="acme", subject="pat-42").destroyed_at is None
    monkeypatch.setattr(erasure_module, "erase_subject", real)
    assert approve_erasure(erasure=erasure, approver=second.user).status == "erased"  # and it can be done


def test_a_request_whose_asker_has_left_cannot_be_approved(published, admin_of):
    dpo, second = admin_of("dpo", "add_erasurerequest"), admin_of("second", "approve_erasurerequest")
    erasure = request_erasure(tenant="acme", subject="pat-42", reason="R-88", requested_by=dpo.user)
    dpo.user.is_active = False
    dpo.user.save(update_fields=["is_active"])
    erasure.refresh_from_db()
    with pytest.raises(ErasureError, match="dpo, who asked, may no longer ask for erasures in acme"):
        approve_erasure(erasure=erasure, approver=second.user)
    assert SubjectKey.objects.get(tenant="acme", subject="pat-42").destroyed_at is None


def test_a_hold_stops_the_request_and_the_approval(published, admin_of, reader, django_user_model):
    dpo, second = admin_of("dpo", "add_erasurerequest"), admin_of("second", "approve_erasurerequest")
    counsel = django_user_model.objects.create_user("counsel")
    held = place_hold(tenant="acme", scope="aggregate", target="Account:enc-1", reason="Matter 17", owner=counsel,
                      placed_by=counsel)
    page = dpo.post(ADD, {"tenant": "acme", "subject": "pat-42", "reason": "Art. 17 request R-88"})
    assert page.status_code == 200 and "is under legal hold" in page.content.decode()
    assert not ErasureRequest.objects.exists()

    release_hold(hold_id=held.pk, released_by=counsel, reason="closed")
    assert dpo.post(ADD, {"tenant": "acme", "subject": "pat-42", "reason": "Art. 17 request R-88"}).status_code == 302
    erasure = ErasureRequest.objects.get()
    place_hold(tenant="acme", scope="subject", target="pat-42", reason="Matter 18", owner=counsel, placed_by=counsel)
    refused = act(second, "approve", erasure, confirm="yes")
    assert "pat-42 of acme is under legal hold" in " ".join(m.message for m in refused.wsgi_request._messages)
    erasure.refresh_from_db()
    assert erasure.status == "pending" and name_of(reader, published[0]) == NAME


@pytest.mark.parametrize("form, field, message", [
    ({"subject": "pat-404"}, "subject", "has no personal data sealed under a key of their own"),
    ({"reason": "  "}, "reason", "This field is required"),
    ({"tenant": "globex"}, "tenant", "you may not ask to erase data subjects of globex"),
    ({"tenant": "Acme Bank"}, "tenant", "name the tenant, as events name it"),
    ({"tenant": "_portal"}, "tenant", "the portal's own tenants hold no sealed personal data"),
])
def test_the_request_form_names_the_field_at_fault(published, admin_of, form, field, message):
    dpo = admin_of("dpo", "add_erasurerequest")
    page = dpo.post(ADD, {"tenant": "acme", "subject": "pat-42", "reason": "Art. 17 request R-88", **form})
    assert page.status_code == 200
    assert message in " ".join(page.context["adminform"].form.errors[field])
    assert not ErasureRequest.objects.exists()


def test_one_request_waits_per_subject_and_an_erased_subject_cannot_be_asked_again(published, admin_of):
    dpo, second = admin_of("dpo", "add_erasurerequest"), admin_of("second", "approve_erasurerequest")
    assert dpo.post(ADD, {"tenant": "acme", "subject": "pat-42", "reason": "R-88"}).status_code == 302
    twice = dpo.post(ADD, {"tenant": "acme", "subject": "pat-42", "reason": "R-88 again"})
    assert "is already waiting for approval" in str(twice.context["adminform"].form.errors["subject"])
    act(second, "approve", ErasureRequest.objects.get(), confirm="yes")
    after = dpo.post(ADD, {"tenant": "acme", "subject": "pat-42", "reason": "R-89"})
    assert "was erased already" in str(after.context["adminform"].form.errors["subject"])


def test_rejecting_needs_a_note_and_is_audited(published, admin_of, reader):
    dpo, second = admin_of("dpo", "add_erasurerequest"), admin_of("second", "approve_erasurerequest")
    dpo.post(ADD, {"tenant": "acme", "subject": "pat-42", "reason": "R-88"})
    erasure = ErasureRequest.objects.get()
    blank = act(second, "reject", erasure, confirm="yes", note=" ")
    assert blank.status_code == 200 and "This field is required" in blank.content.decode()
    assert act(second, "reject", erasure, confirm="yes", note="Identity not confirmed").status_code == 302
    erasure.refresh_from_db()
    assert (erasure.status, erasure.decided_by, erasure.decision_note) == ("rejected", second.user,
                                                                          "Identity not confirmed")
    rejected = [r for r in audit_of("second") if r["event_type"] == "ErasureRejected"]
    assert rejected[0]["pii"] == ["/target/subject", "/details/note"]
    assert name_of(reader, published[0]) == NAME
    with pytest.raises(ErasureError, match="is rejected, not waiting for approval"):
        approve_erasure(erasure=erasure, approver=second.user)


def test_the_person_who_asked_may_withdraw(published, admin_of):
    dpo = admin_of("dpo", "add_erasurerequest")
    dpo.post(ADD, {"tenant": "acme", "subject": "pat-42", "reason": "R-88"})
    erasure = ErasureRequest.objects.get()
    page = act(dpo, "reject", erasure)
    assert page.status_code == 200 and "Reject erasure requests" in page.content.decode()
    assert "Rejected request" in messages_of(act(dpo, "reject", erasure, confirm="yes", note="asked by mistake"))
    erasure.refresh_from_db()
    assert (erasure.status, erasure.decided_by) == ("rejected", dpo.user)


def test_without_the_rights_nothing_is_shown_or_decided(published, admin_of, make_person):
    dpo = admin_of("dpo", "add_erasurerequest")
    dpo.post(ADD, {"tenant": "acme", "subject": "pat-42", "reason": "R-88"})
    erasure = ErasureRequest.objects.get()

    # Allowed: an approver of acme sees it. Denied: one who may erase only in globex sees nothing,
    # and the action on its id touches nothing. Unauthenticated: the admin's sign-in.
    assert "pat-42" in admin_of("second", "approve_erasurerequest").get(LIST).content.decode()
    elsewhere = admin_of("elsewhere", "approve_erasurerequest", policies=[
        {**ERASE_IN_ACME, "conditions": [{"attr": "tenant", "op": "eq", "value": "globex"}]}])
    assert "pat-42" not in elsewhere.get(LIST).content.decode()
    assert elsewhere.get(f"{LIST}{erasure.pk}/change/").status_code == 302  # the admin's "does not exist"
    outside = act(elsewhere, "approve", erasure, confirm="yes")  # its id is not in their rows
    assert "Items must be selected" in messages_of(outside) or "None of the selected" in messages_of(outside)
    with pytest.raises(ErasureError, match="you may not approve erasures in acme"):
        approve_erasure(erasure=erasure, approver=elsewhere.user)
    assert Client().get(LIST).status_code == 302

    no_permission = admin_of("clerk")  # may erase in acme by policy, but holds no approve permission
    unoffered = act(no_permission, "approve", erasure, confirm="yes")  # the action is not theirs to choose
    assert unoffered.status_code == 200 and "Erased request" not in messages_of(unoffered)
    assert no_permission.post(ADD, {"tenant": "acme", "subject": "pat-7", "reason": "R"}).status_code == 403
    erasure.refresh_from_db()
    assert erasure.status == "pending"
    assert SubjectKey.objects.get(tenant="acme", subject="pat-42").destroyed_at is None


def test_the_receipt_reaches_the_archive_once_the_erasure_is_committed(published, admin_of,
                                                                        django_capture_on_commit_callbacks):
    from audit_events.archive import archive_storage

    dpo, second = admin_of("dpo", "add_erasurerequest"), admin_of("second", "approve_erasurerequest")
    dpo.post(ADD, {"tenant": "acme", "subject": "pat-42", "reason": "R-88"})
    with django_capture_on_commit_callbacks(execute=False) as after_commit:
        act(second, "approve", ErasureRequest.objects.get(), confirm="yes")
    erasure = ErasureRequest.objects.get()
    name = f"erasures/acme/{erasure.receipt['key_id']}.json"
    assert not archive_storage().exists(name)  # nothing outside the database before the commit
    for callback in after_commit:
        callback()
    with archive_storage().open(name) as stored:
        assert json.load(stored) == erasure.receipt


def test_a_rolled_back_erasure_leaves_no_receipt_in_the_archive(published, admin_of, monkeypatch,
                                                                 django_capture_on_commit_callbacks):
    import audit_events.privacy.erasure as erasure_module
    from audit_events.archive import archive_storage

    dpo, second = admin_of("dpo", "add_erasurerequest"), admin_of("second", "approve_erasurerequest")
    erasure = request_erasure(tenant="acme", subject="pat-42", reason="R-88", requested_by=dpo.user)
    key_id = SubjectKey.objects.get(tenant="acme", subject="pat-42").key_id
    real = erasure_module.erase_subject

    def then_fail(**arguments):
        real(**arguments)
        raise RuntimeError("the database went away")

    monkeypatch.setattr(erasure_module, "erase_subject", then_fail)
    with django_capture_on_commit_callbacks(execute=True) as after_commit:
        with pytest.raises(RuntimeError):
            approve_erasure(erasure=erasure, approver=second.user)
    assert after_commit == [] and not archive_storage().exists(f"erasures/acme/{key_id}.json")


def test_an_erasure_from_the_command_line_closes_the_request_waiting_for_it(published, admin_of):
    dpo = admin_of("dpo", "add_erasurerequest")
    erasure = request_erasure(tenant="acme", subject="pat-42", reason="R-88", requested_by=dpo.user)
    call_command("erase_subject", "pat-42", "--tenant", "acme", "--reason", "R-88", stdout=open("/dev/null", "w"))
    erasure.refresh_from_db()
    assert erasure.status == "erased" and erasure.receipt["subject"] == "pat-42"
    assert erasure.decision_note == "erased by command:erase_subject without this request's approval"


def test_a_request_refused_after_its_form_passed_is_said_on_the_page(published, admin_of, monkeypatch):
    import audit_events.privacy.erasure as erasure_module

    def asked_meanwhile(**_):  # another admin's request for the subject committed first
        raise ErasureError("subject: erasing pat-42 of acme is already waiting for approval", field="subject")

    monkeypatch.setattr(erasure_module, "request_erasure", asked_meanwhile)
    dpo = admin_of("dpo", "add_erasurerequest")
    page = dpo.post(ADD, {"tenant": "acme", "subject": "pat-42", "reason": "R-88"})
    assert page.status_code == 302 and page["Location"] == ADD
    assert "Not asked: subject: erasing pat-42 of acme is already waiting" in messages_of(page)
    assert not ErasureRequest.objects.exists()
