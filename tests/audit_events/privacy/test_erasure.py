"""The full erase round trip: personal data sealed in the stored record, readable by those who
may see it, then erased everywhere by destroying one key, while chains and checkpoints verify."""

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.core.management import CommandError, call_command

from audit_events.checkpoints.log import TenantTree
from audit_events.checkpoints.services import make_checkpoint
from audit_events.jcs import canonicalize
from audit_events.offline.merkle import leaf_hash, verify_inclusion
from audit_events.privacy.holds import place_hold, release_hold
from audit_events.projector import catch_up
from audit_events.store import get_event_store
from tests.conftest import event_dict

pytestmark = pytest.mark.django_db
NAME = "Ann Secret-Name"


@pytest.fixture
def published(api):
    """Two events about patient pat-42 (their name is personal data) and one about another."""
    answer = api.post("/api/v1/events", {"events": [
        event_dict(aggregate_id="enc-1", data_subject="pat-42", payload={"holder": {"name": NAME}, "n": 1}),
        event_dict(aggregate_id="enc-1", data_subject="pat-42", payload={"holder": {"name": NAME}, "n": 2}),
        event_dict(aggregate_id="enc-2", data_subject="pat-7", payload={"holder": {"name": "Other Person"}}),
    ]})
    assert answer.status_code == 201, answer.content
    catch_up()
    make_checkpoint(tenant="acme")
    return [r["event_id"] for r in answer.json()["results"]]


@pytest.fixture
def reader(make_person, token_for, client):
    from tests.conftest import ApiClient

    return ApiClient(client, token_for(make_person("doctor", tenants=["acme"])))


def test_personal_data_is_sealed_in_the_record_and_opened_for_those_who_may_see_it(api, reader, published):
    stored = api.get(f"/api/v1/events/{published[0]}").json()  # a publisher reads it exactly as hashed
    envelope = stored["payload"]["holder"]["name"]  # the pii pointer is /holder/name
    assert envelope["sealed"] == "A256GCMSIV" and NAME not in str(stored)
    assert reader.get(f"/api/v1/events/{published[0]}").json()["payload"]["holder"] == {"name": NAME}
    assert reader.get(f"/api/v1/events/{published[0]}?view=stored").json()["payload"]["holder"]["name"] == envelope
    assert reader.get("/api/v1/search?q=Secret-Name").json()["total"] == 2
    state = reader.get("/api/v1/aggregates/acme/Account/enc-1/state").json()
    assert state["state"]["holder"] == {"name": NAME}


def test_erasure_reads_as_erased_everywhere_and_every_hash_still_verifies(api, reader, published, capsys,
                                                                         django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as after_commit:
        call_command("erase_subject", "pat-42", "--tenant", "acme", "--reason", "Art. 17 request R-88")
    assert len(after_commit) == 2  # the receipt's archive copy and the search index, once committed
    receipt = __import__("json").loads(capsys.readouterr().out)
    assert receipt["subject"] == "pat-42" and receipt["events"] == 2
    key = api.get("/api/v1/checkpoints/keys").json()["keys"][-1]
    Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"])).verify(
        base64.b64decode(receipt["signature"]), canonicalize({k: v for k, v in receipt.items() if k != "signature"}))

    assert reader.get(f"/api/v1/events/{published[0]}").json()["payload"]["holder"] == {"name": {"erased": True}}
    assert reader.get(f"/api/v1/events/{published[2]}").json()["payload"]["holder"] == {"name": "Other Person"}
    assert reader.get("/api/v1/search?q=Secret-Name").json()["total"] == 0
    assert reader.get("/api/v1/aggregates/acme/Account/enc-1/state").json()["state"]["holder"] == {
        "name": {"erased": True}}

    call_command("verify_chain", "--tenant", "acme")
    assert "verified" in capsys.readouterr().out
    event = get_event_store().get(published[0])
    tree = TenantTree("acme")
    from audit_events.models import MerkleLeaf

    index = MerkleLeaf.objects.get(event_id=published[0]).leaf_index
    assert verify_inclusion(leaf_hash(bytes.fromhex(event.hash)), index, 3, tree.inclusion(index, 3), tree.root(3))

    retry = api.post("/api/v1/events", event_dict(event_id=published[0], aggregate_id="enc-1", data_subject="pat-42",
                                                  payload={"holder": {"name": NAME}, "n": 1}))
    assert retry.status_code == 200 and retry.json()["results"][0]["status"] == "duplicate"  # a retry, as before
    new = api.post("/api/v1/events", event_dict(aggregate_id="enc-1", data_subject="pat-42",
                                                payload={"holder": {"name": NAME}, "n": 3}))
    assert new.status_code == 409 and "pat-42 of acme was erased" in new.json()["detail"]
    kinds = [e.record["event_type"] for e in get_event_store().read_aggregate(
        "_portal", "User", "command:erase_subject", limit=10)]
    assert kinds == ["SubjectErased"]


def test_erasure_under_legal_hold_is_refused(published, django_user_model):
    counsel = django_user_model.objects.create_user("counsel")
    hold = place_hold(tenant="acme", scope="subject", target="pat-42", reason="Matter 17", owner=counsel,
                      placed_by=counsel)
    with pytest.raises(CommandError, match="pat-42 of acme is under legal hold"):
        call_command("erase_subject", "pat-42", "--tenant", "acme", "--reason", "request")
    release_hold(hold_id=hold.pk, released_by=counsel, reason="closed")
    call_command("erase_subject", "pat-42", "--tenant", "acme", "--reason", "request")
    with pytest.raises(CommandError, match="nothing to erase"):
        call_command("erase_subject", "pat-42", "--tenant", "acme", "--reason", "again")
