"""The Merkle log projection: each tenant's events as RFC 6962 leaves in processing order,
stored as complete subtrees from which any size's root and proofs come out right."""

import pytest

from audit_events.checkpoints.log import MerkleLogProjection, TenantTree
from audit_events.models import MerkleLeaf, MerkleLog, MerkleNode
from audit_events.offline.merkle import leaf_hash, root, verify_consistency, verify_inclusion
from audit_events.projector import catch_up
from audit_events.store import get_event_store
from tests.audit_events.store.contracts import event

pytestmark = pytest.mark.django_db


def append(tenant, count, **fields):
    return get_event_store().append([event(tenant=tenant, aggregate_id=f"{tenant}-{n % 3}", payload={"n": n},
                                           pii=[], **fields) for n in range(count)])


def leaves_of(tenant):
    """The tenant's leaf hashes, from the store's events in leaf order."""
    order = dict(MerkleLeaf.objects.filter(tenant=tenant).values_list("event_id", "leaf_index"))
    events = sorted(get_event_store().get_many([str(i) for i in order]),
                    key=lambda e: order[__import__("uuid").UUID(e.record["event_id"])])
    return [leaf_hash(bytes.fromhex(e.hash)) for e in events]


def test_each_tenant_gets_a_log_of_its_events_in_feed_order():
    append("acme", 13)
    append("globex", 4)
    append("acme", 6)
    catch_up(batch_size=5)
    assert dict(MerkleLog.objects.values_list("tenant", "size")) == {"acme": 19, "globex": 4}
    acme = [e for e in get_event_store().read_all(limit=100) if e.tenant == "acme"]
    expected = [leaf_hash(bytes.fromhex(e.hash)) for e in acme]
    assert leaves_of("acme") == expected
    tree = TenantTree("acme")
    for size in range(1, 20):
        assert tree.root(size) == root(expected[:size])


def test_stored_nodes_are_only_complete_subtrees_and_a_replay_adds_nothing():
    append("acme", 7)
    catch_up()
    levels = sorted(MerkleNode.objects.filter(tenant="acme").values_list("level", "index"))
    assert levels == [(0, i) for i in range(7)] + [(1, 0), (1, 1), (1, 2), (2, 0)]
    MerkleLogProjection().handle(get_event_store().read_all(limit=100))  # a redelivered batch
    assert MerkleLog.objects.get(tenant="acme").size == 7 and MerkleNode.objects.count() == 11


def test_proofs_from_stored_nodes_verify_for_every_index_and_size():
    append("acme", 21)
    catch_up(batch_size=4)
    leaves, tree = leaves_of("acme"), TenantTree("acme")
    for size in range(1, 22):
        top = tree.root(size)
        for index in range(size):
            assert verify_inclusion(leaves[index], index, size, tree.inclusion(index, size), top)
        for old in range(1, size + 1):
            assert verify_consistency(old, size, tree.root(old), top, tree.consistency(old, size))


def test_an_event_joins_the_log_only_after_the_one_before_it_in_its_aggregate():
    from audit_events.checkpoints.log import OutOfOrderError

    append("acme", 3)  # a-0 #1, a-1 #1, a-2 #1
    get_event_store().append([event(tenant="acme", aggregate_id="acme-0", payload={"n": n}, pii=[]) for n in (3, 4)])
    first, second, third, fourth, fifth = get_event_store().read_all(limit=100)
    projection = MerkleLogProjection()
    projection.handle([first, second, third])
    with pytest.raises(OutOfOrderError, match=r"acme/Account/acme-0 #3 arrived before #2"):
        projection.handle([fifth])  # a stream gave up on #2 and moved on: #3 waits, held
    assert MerkleLeaf.objects.count() == 3
    projection.handle([fourth])
    projection.handle([fifth])
    order = list(MerkleLeaf.objects.filter(aggregate_id="acme-0").order_by("leaf_index").values_list("sequence",
                                                                                                      flat=True))
    assert order == [1, 2, 3]


def test_backfill_adds_what_the_log_is_missing_in_feed_order(capsys):
    from django.core.management import CommandError, call_command

    append("acme", 5)
    call_command("run_projector", "--backfill", "merkle_log")  # an upgrade: history joins the log
    assert MerkleLog.objects.get(tenant="acme").size == 5
    append("acme", 2)
    call_command("run_projector", "--backfill", "merkle_log")  # run again: only what is missing
    assert MerkleLog.objects.get(tenant="acme").size == 7 and "merkle_log: 7 events from the store" in \
        capsys.readouterr().out
    with pytest.raises(CommandError, match="--backfill: no projection named nope"):
        call_command("run_projector", "--backfill", "nope")
