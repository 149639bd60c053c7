"""Data subjects' keys and sealed values: the ground crypto-shredding stands on."""

import binascii
import uuid
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidTag
from django.utils import timezone
from hypothesis import given, settings as hypothesis_settings, strategies as st

from audit_events.aws import aws_client
from audit_events.models import SubjectKey
from audit_events.privacy.envelopes import SealError, is_envelope, open_value, seal_value
from audit_events.privacy.keys import (
    UNWRAPPED, KMSMasterKey, LocalMasterKey, destroy_subject_key, get_master_key, key_by_id, subject_key,
    subject_keys,
)

pytestmark = pytest.mark.django_db
KEY = bytes(range(32))
EVENT = "6f1c8a52-3a0e-4b7e-9d55-0c1f2b3a4d5e"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


@hypothesis_settings(max_examples=200, deadline=None)
@given(value=json_values)
def test_a_sealed_value_opens_to_itself_and_seals_the_same_way_again(value):
    envelope = seal_value(value, key=KEY, key_id="k1", event_id=EVENT, pointer="/holder/name")
    assert is_envelope(envelope) and envelope["kid"] == "k1"
    assert open_value(envelope, key=KEY) == value
    # A publisher's retry seals to the same bytes: the record, and its hash, are the same.
    assert seal_value(value, key=KEY, key_id="k1", event_id=EVENT, pointer="/holder/name") == envelope


def test_an_envelope_opens_only_unchanged_and_with_its_own_key():
    envelope = seal_value({"name": "Ann"}, key=KEY, key_id="k1", event_id=EVENT, pointer="/holder")
    other = seal_value({"name": "Ann"}, key=KEY, key_id="k1", event_id=str(uuid.uuid4()), pointer="/holder")
    assert other != envelope and open_value(other, key=KEY) == open_value(envelope, key=KEY)  # no two alike
    with pytest.raises(SealError):
        open_value(envelope, key=bytes(32))  # another key
    with pytest.raises(SealError):
        open_value(envelope | {"kid": "k2"}, key=KEY)  # relabelled
    flipped = envelope | {"ct": envelope["ct"][:-4] + ("AAAA" if envelope["ct"][-4:] != "AAAA" else "BBBB")}
    with pytest.raises(SealError):
        open_value(flipped, key=KEY)


def test_a_subjects_key_is_made_once_read_by_id_and_destroyed_for_good():
    made = subject_key(tenant="acme", subject="pat-42")
    assert subject_key(tenant="acme", subject="pat-42") == made  # the same key each time
    assert subject_key(tenant="globex", subject="pat-42") != made  # per tenant
    key_id, key = made
    assert key_by_id(key_id) == key
    row = SubjectKey.objects.get(key_id=key_id)
    assert key.hex() not in row.wrapped and row.master_key.startswith("local:")
    assert abs(row.created_at - timezone.now()) < timedelta(minutes=5) and row.destroyed_at is None
    destroyed = destroy_subject_key(tenant="acme", subject="pat-42")
    assert destroyed.destroyed_at is not None and destroyed.wrapped == ""
    assert key_by_id(key_id) is None and subject_key(tenant="acme", subject="pat-42") is None
    assert destroy_subject_key(tenant="acme", subject="nobody") is None


def test_keys_are_unwrapped_once_per_process_yet_an_erasure_elsewhere_takes_effect_at_once(monkeypatch):
    master, unwrapped = get_master_key(), []
    real = master.unwrap
    monkeypatch.setattr(master, "unwrap", lambda wrapped, context: unwrapped.append(context) or real(
        wrapped, context=context))
    UNWRAPPED.clear()
    made = subject_keys({("acme", f"pat-{n}") for n in range(3)} | {("globex", "pat-1")})
    assert unwrapped == []  # the keys just made are known without unwrapping them
    UNWRAPPED.clear()
    for _ in range(3):  # three batches naming the same subjects
        assert subject_keys(set(made)) == made
        assert key_by_id(made[("acme", "pat-1")][0]) == made[("acme", "pat-1")][1]
    assert sorted(unwrapped) == sorted(f"{t}\0{s}" for t, s in made)  # once each

    # Another process destroys a key: this one's memory of it is never used.
    key_id = made[("acme", "pat-1")][0]
    SubjectKey.objects.filter(key_id=key_id).update(wrapped="", destroyed_at="2026-11-27T00:00:00Z")
    assert subject_keys({("acme", "pat-1")}) == {("acme", "pat-1"): None}
    assert key_by_id(key_id) is None
    assert key_id not in UNWRAPPED._keys  # and no longer kept in this process's memory
    assert subject_key(tenant="acme", subject="pat-2") == made[("acme", "pat-2")]


def test_the_memory_of_keys_is_swept_bounded_and_shared_safely_by_threads():
    import sys
    import threading

    from audit_events.privacy.keys import _Unwrapped

    memory = _Unwrapped()
    memory.TTL, memory.SWEEP, memory.LIMIT = 0.0, 0.0, 50
    memory.put("k1", "w1", KEY)
    memory.forget("nothing")
    assert "k1" in memory._keys
    with pytest.raises(binascii.Error):  # expired, so unwrapped again: "w1" is no wrapped key
        memory.get("k1", "w1", tenant="acme", subject="pat-1")
    assert "k1" not in memory._keys  # swept on the next use

    memory.TTL, memory.LIMIT = 0.01, 200  # full and sweeping often, while other threads add theirs
    failures = []

    def hammer(n):
        try:
            for i in range(5000):
                memory.put(f"{n}-{i}", "w", KEY)
        except Exception as error:  # e.g. a dict changed size during iteration
            failures.append(error)

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(8)]
    switching = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns often, as under load
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(switching)
    assert failures == [] and len(memory._keys) <= memory.LIMIT


def test_the_local_master_key_binds_each_wrapped_key_to_its_subject(tmp_path):
    master = LocalMasterKey(tmp_path / "master.key")
    key, wrapped = master.new_key(context="acme\0pat-42")
    assert master.unwrap(wrapped, context="acme\0pat-42") == key and len(key) == 32
    with pytest.raises(InvalidTag):
        master.unwrap(wrapped, context="acme\0pat-43")
    assert (tmp_path / "master.key").stat().st_mode & 0o077 == 0


def test_kms_wraps_subjects_keys_with_the_subject_as_encryption_context(aws_endpoint, settings):
    arn = aws_client("kms").create_key(Description="data key")["KeyMetadata"]["Arn"]
    settings.AUDIT_MASTER_KEY, settings.AUDIT_MASTER_KMS_KEY_ID = "kms", arn
    get_master_key.cache_clear()
    try:
        key_id, key = subject_key(tenant="acme", subject="pat-7")
        assert SubjectKey.objects.get(key_id=key_id).master_key == arn and key_by_id(key_id) == key
        _, wrapped = KMSMasterKey().new_key(context="acme\0pat-7")
        with pytest.raises(ClientError, match="InvalidCiphertextException"):
            KMSMasterKey().unwrap(wrapped, context="acme\0pat-8")
    finally:
        get_master_key.cache_clear()


def test_a_batchs_sealed_values_are_opened_with_keys_read_together(django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from audit_events.privacy.sealing import KeyCache, open_record
    from audit_events.search.sql import SQLSearchIndex
    from audit_events.store import get_event_store
    from tests.audit_events.store.contracts import event

    store = get_event_store()
    results = store.append([event(aggregate_id=f"acc-{n}", payload={"holder": {"name": f"Person {n}"}})
                            for n in range(20)])
    stored = store.get_many([r.event_id for r in results])
    with CaptureQueriesContext(connection) as queries:
        SQLSearchIndex().index(stored)
    assert sum("audit_subject_key" in q["sql"] for q in queries.captured_queries) == 1  # not one per subject
    keys = KeyCache()
    keys.preload_sealed([e.record for e in stored])
    with django_assert_num_queries(0):  # a page's records then open without the database
        opened = [open_record(e.record, keys) for e in stored]
    assert [r["payload"]["holder"]["name"] for r in opened] == [f"Person {n}" for n in range(20)]
