"""The offline verifier (audit_events/offline/verify.py) on packages made by hand here, with the
RFC 8785 reference and the Merkle math, not by the portal's export: each kind of problem gets
its exit code and a message naming what is wrong; the first kind in the table decides the code."""

import ast
import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tomllib
import uuid
import zipfile
from pathlib import Path

import pytest
import rfc8785
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit_events.masking import mask_record
from audit_events.offline import merkle, verify
from audit_events.offline.verify import canonical_json, main

GENESIS = "0" * 64
REPO = Path(__file__).resolve().parents[3]
VERIFIER = REPO / "audit_events" / "offline" / "verify.py"
FILES = ("checkpoints.jsonl", "events.jsonl", "proofs.jsonl", "consistency.jsonl")


# -- packages by hand (test_attacks.py reads and rewrites the portal's with these too) ------------


def public_b64(private: Ed25519PrivateKey) -> str:
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def key_id(private: Ed25519PrivateKey) -> str:
    return hashlib.sha256(base64.b64decode(public_b64(private))).hexdigest()[:16]


def sign(document: dict, private: Ed25519PrivateKey, *, as_key: str | None = None) -> dict:
    """``document`` signed by ``private``, naming ``as_key`` (default: the key's own id)."""
    body = {k: v for k, v in document.items() if k != "signature"} | {"key_id": as_key or key_id(private)}
    return body | {"signature": base64.b64encode(private.sign(rfc8785.dumps(body))).decode()}


def checkpoint_hash(document: dict) -> str:
    return hashlib.sha256(rfc8785.dumps(document)).hexdigest()


def event_line(record: dict, *, leaf_index: int) -> dict:
    text = rfc8785.dumps(record).decode()
    digest = hashlib.sha256(bytes.fromhex(record["prev_hash"]) + text.encode()).hexdigest()
    return {"leaf_index": leaf_index, "hash": digest, "record": text}


def leaf(line: dict) -> bytes:
    return merkle.leaf_hash(bytes.fromhex(line["hash"]))


class Log:
    """A tenant's log made by hand: events chained per aggregate, signed checkpoints."""

    def __init__(self, tenant="acme", key=None, pii=()):
        self.tenant, self.key, self.pii = tenant, key or Ed25519PrivateKey.generate(), list(pii)
        self.events: list[dict] = []
        self.heads: dict[str, tuple[int, str]] = {}
        self.checkpoints: list[dict] = []

    def record(self, aggregate: str, **fields) -> dict:
        sequence, prev_hash = self.heads.get(aggregate, (0, GENESIS))
        return {"event_id": str(uuid.uuid4()), "tenant": self.tenant, "aggregate_type": "Account",
                "aggregate_id": aggregate, "event_type": "AccountUpdated", "sequence": sequence + 1,
                "prev_hash": prev_hash, "occurred_at": "2026-11-20T08:30:00.000000Z",
                "payload": {"n": len(self.events), "note": "Grüße ✓\n\"q\""}, "pii": self.pii} | fields

    def append(self, count: int = 1, aggregates=("a", "b", "c")) -> "Log":
        for _ in range(count):
            aggregate = aggregates[len(self.events) % len(aggregates)]
            line = event_line(self.record(aggregate), leaf_index=len(self.events))
            record = json.loads(line["record"])
            self.heads[aggregate] = (record["sequence"], line["hash"])
            self.events.append(line)
        return self

    def leaves(self) -> list[bytes]:
        return [leaf(line) for line in self.events]

    def checkpoint(self, key=None, time=None) -> dict:
        size = len(self.events)
        document = sign({"tenant": self.tenant, "tree_size": size, "root_hash": merkle.root(self.leaves()).hex(),
                         "previous": checkpoint_hash(self.checkpoints[-1]) if self.checkpoints else None,
                         "time": time or f"2026-11-27T06:{len(self.checkpoints):02d}:00.000000Z"}, key or self.key)
        self.checkpoints.append(document)
        return document

    def parts(self, only=None) -> dict:
        """The package's parts: every event (or the leaf indices ``only``), proofs against the newest."""
        size, leaves = self.checkpoints[-1]["tree_size"], self.leaves()
        events = [line for line in self.events if line["leaf_index"] < size and (only is None or
                                                                                line["leaf_index"] in only)]
        return {
            "manifest": {"tenant": self.tenant, "kind": "full" if only is None else "subset"},
            "checkpoints.jsonl": list(self.checkpoints),
            "events.jsonl": events,
            "proofs.jsonl": [proof(line, leaves, size) for line in events],
            "consistency.jsonl": [consistency(old, new, leaves) for old, new in
                                  zip(self.checkpoints, self.checkpoints[1:])],
        }


def proof(line: dict, leaves: list[bytes], size: int) -> dict:
    return {"event_id": json.loads(line["record"])["event_id"], "leaf_index": line["leaf_index"], "tree_size": size,
            "audit_path": [node.hex() for node in merkle.inclusion_proof_for(leaves, line["leaf_index"], size)]}


def consistency(old: dict, new: dict, leaves: list[bytes]) -> dict:
    return {"from": old["tree_size"], "to": new["tree_size"], "proof": [
        node.hex() for node in merkle.consistency_proof_for(leaves, old["tree_size"], new["tree_size"])]}


def write_package(path: Path, parts: dict, *, as_zip: bool = False) -> Path:
    """Write ``parts`` (as ``Log.parts`` or ``read_package`` give them) with a fresh manifest."""
    files = {name: b"".join(json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
                            for item in parts[name]) for name in FILES}
    manifest = {k: v for k, v in parts["manifest"].items() if k != "files"}
    manifest["files"] = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    files["manifest.json"] = json.dumps(manifest, indent=2).encode()
    if as_zip:
        with zipfile.ZipFile(path, "w") as package:
            for name, data in files.items():
                package.writestr(name, data)
    else:
        path.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (path / name).write_bytes(data)
    return path


def read_package(path: Path) -> dict:
    """A package's parts, parsed (a directory or a ZIP file)."""
    if path.is_dir():
        read = lambda name: (path / name).read_bytes()  # noqa: E731
    else:
        with zipfile.ZipFile(path) as package:
            contents = {name: package.read(name) for name in package.namelist()}
        read = contents.__getitem__
    parts = {name: [json.loads(line) for line in read(name).splitlines() if line.strip()] for name in FILES}
    parts["manifest"] = json.loads(read("manifest.json"))
    return parts


def run(capsys, *args) -> tuple[int, str]:
    code = main([str(arg) for arg in args])
    return code, capsys.readouterr().out


@pytest.fixture
def log() -> Log:
    """12 events in three aggregates, checkpoints at 4, 7 and 12."""
    log = Log()
    for count in (4, 3, 5):
        log.append(count).checkpoint()
    return log


@pytest.fixture
def check(tmp_path, capsys, log):
    """``check(parts, *options)``: write the parts and verify them with the log's key pinned."""

    def verify_parts(parts, *options, key=None):
        path = write_package(tmp_path / f"package-{uuid.uuid4().hex[:6]}", parts)
        return run(capsys, "--key", public_b64(key or log.key), *options, path)

    return verify_parts


# -- what verifies ---------------------------------------------------------------------------------


def test_a_full_package_verifies_as_a_directory_and_as_a_zip(tmp_path, capsys, log):
    for path in (write_package(tmp_path / "dir", log.parts()), write_package(tmp_path / "p.zip", log.parts(),
                                                                               as_zip=True)):
        code, out = run(capsys, "--key", public_b64(log.key), "--tenant", "acme", path)
        assert code == 0, out
        assert "3 signatures verified" in out and "2 consistency proofs verified" in out
        assert "12 hashes recomputed" in out and "12 inclusion proofs verified" in out
        assert "3 of 3 signed roots recomputed" in out and out.rstrip().splitlines()[-1].startswith("VERIFIED")


def test_a_subset_verifies_with_gaps_between_its_events(check, log):
    code, out = check(log.parts(only={1, 5, 10}))
    assert code == 0, out
    assert "subset package" in out and "3 inclusion proofs verified" in out and "roots" not in out


def mask(line: dict, **changes) -> dict:
    """``line`` as a reader without personal data gets it (its pii masked), ``changes`` made to its
    record afterwards; marked masked, its hash kept."""
    record = mask_record(json.loads(line["record"])) | changes
    return line | {"record": rfc8785.dumps(record).decode(), "masked": True}


@pytest.fixture
def personal(log):
    """As ``log`` (with its key), every event's ``note`` named personal data."""
    personal = Log(key=log.key, pii=["/note"])
    for count in (4, 3, 5):
        personal.append(count).checkpoint()
    return personal


def test_masked_events_are_reported_unverified_unless_allowed_and_never_said_to_match(check, personal):
    """A forger changing a masked record's other fields (its amount) keeps its hash: only the
    hash is proven, so the verifier says so, and exits 21 unless the auditor accepts that."""
    parts = personal.parts(only={2, 3})
    record = json.loads(parts["events.jsonl"][0]["record"])
    parts["events.jsonl"][0] = mask(parts["events.jsonl"][0], payload=mask_record(record)["payload"] | {"n": 10**6})
    code, out = check(parts)
    assert code == 21, out
    assert f"PROBLEM [masked events not verified] event {record['event_id']} (Account/c sequence 1, leaf 2" in out
    assert out.rstrip().splitlines()[-1].startswith(
        "NOT VERIFIED: 1 masked event: only its hash is proven to be in the signed log; its content is not verified")
    assert "exit 21: masked events not verified" in out and "--allow-masked" in out
    code, out = check(parts, "--allow-masked")
    assert code == 0, out
    assert "1 hash recomputed" in out and "1 masked (content not verified" in out and "2 inclusion proofs verified" in out
    assert "every record matches its hash" not in out and "every unmasked record matches its hash" in out
    assert "Accepted with --allow-masked: 1 masked event: only its hash is proven to be in the signed log; its " \
           "content is not verified" in out

    parts = personal.parts(only={2, 3, 4})
    parts["events.jsonl"][0] = mask(parts["events.jsonl"][0])
    parts["events.jsonl"][2] = mask(parts["events.jsonl"][2])
    code, out = check(parts, "--allow-masked")
    assert code == 0 and "2 masked events: only their hashes are proven to be in the signed log; their content " \
                         "is not verified" in out, out


def test_a_full_package_holds_no_masked_event(check, personal):
    full = personal.parts()
    full["events.jsonl"][2] = mask(full["events.jsonl"][2])
    code, out = check(full, "--allow-masked")
    assert code == 17 and "marked masked in a full package" in out, out


@pytest.mark.parametrize("pii, masked_payload, message", [
    ([], {"n": 2, "note": {"masked": True}}, "its pii lists no personal data"),
    (["/note"], {"n": 2, "note": "Grüße"}, 'its personal data at /note is not {"masked": true}'),
    (["/note"], {"n": 2, "note": {"masked": 1}}, 'its personal data at /note is not {"masked": true}'),
    (["/note", "/n"], {"n": 2, "note": {"masked": True}}, 'its personal data at /n is not {"masked": true}'),
    (["/note"], {"n": 2}, "its personal data at /note is missing"),
    ([5], {"n": 2, "note": {"masked": True}}, "its pii holds something other than JSON Pointers"),
])
def test_a_masked_record_must_hold_the_mask_at_each_of_its_pii_pointers(check, personal, pii, masked_payload,
                                                                       message):
    parts = personal.parts(only={2})
    parts["events.jsonl"][0] = mask(parts["events.jsonl"][0], pii=pii, payload=masked_payload)
    code, out = check(parts, "--allow-masked")
    assert code == 17, out
    assert f"marked masked, but {message}" in out and "this is not the stored record masked" in out


def test_a_pointer_inside_a_masked_value_is_masked_with_it(check):
    log = Log(pii=["/note", "/holder", "/holder/name", "/holder/tags/0"])
    log.record = lambda aggregate, _record=log.record: _record(aggregate) | {"payload": {
        "note": "n", "holder": {"name": "Ann", "tags": ["x"]}}}
    log.append(3).checkpoint()
    parts = log.parts(only={1})
    parts["events.jsonl"][0] = mask(parts["events.jsonl"][0])
    assert json.loads(parts["events.jsonl"][0]["record"])["payload"] == {"note": {"masked": True},
                                                                         "holder": {"masked": True}}
    code, out = check(parts, "--allow-masked", key=log.key)
    assert code == 0, out


@pytest.mark.parametrize("changes, message", [
    ({"sequence": 5}, "sequence"),
    ({"aggregate_id": "b"}, "aggregate"),
    ({"prev_hash": "ab" * 32}, "prev_hash"),
    ({"sequence": 1}, "sequence"),
])
def test_a_masked_records_place_must_agree_with_the_events_it_links_to(check, personal, changes, message):
    """Aggregate a holds leaves 0, 3, 6, 9 (sequences 1-4); sequence 2 is masked and moved."""
    parts = personal.parts(only={0, 3, 6})
    parts["events.jsonl"][1] = mask(parts["events.jsonl"][1], **changes)
    code, out = check(parts, "--allow-masked")
    assert code == 17, out
    modified = [line for line in out.splitlines() if line.startswith("PROBLEM [modified event]")]
    assert modified and all("masked" in line for line in modified), out
    assert any(message in line for line in modified), out


def test_a_masked_first_event_must_start_its_chain(check, personal):
    parts = personal.parts(only={3})
    parts["events.jsonl"][0] = mask(parts["events.jsonl"][0], sequence=1)
    code, out = check(parts, "--allow-masked")
    assert code == 17 and "a masked record of sequence 1 with prev_hash " + "0" * 6 not in out, out
    assert "a masked record of sequence 1 with prev_hash" in out and "only sequence 1 follows 64 zeros" in out
    parts = personal.parts(only={0})
    parts["events.jsonl"][0] = mask(parts["events.jsonl"][0], sequence=2)
    code, out = check(parts, "--allow-masked")
    assert code == 17 and "a masked record of sequence 2 with prev_hash 0000" in out, out


def test_a_package_in_a_folder_of_a_zip_is_found_with_within(tmp_path, capsys, log):
    inner = write_package(tmp_path / "p", log.parts())
    with zipfile.ZipFile(tmp_path / "bundle.zip", "w") as bundle:
        bundle.writestr("report.csv", "a,b\n")
        for file in inner.iterdir():
            bundle.write(file, f"verification/acme/{file.name}")
    code, out = run(capsys, "--key", public_b64(log.key), "--within", "verification/acme", tmp_path / "bundle.zip")
    assert code == 0, out


# -- each kind of problem: its code, and a message naming what is wrong ----------------------------------


def edit(parts, index, **payload):
    line = parts["events.jsonl"][index]
    record = json.loads(line["record"])
    line["record"] = rfc8785.dumps(record | {"payload": record["payload"] | payload}).decode()
    return json.loads(line["record"])["event_id"]


def test_modified_event(check, log):
    parts = log.parts()
    event_id = edit(parts, 5, n=999)
    code, out = check(parts)
    assert code == 17, out
    (line,) = [line for line in out.splitlines() if line.startswith("PROBLEM")]
    assert f"[modified event] event {event_id} (Account/c sequence 2, leaf 5" in line
    assert "the event was changed after it was hashed" in line


def test_deleted_event_leaves_a_chain_gap_and_a_missing_leaf(check, log):
    parts = log.parts()
    gone = parts["events.jsonl"].pop(4)  # aggregate b, sequence 2
    parts["proofs.jsonl"].pop(4)
    code, out = check(parts)
    assert code == 18, out
    assert json.loads(gone["record"])["sequence"] == 2
    assert "Account/b: the chain jumps from sequence 1 (leaf 1) to 3 (leaf 7): sequence 2 is missing" in out
    assert "1 leaf missing in the middle of the log (leaf 4)" in out


def test_a_broken_link_in_a_subset(check, log):
    """A subset cannot see a gap, but two consecutive events that do not link are a break."""
    log.events[4] = event_line(json.loads(log.events[4]["record"]) | {"payload": {"forged": True}}, leaf_index=4)
    log.checkpoints.clear()
    log.checkpoint()  # a log whose checkpoint signed the broken chain: only the chains show it
    code, out = check(log.parts(only={1, 4, 7}))
    assert code == 18 and "Account/b sequence 3" in out and "the chain is broken" in out


def test_reordered_events(check, log):
    parts = log.parts()
    events = parts["events.jsonl"]
    events[3], events[6] = events[6], events[3]  # both of aggregate a
    code, out = check(parts)
    assert code == 19, out
    assert "[reordered events]" in out and "comes after leaf 6" in out
    assert all("[reordered events]" in line for line in out.splitlines() if line.startswith("PROBLEM"))


def test_truncated_log(check, log):
    parts = log.parts()
    del parts["events.jsonl"][-3:], parts["proofs.jsonl"][-3:]
    code, out = check(parts)
    assert code == 14, out
    assert "the log stops at leaf 8 but the newest checkpoint signs 12 events: the last 3 events are missing" in out


def test_an_event_no_checkpoint_covers(check, log):
    parts = log.parts()
    log.append(1)
    parts["events.jsonl"].append(log.events[-1])
    code, out = check(parts)
    assert code == 16, out
    assert "leaf 12" in out and "no checkpoint covers it (the newest signs 12 events)" in out


def test_an_inserted_event_and_a_recomputed_chain_are_not_in_the_signed_log(check, log):
    """An operator rewriting aggregate b with fresh hashes: every chain holds, the log does not."""
    rewritten, head = [], GENESIS
    for line in log.events:
        record = json.loads(line["record"])
        if record["aggregate_id"] == "b":
            line = event_line(record | {"prev_hash": head, "payload": {"rewritten": True}},
                              leaf_index=line["leaf_index"])
            head = line["hash"]
        rewritten.append(line)
    parts = log.parts()
    parts["events.jsonl"] = rewritten
    code, out = check(parts)
    assert code == 15, out
    problems = [line for line in out.splitlines() if line.startswith("PROBLEM")]
    assert sum("its inclusion proof does not reach the root signed at size 12" in p for p in problems) == 4
    assert all("[not in the signed log]" in p for p in problems)  # no chain problem: they were recomputed
    assert "do not make the root signed at size 12" in out


def test_bad_signature(check, log):
    parts = log.parts()
    parts["checkpoints.jsonl"][-1]["time"] = "2026-11-27T07:00:00.000000Z"
    code, out = check(parts)
    assert code == 11, out
    assert "checkpoint at size 12 (checkpoints.jsonl line 3): its signature does not verify with pinned key " \
           f"{key_id(log.key)}" in out


def test_unknown_key_even_when_the_package_ships_it(check, log, tmp_path, capsys):
    forger = Ed25519PrivateKey.generate()
    parts = log.parts()
    parts["checkpoints.jsonl"][-1] = sign(parts["checkpoints.jsonl"][-1], forger)
    path = write_package(tmp_path / "forged", parts)
    (path / "keys.json").write_text(json.dumps({"keys": [{"key_id": key_id(forger), "algorithm": "ed25519",
                                                          "public_key": public_b64(forger)}]}))
    code, out = run(capsys, "--key", public_b64(log.key), path)
    assert code == 10, out
    assert f"signed by key {key_id(forger)}, which is not among the pinned keys ({key_id(log.key)})" in out
    assert "keys inside a package are never used" in out


@pytest.fixture
def rotated(tmp_path, log):
    """``log`` with its key rotated after the checkpoint at size 7 (06:01): the new key signed the
    one at 12 (06:02). ``keys`` is the keys file the portal publishes then."""
    new = Ed25519PrivateKey.generate()
    log.checkpoints[-1] = sign(log.checkpoints[-1], new)
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"keys": [
        {"key_id": key_id(log.key), "algorithm": "ed25519", "public_key": public_b64(log.key),
         "created_at": "2026-11-27T05:59:00.000000+00:00", "retired_at": "2026-11-27T06:01:30.000000+00:00"},
        {"key_id": key_id(new), "algorithm": "ed25519", "public_key": public_b64(new),
         "created_at": "2026-11-27T06:01:30.000000+00:00", "retired_at": None}]}))
    return log, new, keys


def test_a_rotated_key_verifies_with_the_keys_file(tmp_path, capsys, rotated):
    log, _, keys = rotated
    code, out = run(capsys, "--keys", keys, write_package(tmp_path / "p", log.parts()))
    assert code == 0 and "3 signatures verified" in out, out


@pytest.mark.parametrize("time, message", [
    ("2026-11-27T06:03:00.000000Z", "signed by key {old} at 2026-11-27T06:03:00.000000Z, after the key's retirement "
                                    "at 2026-11-27T06:01:30+00:00"),
    ("2026-11-27T06:01:10.000000Z", "signed by key {old} (created 2026-11-27T05:59:00+00:00), but the checkpoint at "
                                    "size 12 before it was signed by the newer key {new} (created "
                                    "2026-11-27T06:01:30+00:00)"),
    ("yesterday", "signed by key {old}, retired at 2026-11-27T06:01:30+00:00, and its time 'yesterday' is not a "
                  "date-time"),
])
def test_a_retired_key_signing_again_is_reported_unless_keys_are_pinned_without_dates(tmp_path, capsys, rotated,
                                                                                       time, message):
    """Someone holding the retired key extends the log and signs: after its retirement, or backdated."""
    log, new, keys = rotated
    log.append(3).checkpoint(key=log.key, time=time)
    path = write_package(tmp_path / "p", log.parts())
    code, out = run(capsys, "--keys", keys, path)
    assert code == 10, out
    (only,) = [line for line in out.splitlines() if line.startswith("PROBLEM")]
    assert only.startswith("PROBLEM [unknown key] checkpoint at size 15 (checkpoints.jsonl line 4): ")
    assert message.format(old=key_id(log.key), new=key_id(new)) in only
    assert run(capsys, "--key", public_b64(log.key), "--key", public_b64(new), path)[0] == 0


def test_a_checkpoint_you_hold_signed_after_its_keys_retirement(tmp_path, capsys, rotated):
    log, _, keys = rotated
    held = tmp_path / "held.json"
    held.write_text(json.dumps(sign(log.checkpoints[0] | {"time": "2026-11-27T07:00:00.000000Z"}, log.key)))
    code, out = run(capsys, "--keys", keys, "--checkpoint", held, write_package(tmp_path / "p", log.parts()))
    assert code == 10 and f"your checkpoint at size 4 ({held}): signed by key {key_id(log.key)} at " \
                          "2026-11-27T07:00:00.000000Z, after the key's retirement" in out, out


@pytest.mark.parametrize("dates, message", [
    ({"retired_at": "2026-11-27 06:00"}, "retired_at '2026-11-27 06:00' is not a date-time with an offset"),
    ({"created_at": "2026-11-27T06:00:00"}, "created_at '2026-11-27T06:00:00' is not a date-time with an offset"),
    ({"created_at": "2026-11-27T06:00:00Z", "retired_at": "2026-11-27T05:00:00Z"}, "is before created_at"),
])
def test_a_keys_files_dates_must_be_date_times_in_order(tmp_path, capsys, log, dates, message):
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"keys": [{"public_key": public_b64(log.key)} | dates]}))
    assert main(["--keys", str(keys), str(write_package(tmp_path / "p", log.parts()))]) == 2
    assert message in capsys.readouterr().err


def test_rollback_to_a_smaller_size(check, log):
    smaller = sign({k: v for k, v in log.checkpoints[0].items()} | {
        "previous": checkpoint_hash(log.checkpoints[-1]), "time": "2026-11-27T07:00:00.000000Z"}, log.key)
    parts = log.parts()
    parts["checkpoints.jsonl"].append(smaller)
    code, out = check(parts)
    assert code == 12, out
    assert "checkpoint at size 4 (checkpoints.jsonl line 4): follows a checkpoint at size 12" in out


def test_rollback_to_another_log_is_refused_by_the_consistency_proof(check, log):
    """The later checkpoints replaced by those of a log rewritten after size 4, chained to the
    last kept checkpoint and signed by the real key (an operator rebuilding the log)."""
    other = Log(key=log.key)
    other.events = log.events[:4]
    other.append(8, aggregates=("z",))
    other.checkpoints = log.checkpoints[:2]
    other.checkpoint()
    parts = other.parts()
    parts["consistency.jsonl"][0] = consistency(log.checkpoints[0], log.checkpoints[1], log.leaves())
    code, out = check(parts)
    assert code == 12, out
    assert "checkpoint at size 12 (checkpoints.jsonl line 3): does not extend the checkpoint at size 7" in out
    assert "[gap between checkpoints]" not in out


def test_gap_between_checkpoints(check, log):
    parts = log.parts()
    del parts["checkpoints.jsonl"][1]
    parts["consistency.jsonl"] = [consistency(log.checkpoints[0], log.checkpoints[2], log.leaves())]
    code, out = check(parts)
    assert code == 13, out
    assert "checkpoint at size 12 (checkpoints.jsonl line 2): its previous is " in out
    assert "the checkpoint before it (size 4) hashes to" in out and "was removed or replaced" in out
    parts = log.parts()
    del parts["checkpoints.jsonl"][0], parts["consistency.jsonl"][0]
    code, out = check(parts)
    assert code == 13 and "earlier checkpoints were removed" in out


def test_a_file_that_differs_from_the_manifest(check, log, tmp_path, capsys):
    path = write_package(tmp_path / "p", log.parts())
    (path / "consistency.jsonl").write_bytes((path / "consistency.jsonl").read_bytes().replace(b",", b", "))
    code, out = run(capsys, "--key", public_b64(log.key), path)
    assert code == 20, out
    assert "consistency.jsonl: its SHA-256 is" in out and "the file was changed after the package was made" in out


def test_several_kinds_exit_with_the_first_in_the_table_and_list_every_problem(check, log):
    parts = log.parts()
    edit(parts, 2, n=-1)  # modified (17)
    events = parts["events.jsonl"]
    events[0], events[1] = events[1], events[0]  # reordered (19)
    parts["checkpoints.jsonl"][-1] = sign(parts["checkpoints.jsonl"][-1], Ed25519PrivateKey.generate())  # 10
    code, out = check(parts)
    assert code == 10
    kinds = [line.split("]")[0] for line in out.splitlines() if line.startswith("PROBLEM")]
    assert kinds == ["PROBLEM [unknown key", "PROBLEM [modified event", "PROBLEM [reordered events"]
    assert "FAILED: 3 problems. exit 10: unknown key" in out


def test_hostile_lines_are_reported_not_a_crash(tmp_path, capsys, log):
    path = write_package(tmp_path / "p", log.parts(only={1}))
    with (path / "events.jsonl").open("ab") as events:
        events.write(b"[" * 100_000 + b"\n" + b"\xff\xfe\n" + b'{"leaf_index": 2, "hash": "00", "record": "{}"}\n')
        events.write(json.dumps({"leaf_index": 3, "hash": "0" * 64, "record": '{"x": "\ud800"}'}).encode() + b"\n")
    code, out = run(capsys, "--key", public_b64(log.key), path)
    assert code == 17, out
    assert "events.jsonl line 5: its record is not a JSON object" in out and "surrogate" in out
    assert "events.jsonl line 2: not JSON" in out and "events.jsonl line 3: not JSON" in out
    assert "events.jsonl line 4: leaf_index is not a whole number or hash not 64 lowercase hex digits" in out


# -- checkpoints held outside the package --------------------------------------------------------------


def test_a_checkpoint_held_outside_reveals_truncation_forks_and_removals(check, log, tmp_path):
    held = tmp_path / "held.json"
    older = Log(key=log.key)
    older.events, older.checkpoints = log.events[:7], log.checkpoints[:2]
    held.write_text(json.dumps(log.checkpoints[2], indent=2, sort_keys=True))  # as the archive keeps it

    assert check(older.parts())[0] == 0  # an operator cut the log back to size 7: alone, it verifies
    code, out = check(older.parts(), "--checkpoint", held)
    assert code == 14 and "the package's newest checkpoint is at size 7: the log was cut back" in out
    assert check(log.parts(), "--checkpoint", held)[0] == 0

    fork = Log(key=log.key)
    fork.events, fork.checkpoints = log.events[:7], log.checkpoints[:2]
    fork.append(5, aggregates=("z",)).checkpoint()
    code, out = check(fork.parts(), "--checkpoint", held)
    assert code == 12 and "the package's checkpoint at that size differs from it" in out

    held.write_text(json.dumps(log.checkpoints[1]))
    parts = log.parts()
    del parts["checkpoints.jsonl"][1]
    parts["checkpoints.jsonl"][1] = sign(parts["checkpoints.jsonl"][1] | {
        "previous": checkpoint_hash(log.checkpoints[0])}, log.key)
    parts["consistency.jsonl"] = [consistency(log.checkpoints[0], log.checkpoints[2], log.leaves())]
    code, out = check(parts, "--checkpoint", held)
    assert code == 13 and "your checkpoint at size 7" in out and "it is not among the package's checkpoints" in out


def test_a_held_copy_of_another_signing_of_the_same_log_is_a_note_not_a_fork(check, log, tmp_path):
    """An archive copy whose transaction failed, the same size signed again later (older portals
    kept both, the second as <size>-<time>.json): same root, same previous, another time."""
    held = tmp_path / "000000000000007.json"
    held.write_text(json.dumps(sign(log.checkpoints[1] | {"time": "2026-11-27T06:00:30.000000Z"}, log.key)))
    code, out = check(log.parts(), "--checkpoint", held)
    assert code == 0, out
    assert f"note: your checkpoint at size 7 ({held}) is another signing of the package's checkpoint at that size " \
           "(time 2026-11-27T06:00:30.000000Z, the package's 2026-11-27T06:01:00.000000Z)" in out
    held.write_text(json.dumps(sign(log.checkpoints[1] | {"previous": "ab" * 32}, log.key)))
    code, out = check(log.parts(), "--checkpoint", held)
    assert code == 12 and "the package's checkpoint at that size differs from it" in out


# -- usage and packages that cannot be verified -----------------------------------------------------------


def test_keys_must_be_pinned_and_a_keys_file_is_the_endpoints_format(tmp_path, capsys, log):
    path = write_package(tmp_path / "p", log.parts())
    assert main([str(path)]) == 2
    assert "pin at least one public key with --key or --keys" in capsys.readouterr().err
    assert main(["--key", "bm90IGEga2V5", str(path)]) == 2
    assert "not a base64 raw Ed25519 public key" in capsys.readouterr().err
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"keys": [{"key_id": key_id(log.key), "algorithm": "ed25519",
                                          "public_key": public_b64(log.key), "created_at": "2026-11-27T06:00:00Z",
                                          "retired_at": None}]}))
    assert run(capsys, "--keys", keys, path)[0] == 0
    keys.write_text(json.dumps({"keys": [{"key_id": "0123456789abcdef", "public_key": public_b64(log.key)}]}))
    assert main(["--keys", str(keys), str(path)]) == 2
    assert "is not that of its public key" in capsys.readouterr().err


@pytest.mark.parametrize("damage, message", [
    ("not a zip", "neither a directory nor a readable ZIP file"),
    ("no manifest", "manifest.json is missing"),
    ("no checkpoints", "holds no checkpoint of 'acme'"),
    ("other tenant", "the package is of tenant 'acme', not 'globex' (--tenant)"),
    ("missing file", "proofs.jsonl is missing from the package"),
    ("a subset for --full", "manifest.json calls the package a subset, and --full asks for the whole log"),
])
def test_what_cannot_be_verified_exits_3(tmp_path, capsys, log, damage, message):
    parts = log.parts(only={1, 2}) if damage == "a subset for --full" else log.parts()
    if damage == "no checkpoints":
        parts["checkpoints.jsonl"] = []
    path = write_package(tmp_path / "p", parts)
    options = {"other tenant": ["--tenant", "globex"], "a subset for --full": ["--full"]}.get(damage, [])
    if damage == "not a zip":
        path = tmp_path / "p.zip"
        path.write_bytes(b"PK not really")
    elif damage == "no manifest":
        (path / "manifest.json").unlink()
    elif damage == "missing file":
        (path / "proofs.jsonl").unlink()
    code, out = run(capsys, "--key", public_b64(log.key), *options, path)
    assert code == 3 and message in out


# -- the parts of the verifier -----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [
    {"tenant": "acme", "tree_size": 2**53 - 1, "root_hash": "ab" * 32, "previous": None, "time": "t", "key_id": "k"},
    {"b": "\u00e9\u20ac\U0001f600", "a": "\x00\x01\x1f\x7f\"\\/\b\f\n\r\t", "\u20ac": [1, -2, True, False, None],
     "\U0001f600": {}, "\ufb01": "", "": []},
])
def test_the_minimal_jcs_matches_the_reference(value):
    assert canonical_json(value) == rfc8785.dumps(value)


@pytest.mark.parametrize("value", [1.5, 2**53, {"a": 0.0}, {1: "x"}])
def test_the_minimal_jcs_refuses_what_checkpoints_never_hold(value):
    with pytest.raises(ValueError):
        canonical_json(value)


def test_roots_of_every_prefix_in_one_pass():
    leaves = [merkle.leaf_hash(bytes([n])) for n in range(40)]
    roots = verify._prefix_roots(iter(leaves), set(range(1, 41)))
    assert all(roots[size] == merkle.root(leaves[:size]) for size in range(1, 41))


def test_the_verifier_imports_only_the_standard_library_cryptography_and_merkle_and_parses_as_python_3_9():
    tree = ast.parse(VERIFIER.read_text(), feature_version=(3, 9))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or "").split(".")[0])
    assert imported - set(sys.stdlib_module_names) == {"cryptography", "."}
    assert "merkle" in {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level
                        for alias in node.names}


def test_a_copied_pair_of_files_runs_alone_in_isolated_mode(tmp_path, log):
    for name in ("verify.py", "merkle.py"):
        shutil.copy(VERIFIER.parent / name, tmp_path / name)
    package = write_package(tmp_path / "p.zip", log.parts(), as_zip=True)
    command = [sys.executable, "-I", "verify.py", "--key", public_b64(log.key), str(package)]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    (tmp_path / "merkle.py").unlink()
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "verify.py needs merkle.py beside it" in result.stderr


def test_the_console_script_is_declared():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, function = scripts["audit-verify"].partition(":")
    assert module == "audit_events.offline.verify" and getattr(verify, function) is main
