"""The hash chain against a committed test vector."""

import hashlib
import json
from pathlib import Path

from audit_events.hashing import GENESIS_HASH, event_hash, record_hash
from audit_events.jcs import canonicalize

VECTOR = json.loads((Path(__file__).parent / "vectors" / "hash_chain.json").read_text())


def test_vector_canonical_forms_match():
    for item in VECTOR["events"]:
        assert canonicalize(item["record"]).decode() == item["canonical"]


def test_vector_hashes_match_and_chain():
    prev = GENESIS_HASH
    for item in VECTOR["events"]:
        assert item["record"]["prev_hash"] == prev
        assert record_hash(item["record"]) == item["hash"]
        # the definition, spelled out with the standard library only
        assert hashlib.sha256(bytes.fromhex(prev) + item["canonical"].encode()).hexdigest() == item["hash"]
        prev = item["hash"]


def test_hash_ignores_a_hash_field_in_the_record():
    item = VECTOR["events"][0]
    assert record_hash({**item["record"], "hash": "f" * 64}) == item["hash"]


def test_any_change_changes_the_hash():
    item = VECTOR["events"][0]
    changed = json.loads(json.dumps(item["record"]))
    changed["payload"]["balance_cents"] = 1
    assert record_hash(changed) != item["hash"]
    assert event_hash("1" * 64, item["canonical"].encode()) != item["hash"]

