"""The event page and the timeline say, for each event they show, which signed checkpoint
includes it and whether that checkpoint's signature verifies; "not yet in a checkpoint" before
one covers it; a warning when the proof or the signature fails. The timeline finds all of that
in a few queries, however many events the page shows."""

import html

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit_events.checkpoints.log import TenantTree
from audit_events.checkpoints.selectors import signature_valid
from audit_events.checkpoints.services import make_checkpoint
from audit_events.checkpoints.status import checkpoint_statuses
from audit_events.models import Checkpoint, MerkleLeaf, MerkleNode
from audit_events.projector import catch_up
from audit_events.store import get_event_store
from audit_events.offline.merkle import leaf_hash, verify_inclusion
from tests.audit_events.store.contracts import event

NOT_YET = "not yet in a checkpoint"
BAD_SIGNATURE = "its signature does not verify with the published key"
NOT_INCLUDED = "the event's inclusion proof does not reach its signed root"


def ok(size):
    return f"included in checkpoint {size}, signature valid"


def append(count, tenant="acme", aggregate_id="acc-1"):
    stored = get_event_store().append([event(tenant=tenant, aggregate_id=aggregate_id, payload={"n": n}, pii=[])
                                       for n in range(count)])
    catch_up()
    return stored


def event_page(client, stored):
    response = client.get(reverse("admin:audit_event", args=[stored.event_id]))
    assert response.status_code == 200
    return response.content.decode()


def timeline_page(client, aggregate_id="acc-1", **params):
    url = reverse("admin:audit_timeline", args=["acme", "Account", aggregate_id])
    response = client.get(url, params)
    assert response.status_code == 200
    return response


def checkpoint_link(size, tenant="acme"):
    return html.escape(f"/api/v1/checkpoints?tenant={tenant}&after_size={size - 1}&limit=1")


@pytest.fixture
def auditor(person):
    return person("auditor", tenants=["acme"])


def test_the_event_page_says_not_yet_then_names_the_checkpoint_and_links_it(client, auditor, db):
    first, second = append(2)
    assert NOT_YET in event_page(client, first)
    make_checkpoint(tenant="acme")
    page = event_page(client, first)
    assert ok(2) in page and NOT_YET not in page
    assert checkpoint_link(2) in page
    assert reverse("api-v1:event_proof", args=[first.event_id]) in page
    # the links answer the signed-in person (the API reads the session)
    listed = client.get(html.unescape(checkpoint_link(2))).json()["checkpoints"]
    assert [c["tree_size"] for c in listed] == [2]
    assert client.get(reverse("api-v1:event_proof", args=[first.event_id])).json()["tree_size"] == 2


def test_the_event_page_names_the_newest_checkpoint_covering_the_event(client, auditor, db):
    (first,) = append(1)
    make_checkpoint(tenant="acme")
    (later,) = append(1)
    assert ok(1) in event_page(client, first) and NOT_YET in event_page(client, later)
    append(1, aggregate_id="acc-2")
    make_checkpoint(tenant="acme")
    assert ok(3) in event_page(client, first) and ok(3) in event_page(client, later)


def test_the_timeline_shows_a_badge_for_each_event(client, auditor, db):
    append(3)
    append(2, aggregate_id="acc-2")
    make_checkpoint(tenant="acme")
    append(1)
    response = timeline_page(client)
    page = response.content.decode()
    assert page.count(ok(5)) == 3 and page.count(NOT_YET) == 1
    assert page.count(checkpoint_link(5)) == 3
    assert [e["checkpoint"] and e["checkpoint"]["size"] for e in response.context["entries"]] == [5, 5, 5, None]


def test_a_timeline_without_replay_access_still_shows_the_badges(client, person, db):
    person("lister", tenants=["acme"], policies=[{"effect": "allow", "actions": ["view_timeline"], "conditions": [
        {"attr": "tenant", "op": "in", "value": "subject.tenants"}]}])
    append(2)
    make_checkpoint(tenant="acme")
    response = timeline_page(client)
    assert response.context["state"] is None and response.content.decode().count(ok(2)) == 2


def test_a_checkpoint_whose_signature_no_longer_verifies_is_flagged(client, auditor, db):
    first, _ = append(2)
    checkpoint = make_checkpoint(tenant="acme")
    Checkpoint.objects.filter(pk=checkpoint.pk).update(
        document=checkpoint.document | {"time": "2000-01-01T00:00:00Z"})
    for page in (event_page(client, first), timeline_page(client).content.decode()):
        assert BAD_SIGNATURE in page and "portal-bad portal-checkpoint" in page
        assert "signature valid" not in page and NOT_INCLUDED not in page  # the root still holds the event


def test_a_checkpoint_with_another_root_is_flagged_both_ways(client, auditor, db):
    first, _ = append(2)
    checkpoint = make_checkpoint(tenant="acme")
    Checkpoint.objects.filter(pk=checkpoint.pk).update(
        root_hash="00" * 32, document=checkpoint.document | {"root_hash": "00" * 32})
    page = event_page(client, first)
    assert NOT_INCLUDED in page and BAD_SIGNATURE in page and "signature valid" not in page


def test_a_stored_node_that_changed_breaks_the_inclusion_not_the_signature(client, auditor, db):
    first, second = append(2)
    make_checkpoint(tenant="acme")
    MerkleNode.objects.filter(tenant="acme", level=0, index=1).update(hash="11" * 32)  # first's sibling
    assert NOT_INCLUDED in event_page(client, first) and BAD_SIGNATURE not in event_page(client, first)
    MerkleNode.objects.filter(tenant="acme", level=0, index=1).delete()
    assert NOT_INCLUDED in event_page(client, first)  # a missing node fails the proof, not the page


def test_a_signed_root_that_disagrees_with_its_column_is_not_an_inclusion(client, auditor, db):
    first, _ = append(2)
    checkpoint = make_checkpoint(tenant="acme")
    Checkpoint.objects.filter(pk=checkpoint.pk).update(root_hash="00" * 32)  # the API would hand this one out
    page = event_page(client, first)
    assert NOT_INCLUDED in page and BAD_SIGNATURE not in page


def test_the_timeline_reads_the_checkpoints_in_the_same_queries_for_50_events_as_for_2(
        client, auditor, db, django_assert_max_num_queries):
    append(300, aggregate_id="others")  # proofs reach across a larger log
    append(2, aggregate_id="short")
    append(60, aggregate_id="long")
    make_checkpoint(tenant="acme")
    timeline_page(client, "short")  # the first request signs in, sets the session…
    with CaptureQueriesContext(connection) as short:
        assert timeline_page(client, "short").content.decode().count(ok(362)) == 2
    with django_assert_max_num_queries(len(short.captured_queries)):
        assert timeline_page(client, "long").content.decode().count(ok(362)) == 50


def stored_events(results):
    return get_event_store().get_many([r.event_id for r in results])


def test_statuses_for_a_page_take_four_queries_and_agree_with_each_proof(db, django_assert_num_queries):
    stored = stored_events(append(300, aggregate_id="others")[::6] + append(2, tenant="globex"))
    checkpoint = make_checkpoint(tenant="acme")
    with django_assert_num_queries(4):  # leaves, the newest checkpoint, its key, the nodes
        statuses = checkpoint_statuses(stored[:50])
    assert len(statuses) == 50
    tree, root = TenantTree("acme"), bytes.fromhex(checkpoint.root_hash)
    for one in stored[:50]:  # each against its own proof, from the log one by one
        index = MerkleLeaf.objects.get(event_id=one.record["event_id"]).leaf_index
        path = tree.inclusion(index, checkpoint.tree_size)
        assert verify_inclusion(leaf_hash(bytes.fromhex(one.hash)), index, checkpoint.tree_size, path, root)
        assert statuses[one.record["event_id"]] == {"checkpoint": checkpoint, "included": True,
                                                     "signature_valid": signature_valid(checkpoint.document)}
    make_checkpoint(tenant="globex")
    with django_assert_num_queries(7):  # and three more for a second tenant
        statuses = checkpoint_statuses(stored)
    assert {s["checkpoint"].tenant for s in statuses.values()} == {"acme", "globex"}


def test_events_not_yet_in_the_log_or_past_the_checkpoint_have_no_status(db, django_assert_num_queries):
    covered = stored_events(append(2))
    make_checkpoint(tenant="acme")
    past = stored_events(append(1))
    (unlogged,) = stored_events(get_event_store().append([event(tenant="acme", pii=[])]))  # not yet projected
    assert not MerkleLeaf.objects.filter(event_id=unlogged.record["event_id"]).exists()
    statuses = checkpoint_statuses([*covered, *past, unlogged])
    assert set(statuses) == {e.record["event_id"] for e in covered}
    with django_assert_num_queries(2):  # the leaves and the newest checkpoint: nothing to verify
        assert checkpoint_statuses([*past, unlogged]) == {}
    assert checkpoint_statuses([]) == {}
