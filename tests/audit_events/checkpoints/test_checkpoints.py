"""Signed checkpoints: Ed25519 over the JCS of the checkpoint, chained by ``previous``, made
every N events or T minutes, copied to the archive storage, with keys published after rotation."""

import base64
import hashlib
import json
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.core.files.storage import storages
from django.core.management import CommandError, call_command
from django.utils import timezone

from audit_events.checkpoints.log import TenantTree
from audit_events.checkpoints.selectors import published_keys, signature_valid
from audit_events.checkpoints.services import archive_name, make_checkpoint, make_due_checkpoints, signed_part
from audit_events.checkpoints.signing import get_checkpoint_signer
from audit_events.jcs import canonicalize
from audit_events.models import Checkpoint
from audit_events.projector import catch_up
from audit_events.store import get_event_store
from tests.audit_events.store.contracts import event
from tests.audit_events.test_archive_s3 import archive_bucket  # noqa: F401  (a fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def own_key(settings, tmp_path):
    """A key of the test's own (rotation moves it)."""
    settings.AUDIT_CHECKPOINT_KEY_FILE = str(tmp_path / "keys" / "checkpoint.pem")
    get_checkpoint_signer.cache_clear()
    yield
    get_checkpoint_signer.cache_clear()


def append(count, tenant="acme"):
    get_event_store().append([event(tenant=tenant, aggregate_id=f"a-{n % 4}", payload={"n": n}, pii=[])
                              for n in range(count)])
    catch_up()


def verify(document: dict) -> None:
    (key,) = [k for k in published_keys() if k["key_id"] == document["key_id"]]
    Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"])).verify(
        base64.b64decode(document["signature"]), signed_part(document))


def test_a_checkpoint_signs_the_tenants_size_and_root_and_chains_to_the_previous():
    append(5)
    first = make_checkpoint(tenant="acme")
    assert set(first.document) == {"tenant", "tree_size", "root_hash", "previous", "time", "key_id", "signature"}
    assert first.document["tree_size"] == 5 and first.document["previous"] is None
    assert first.document["root_hash"] == TenantTree("acme").root(5).hex()
    verify(first.document)
    assert make_checkpoint(tenant="acme") is None  # nothing new: nothing signed
    append(3)
    second = make_checkpoint(tenant="acme")
    assert second.tree_size == 8
    assert second.document["previous"] == hashlib.sha256(canonicalize(first.document)).hexdigest()
    verify(second.document)
    assert signature_valid(second.document)


def test_each_checkpoint_is_copied_to_the_archive_storage():
    append(2)
    checkpoint = make_checkpoint(tenant="acme")
    with storages["archive"].open(archive_name(checkpoint.document)) as copy:
        assert json.loads(copy.read()) == checkpoint.document


def test_a_changed_checkpoint_no_longer_verifies():
    append(2)
    document = dict(make_checkpoint(tenant="acme").document)
    assert signature_valid(document)
    assert not signature_valid(document | {"tree_size": 3})
    assert not signature_valid(document | {"root_hash": "00" * 32})
    assert not signature_valid(document | {"key_id": "0" * 16})  # no such published key


def test_due_every_n_events_or_after_t_minutes_when_grown(settings):
    settings.AUDIT_CHECKPOINT_EVERY_EVENTS, settings.AUDIT_CHECKPOINT_EVERY_MINUTES = 10, 5
    append(3)
    append(2, tenant="globex")
    now = timezone.now()
    assert {c.tenant for c in make_due_checkpoints(now=now)} == {"acme", "globex"}  # never signed yet
    append(4)
    assert make_due_checkpoints(now=now + timedelta(minutes=1)) == []  # 4 new, a minute on
    assert [c.tree_size for c in make_due_checkpoints(now=now + timedelta(minutes=6))] == [7]  # acme only
    append(10)
    assert [c.tree_size for c in make_due_checkpoints(now=now + timedelta(minutes=7))] == [17]  # 10 new


def test_a_rotated_key_stays_published_and_old_checkpoints_still_verify(capsys):
    append(2)
    old = make_checkpoint(tenant="acme")
    call_command("rotate_checkpoint_key")
    append(2)
    new = make_checkpoint(tenant="acme")
    assert new.key_id != old.key_id
    keys = {k["key_id"]: k for k in published_keys()}
    assert set(keys) == {old.key_id, new.key_id} and keys[old.key_id]["retired_at"] is not None
    assert signature_valid(old.document) and signature_valid(new.document)


def test_make_checkpoint_command(capsys):
    append(3)
    call_command("make_checkpoint", "--tenant", "acme")
    assert "acme: checkpoint at 3 events" in capsys.readouterr().out
    call_command("make_checkpoint")
    assert "acme: nothing new since the last checkpoint" in capsys.readouterr().out
    with pytest.raises(CommandError, match="--tenant: 'nobody' has no Merkle log yet"):
        call_command("make_checkpoint", "--tenant", "nobody")
    assert Checkpoint.objects.count() == 1


def test_a_copy_whose_commit_failed_is_taken_back_not_signed_again():
    from audit_events.models import Checkpoint as Row

    append(4)
    first = make_checkpoint(tenant="acme")
    document = first.document
    Row.objects.filter(pk=first.pk).delete()  # as if the transaction had failed after the copy
    again = make_checkpoint(tenant="acme")
    assert again.document == document  # the archived one, not a second signature at that size
    append(2)
    assert make_checkpoint(tenant="acme").document["previous"] == hashlib.sha256(canonicalize(document)).hexdigest()


def test_the_portal_refuses_to_sign_a_log_that_does_not_extend_what_it_signed(settings):
    from audit_events.checkpoints.services import CheckpointRefused
    from audit_events.models import MerkleNode

    append(4)
    make_checkpoint(tenant="acme")
    MerkleNode.objects.filter(tenant="acme", level=2, index=0).update(hash="00" * 32)  # the first 4 rewritten
    append(4)
    with pytest.raises(CheckpointRefused, match="the log at 8 events does not extend the checkpoint at 4"):
        make_checkpoint(tenant="acme")
    append(2, tenant="globex")
    assert [c.tenant for c in make_due_checkpoints(now=timezone.now() + timedelta(days=1))] == ["globex"]


def test_a_database_checkpoint_that_differs_from_the_archives_copy_is_refused():
    from audit_events.checkpoints.services import CheckpointRefused

    append(3)
    checkpoint = make_checkpoint(tenant="acme")
    Checkpoint.objects.filter(pk=checkpoint.pk).update(document=checkpoint.document | {"time": "2020-01-01T00:00:00Z"})
    append(1)
    with pytest.raises(CheckpointRefused, match="the database's checkpoint at 3 differs from the archive's copy"):
        make_checkpoint(tenant="acme")


def test_a_database_checkpoint_whose_copy_is_gone_from_the_archive_is_refused():
    from audit_events.checkpoints.services import CheckpointRefused

    append(3)
    checkpoint = make_checkpoint(tenant="acme")
    storages["archive"].delete(archive_name(checkpoint.document))
    append(1)
    with pytest.raises(CheckpointRefused, match="the database holds a checkpoint at 3 the archive has no copy of"):
        make_checkpoint(tenant="acme")


def test_on_s3_only_the_copies_after_the_last_checkpoint_are_listed(archive_bucket):
    """Object Lock keeps every copy for years: each run must not list them all."""
    from audit_events.archive import archive_storage
    from audit_events.models import Checkpoint as Row

    for _ in range(3):
        append(2)
        last = make_checkpoint(tenant="acme")
    listed = []
    client = archive_storage().bucket.meta.client
    client.meta.events.register("after-call.s3.ListObjectsV2",
                                lambda parsed, **_: listed.append([c["Key"] for c in parsed.get("Contents", ())]))
    append(2)
    fourth = make_checkpoint(tenant="acme")
    assert listed == [[]]  # nothing after the last checkpoint's copy, in one request
    assert fourth.document["previous"] == hashlib.sha256(canonicalize(last.document)).hexdigest()

    Row.objects.filter(pk=fourth.pk).delete()  # as if its transaction had failed after the copy
    listed.clear()
    assert make_checkpoint(tenant="acme").document == fourth.document  # taken back from the bucket
    assert listed == [["checkpoints/acme/000000000000008.json"]]
