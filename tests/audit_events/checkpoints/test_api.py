"""The verifiability API through the test client: an event's inclusion proof, the checkpoints,
consistency between two of them, and the public keys.

Each endpoint but the keys comes in the trio: without credentials (401), allowed (a publisher
key for its tenants, a person by their policies), constrained (404, exactly like a tenant or an
event that does not exist). What the API hands out verifies with the offline verifier and the
published keys alone.
"""

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.core.management import call_command

from audit_events.checkpoints.services import make_checkpoint, signed_part
from audit_events.checkpoints.signing import get_checkpoint_signer
from audit_events.models import StoredEvent
from audit_events.offline.merkle import leaf_hash, verify_consistency, verify_inclusion
from audit_events.projector import catch_up
from audit_events.services import publisher_key_create
from audit_events.store import get_event_store
from tests.audit_events.store.contracts import event
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db

MISSING = "00000000-0000-4000-8000-000000000000"


def append(count, tenant="acme"):
    stored = get_event_store().append([event(tenant=tenant, aggregate_id=f"a-{n % 3}", payload={"n": n}, pii=[])
                                       for n in range(count)])
    catch_up()
    return stored


@pytest.fixture
def logged(events):
    """The ``events`` fixture's events in their tenants' logs, and a checkpoint of each log."""
    catch_up()
    make_checkpoint(tenant="acme")
    make_checkpoint(tenant="globex")
    return events


@pytest.fixture
def auditor(make_person, as_user):
    """A person whose policies reach acme only, up to restricted."""
    return as_user(make_person("auditor", tenants=["acme"]))


def proof_url(event_id):
    return f"/api/v1/events/{event_id}/proof"


def published_key(client, key_id) -> Ed25519PublicKey:
    """The key ``key_id`` as ``/checkpoints/keys`` publishes it (no credentials needed)."""
    response = ApiClient(client, None).get("/api/v1/checkpoints/keys")
    assert response.status_code == 200
    (key,) = [k for k in response.json()["keys"] if k["key_id"] == key_id]
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"]))


def assert_signed(client, document):
    """The checkpoint's signature verifies with its published key (raises otherwise)."""
    published_key(client, document["key_id"]).verify(base64.b64decode(document["signature"]), signed_part(document))


def assert_proves(client, proof, stored):
    """The proof ties ``stored`` to the root its checkpoint signs."""
    checkpoint = proof["checkpoint"]
    assert (proof["tenant"], proof["tree_size"], proof["root_hash"]) == (
        stored.tenant, checkpoint["tree_size"], checkpoint["root_hash"])
    assert verify_inclusion(leaf_hash(bytes.fromhex(stored.hash)), proof["leaf_index"], checkpoint["tree_size"],
                            [bytes.fromhex(node) for node in proof["audit_path"]],
                            bytes.fromhex(checkpoint["root_hash"]))
    assert_signed(client, checkpoint)


def audit_kinds():
    return list(StoredEvent.objects.filter(tenant="_portal").order_by("position").values_list("event_type", flat=True))


# -- without credentials ----------------------------------------------------------------


@pytest.mark.parametrize("url", [
    proof_url(MISSING), "/api/v1/checkpoints?tenant=acme", "/api/v1/checkpoints/consistency?tenant=acme&from=1&to=2",
])
def test_without_credentials_is_401(client, logged, url):
    for token in (None, "ak_000000000000_nope", "ut_000000000000_nope"):
        response = ApiClient(client, token).get(url.replace(MISSING, logged["acme"][0].event_id))
        assert response.status_code == 401, token
        assert response["WWW-Authenticate"] == "Bearer"


def test_the_keys_are_public(client, logged):
    response = ApiClient(client, None).get("/api/v1/checkpoints/keys")
    assert response.status_code == 200
    (key,) = response.json()["keys"]
    assert key["key_id"] == get_checkpoint_signer().key_id and key["algorithm"] == "ed25519"
    assert key["retired_at"] is None


# -- the inclusion proof ----------------------------------------------------------------


def test_a_publisher_gets_proofs_for_its_tenants_that_verify_offline(client, api, logged):
    for stored in (*logged["acme"], *logged["globex"]):
        response = api.get(proof_url(stored.event_id))
        assert response.status_code == 200, response.content
        assert_proves(client, response.json(), stored)


def test_a_person_gets_proofs_for_the_events_their_policies_allow(client, auditor, logged):
    response = auditor.get(proof_url(logged["acme"][1].event_id))
    assert response.status_code == 200
    proof = response.json()
    assert (proof["leaf_index"], proof["tree_size"]) == (1, 2)
    assert_proves(client, proof, logged["acme"][1])


def test_events_outside_the_readers_scope_are_404_like_missing_ones(client, make_person, as_user, logged):
    only_globex = ApiClient(client, publisher_key_create(name="globex-only", tenants=["globex"])[1])
    below_restricted = as_user(make_person("junior", tenants=["acme"], clearance="confidential"))
    nobody = as_user(make_person("nobody", tenants=["acme"], policies=[]))
    refused = [(only_globex, logged["acme"][0]), (below_restricted, logged["acme"][1]),
               (below_restricted, logged["globex"][0]), (nobody, logged["acme"][0])]
    for reader, stored in refused:
        response = reader.get(proof_url(stored.event_id))
        assert response.status_code == 404
        assert response.json() == {"detail": f"event {stored.event_id} not found"}
    assert only_globex.get(proof_url(MISSING)).json() == {"detail": f"event {MISSING} not found"}
    assert below_restricted.get(proof_url(logged["acme"][0].event_id)).status_code == 200  # in scope


def test_no_proof_until_a_checkpoint_covers_the_event_then_it_verifies(client, api, db):
    (first,) = append(1)
    make_checkpoint(tenant="acme")
    (second,) = append(1)
    response = api.get(proof_url(second.event_id))
    assert response.status_code == 404
    assert response.json()["detail"] == (f"event {second.event_id} is not covered by a checkpoint yet; "
                                         "the next one will")
    assert api.get(proof_url(first.event_id)).status_code == 200  # the checkpoint before covers that one
    make_checkpoint(tenant="acme")
    response = api.get(proof_url(second.event_id))
    assert response.status_code == 200
    assert_proves(client, response.json(), second)


def test_an_event_not_yet_in_its_log_has_no_proof_yet(api, db):
    (stored,) = get_event_store().append([event(tenant="acme", pii=[])])  # the projection has not run
    response = api.get(proof_url(stored.event_id))
    assert response.status_code == 404 and "not covered by a checkpoint yet" in response.json()["detail"]


def test_the_proof_is_against_the_newest_checkpoint_covering_the_event(client, api, db):
    early = append(2)
    older = make_checkpoint(tenant="acme")
    append(3)
    newer = make_checkpoint(tenant="acme")
    proof = api.get(proof_url(early[0].event_id)).json()
    assert (proof["tree_size"], proof["checkpoint"]) == (5, newer.document) and older.tree_size == 2
    assert len(proof["audit_path"]) == 3  # leaf 0 of 5: its sibling, then [2, 4), then [4, 5)
    assert_proves(client, proof, early[0])


def test_reading_a_proof_is_an_audited_event_read(auditor, logged):
    before = len(audit_kinds())
    auditor.get(proof_url(logged["acme"][0].event_id))
    auditor.get(proof_url(logged["globex"][0].event_id))
    auditor.get(proof_url(MISSING))
    assert audit_kinds()[before:] == ["EventViewed", "ReadRefused", "ReadRefused"]
    viewed, refused, missing = StoredEvent.objects.filter(tenant="_portal").order_by("-position")[:3][::-1]
    assert json.loads(viewed.record)["payload"]["target"]["event_id"] == logged["acme"][0].event_id
    assert json.loads(refused.record)["payload"]["target"]["event_id"] == logged["globex"][0].event_id
    assert json.loads(missing.record)["payload"]["target"]["event_id"] == MISSING


# -- the checkpoints --------------------------------------------------------------------


@pytest.fixture
def four_checkpoints(db):
    """acme's log signed at 2, 3, 5 and 8 events."""
    made = []
    for count in (2, 1, 2, 3):
        append(count)
        made.append(make_checkpoint(tenant="acme"))
    return made


def sizes(response):
    assert response.status_code == 200, response.content
    return [c["tree_size"] for c in response.json()["checkpoints"]]


def test_checkpoints_are_listed_oldest_first_and_paged(client, api, four_checkpoints):
    listed = api.get("/api/v1/checkpoints?tenant=acme").json()["checkpoints"]
    assert listed == [c.document for c in four_checkpoints]
    for document in listed:
        assert_signed(client, document)
    assert sizes(api.get("/api/v1/checkpoints?tenant=acme&after_size=3")) == [5, 8]
    assert sizes(api.get("/api/v1/checkpoints?tenant=acme&after_size=2&limit=1")) == [3]
    assert sizes(api.get("/api/v1/checkpoints?tenant=acme&after_size=4&limit=1")) == [5]  # K-1: checkpoint K
    assert sizes(api.get("/api/v1/checkpoints?tenant=acme&after_size=8")) == []
    # a tenant of the key's with nothing in it yet reads like one outside its scope
    assert api.get("/api/v1/checkpoints?tenant=globex").status_code == 404


def test_a_person_lists_the_checkpoints_of_their_tenants_only(client, auditor, make_person, as_user,
                                                              four_checkpoints):
    assert sizes(auditor.get("/api/v1/checkpoints?tenant=acme&limit=2")) == [2, 3]
    for tenant in ("globex", "nobody"):  # another's tenant reads like one that does not exist
        response = auditor.get(f"/api/v1/checkpoints?tenant={tenant}")
        assert response.status_code == 404
        assert response.json() == {"detail": f"no log you may read for tenant '{tenant}'"}
    nobody = as_user(make_person("nobody", tenants=["acme"], policies=[]))
    assert nobody.get("/api/v1/checkpoints?tenant=acme").status_code == 404
    only_globex = ApiClient(client, publisher_key_create(name="globex-only", tenants=["globex"])[1])
    assert only_globex.get("/api/v1/checkpoints?tenant=acme").status_code == 404


def test_a_deny_policy_hides_a_tenants_checkpoints_and_reads_are_audited(make_person, as_user, four_checkpoints):
    allow_all = {"effect": "allow", "actions": ["search", "view_event"], "conditions": []}
    deny_acme = {"effect": "deny", "actions": ["search", "view_event"],
                 "conditions": [{"attr": "tenant", "op": "eq", "value": "acme"}]}
    denied = as_user(make_person("denied", policies=[allow_all, deny_acme]))
    assert denied.get("/api/v1/checkpoints?tenant=acme").status_code == 404  # tenant_scope alone said "any"
    assert denied.get("/api/v1/checkpoints/consistency?tenant=acme&from=2&to=8").status_code == 404
    reader = as_user(make_person("reader", policies=[allow_all]))
    assert reader.get("/api/v1/checkpoints/consistency?tenant=acme&from=2&to=8").status_code == 200
    kinds = [e.record["event_type"] for e in get_event_store().read_aggregate("_portal", "User", "user:reader",
                                                                              limit=10)]
    assert "CheckpointConsistencyRead" in kinds
    refused = [e.record for e in get_event_store().read_aggregate("_portal", "User", "user:denied", limit=10)]
    assert [r["payload"]["details"]["action"] for r in refused] == ["checkpoints", "checkpoint_consistency"]


@pytest.mark.parametrize("query, field", [
    ("tenant=acme&after_size=x", "after_size"), ("tenant=acme&after_size=-1", "after_size"),
    ("tenant=acme&limit=0", "limit"), ("tenant=acme&limit=1001", "limit"), ("tenant=acme&limit=1.5", "limit"),
    ("after_size=1", "tenant"),
])
def test_bad_listing_parameters_are_named(api, four_checkpoints, query, field):
    response = api.get(f"/api/v1/checkpoints?{query}")
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]


# -- consistency ------------------------------------------------------------------------


def consistency(reader, tenant="acme", **sizes):
    return reader.get(f"/api/v1/checkpoints/consistency?tenant={tenant}&"
                      + "&".join(f"{k.rstrip('_')}={v}" for k, v in sizes.items()))


@pytest.mark.parametrize("reader", ["publisher", "person"])
def test_consistency_between_two_checkpoints_verifies(api, auditor, four_checkpoints, reader):
    reader = api if reader == "publisher" else auditor
    by_size = {c.tree_size: c.document for c in four_checkpoints}
    for old, new in [(2, 8), (3, 5), (5, 8), (2, 3), (8, 8)]:
        response = consistency(reader, from_=old, to=new)
        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["from_root"], body["to_root"]) == (by_size[old]["root_hash"], by_size[new]["root_hash"])
        assert verify_consistency(old, new, bytes.fromhex(body["from_root"]), bytes.fromhex(body["to_root"]),
                                  [bytes.fromhex(node) for node in body["proof"]]), (old, new)


def test_consistency_outside_the_readers_scope_is_404(client, auditor, four_checkpoints):
    assert consistency(auditor, "globex", from_=1, to=1).status_code == 404
    assert consistency(auditor, "nobody", from_=1, to=1).json() == {"detail": "no log you may read for tenant 'nobody'"}
    only_globex = ApiClient(client, publisher_key_create(name="globex-only", tenants=["globex"])[1])
    assert consistency(only_globex, from_=2, to=8).status_code == 404


@pytest.mark.parametrize("sizes, field, words", [
    ({"from_": 5, "to": 3}, "from", "at most to"),
    ({"from_": 2, "to": 9}, "to", "no checkpoint of acme has size 9"),  # the live size is not told
    ({"from_": 4, "to": 8}, "from", "no checkpoint of acme has size 4"),  # only signed sizes
])
def test_sizes_the_log_cannot_answer_for_are_400_naming_the_parameter(api, four_checkpoints, sizes, field, words):
    response = consistency(api, **sizes)
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["field"] == field and words in error["message"]


@pytest.mark.parametrize("sizes, field", [
    ({"from_": "x", "to": 3}, "from"), ({"from_": 1, "to": "3.5"}, "to"), ({"from_": 0, "to": 3}, "from"),
    ({"to": 3}, "from"),
])
def test_sizes_that_are_not_whole_numbers_are_422_naming_the_parameter(api, four_checkpoints, sizes, field):
    response = consistency(api, **sizes)
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]


# -- the keys ---------------------------------------------------------------------------


@pytest.fixture
def own_key(settings, tmp_path):
    """A key of the test's own: rotation moves the key file aside."""
    settings.AUDIT_CHECKPOINT_KEY_FILE = str(tmp_path / "keys" / "checkpoint.pem")
    get_checkpoint_signer.cache_clear()
    yield
    get_checkpoint_signer.cache_clear()


def test_a_rotated_key_stays_listed_and_both_checkpoints_verify(client, api, own_key, capsys):
    first = append(2)[0]
    old = make_checkpoint(tenant="acme")
    call_command("rotate_checkpoint_key")
    append(1)
    new = make_checkpoint(tenant="acme")
    keys = {k["key_id"]: k for k in ApiClient(client, None).get("/api/v1/checkpoints/keys").json()["keys"]}
    assert old.key_id != new.key_id and {old.key_id, new.key_id} <= set(keys)
    assert keys[old.key_id]["retired_at"] is not None and keys[new.key_id]["retired_at"] is None
    listed = api.get("/api/v1/checkpoints?tenant=acme").json()["checkpoints"]
    assert [c["key_id"] for c in listed] == [old.key_id, new.key_id]
    for document in listed:
        assert_signed(client, document)  # the old one with the retired key
    proof = api.get(proof_url(first.event_id)).json()
    assert proof["checkpoint"]["key_id"] == new.key_id
    assert_proves(client, proof, first)
