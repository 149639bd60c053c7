"""Daily archives and restore, end to end through the management commands: a store is
archived, restored into a new one over a database of its own, and verifies as the
original did (subprocesses: the event tables are append-only, a test cannot empty them)."""

import gzip
import shutil
from datetime import datetime, timedelta, timezone

import pytest

from tests.own_database import manage, portal_env

DUMP = """
import hashlib
from audit_events.store import get_event_store
store, digest, after, count = get_event_store(), hashlib.sha256(), 0, 0
while page := store.read_all(after_position=after, limit=1000):
    for event in page:
        digest.update(event.to_json().encode() + b"\\n")
        count += 1
    after = page[-1].position
print(count, digest.hexdigest())
"""
TOMORROW = (datetime.now(timezone.utc) + timedelta(days=1)).date().isoformat()


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    """A demo store and its archive (every event was recorded today: archived --before tomorrow)."""
    root = tmp_path_factory.mktemp("archive")
    env = portal_env(root / "original", AUDIT_ARCHIVE_DIR=str(root / "archive"))
    (root / "original").mkdir()
    manage(env, "migrate", "--noinput")
    manage(env, "bootstrap_demo", "--events", "300")
    out = manage(env, "export_archive", "--before", TOMORROW).stdout
    return root, env, out


def dump(env) -> str:
    """How many events the store holds and a digest of them all, as stored."""
    return manage(env, "shell", "-c", DUMP).stdout.strip().splitlines()[-1]


def fresh(root, name, archive):
    (root / name).mkdir()
    env = portal_env(root / name, AUDIT_ARCHIVE_DIR=str(archive))
    manage(env, "migrate", "--noinput")
    return env


def test_a_restored_store_holds_every_event_as_stored_and_verifies(original):
    root, env, out = original
    assert "1 day(s) archived" in out
    restored = fresh(root, "restored", root / "archive")
    assert "restored" in manage(restored, "restore_archive").stdout
    assert "verified" in manage(restored, "verify_chain").stdout
    count, digest = dump(restored).split()
    assert int(count) > 300 and (count, digest) == tuple(dump(env).split())
    manage(restored, "run_projector", "--once")  # the projections rebuild from the restored store


def test_an_embedded_stores_archive_restores_into_the_dynamodb_store(original, moto_url):
    """The way from one machine to AWS: the SQL store's archive, restored into DynamoDB."""
    import uuid

    from tests.conftest import AWS_TEST_ENV

    root, env, _ = original
    (root / "on-aws").mkdir()
    aws = portal_env(root / "on-aws", AUDIT_ARCHIVE_DIR=str(root / "archive"), AUDIT_STORE="dynamodb",
                     AUDIT_AWS_STAGE=f"t{uuid.uuid4().hex[:8]}", AWS_ENDPOINT_URL=moto_url, **AWS_TEST_ENV)
    manage(aws, "migrate", "--noinput")
    manage(aws, "bootstrap_aws")
    assert "restored" in manage(aws, "restore_archive").stdout
    assert "verified" in manage(aws, "verify_chain").stdout
    assert dump(aws) == dump(env)  # every event, its position, record and hash as stored
    manage(aws, "run_projector", "--once")  # the projections fill from the table's stream


def test_archiving_again_writes_nothing_new_and_restoring_into_a_used_store_is_refused(original):
    root, env, _ = original
    assert "0 day(s) archived" in manage(env, "export_archive", "--before", TOMORROW).stdout
    with pytest.raises(AssertionError, match="the event store is not empty"):
        manage(env, "restore_archive")


def test_a_changed_archive_is_named_and_nothing_is_loaded(original):
    root, _, _ = original
    changed = root / "changed"
    shutil.copytree(root / "archive", changed)
    (events,) = (changed / "events").iterdir()
    events.chmod(0o600)
    lines = gzip.decompress(events.read_bytes()).replace(b'"tenant":"acme-bank"', b'"tenant":"acme-bonk"', 1)
    events.write_bytes(gzip.compress(lines))
    target = fresh(root, "target", changed)
    with pytest.raises(AssertionError, match="does not match its manifest"):
        manage(target, "restore_archive")
    assert dump(target).startswith("0 ")
