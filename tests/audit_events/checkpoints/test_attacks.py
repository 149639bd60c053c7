"""Attacks on a tenant's log, each caught by the offline verifier with its own exit code and a
message naming what was touched.

The log is built by the real code (the store, the projector, make_checkpoint) in a database of
its own, in a subprocess: the event table is append-only by triggers, and an operator's attacks
need them dropped. The export command writes the package an auditor would get. Then:

- attacks on the package (someone between the portal and the auditor) tamper with a copy of
  its files, rewriting the manifest as a careful forger would;
- attacks by an operator who owns the database tamper with a copy of it (triggers dropped) and
  export again, so the package is what the portal itself would hand out.
"""

import hashlib
import json
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import CommandError, call_command

from audit_events.checkpoints.package import PackageError, export_package
from audit_events.checkpoints.selectors import published_keys
from audit_events.checkpoints.services import make_checkpoint
from audit_events.checkpoints.signing import get_checkpoint_signer
from audit_events.offline import merkle
from audit_events.offline.verify import main
from audit_events.projector import catch_up
from audit_events.store import get_event_store
from tests.audit_events.offline.test_verify import (
    consistency, key_id, leaf, proof, read_package, sign, write_package,
)
from tests.audit_events.store.contracts import event
from tests.own_database import manage, portal_env

OFFLINE = Path(__file__).resolve().parents[3] / "audit_events" / "offline"

# acme's events n = 0..21 are leaves 0..21, in aggregates acc-{n % 3} (sequence n // 3 + 1), with
# a checkpoint after 5, 9, 16 and 22 of them; globex's events interleave in the feed.
BUILD = """
import json
from audit_events.checkpoints.selectors import published_keys
from audit_events.checkpoints.services import make_checkpoint
from audit_events.projector import catch_up
from audit_events.schema import EventIn
from audit_events.store import get_event_store

def event(tenant, aggregate, n):
    return EventIn.model_validate({
        "tenant": tenant, "aggregate_type": "Account", "aggregate_id": aggregate, "event_type": "AccountUpdated",
        "occurred_at": "2026-11-20T09:30:00.250000+01:00", "actor": {"id": "u-jsmith", "type": "user"},
        "pii": ["/holder"], "payload": {"holder": "Ann Example", "n": n, "note": "Grüße ✓\\n\\"quoted\\""}})

n = 0
for count in (5, 4, 7, 6):
    batch = []
    for _ in range(count):
        batch.append(event("acme", f"acc-{n % 3}", n))
        if n % 4 == 0:
            batch.append(event("globex", "g-1", n))
        n += 1
    get_event_store().append(batch)
    catch_up()
    make_checkpoint(tenant="acme")
print(json.dumps({"keys": published_keys()}))
"""

# Run first in every operator attack: the owner of the database drops the append-only triggers.
OPERATOR = """
import json, os
from django.core.management import call_command
from django.db import connection
from audit_events import triggers
from audit_events.hashing import GENESIS_HASH, event_hash
from audit_events.jcs import canonicalize
from audit_events.models import AggregateHead, Checkpoint, MerkleLeaf, MerkleLog, MerkleNode, StoredEvent as Row
triggers.remove(connection)

def at_leaf(index):
    return str(MerkleLeaf.objects.get(tenant="acme", leaf_index=index).event_id)

def rewrite_chain(aggregate_id, sequence):
    '''Change the event at ``sequence`` and recompute every hash of its aggregate from there on.'''
    prev = GENESIS_HASH
    for row in Row.objects.filter(tenant="acme", aggregate_id=aggregate_id).order_by("sequence"):
        if row.sequence < sequence:
            prev = row.hash
            continue
        record = json.loads(row.record)
        if row.sequence == sequence:
            record["payload"]["n"] = -1
        text = canonicalize(record | {"prev_hash": prev}).decode()
        prev = event_hash(prev, text.encode())
        Row.objects.filter(pk=row.pk).update(record=text, hash=prev)
    AggregateHead.objects.filter(tenant="acme", aggregate_id=aggregate_id).update(last_hash=prev)
"""
EXPORT = """
from audit_events.checkpoints.package import export_package
export_package(tenant="acme", out_path=os.environ["ATTACK_OUT"])
"""


@dataclass
class Original:
    root: Path
    var: Path
    keys: Path
    package: Path

    def archived(self, size: int) -> Path:
        """The copy of a checkpoint make_checkpoint wrote to the archive storage (kept outside)."""
        return self.var / "archive" / "checkpoints" / "acme" / f"{size:015d}.json"


@pytest.fixture(scope="module")
def original(tmp_path_factory) -> Original:
    root = tmp_path_factory.mktemp("attacks")
    var = root / "original"
    var.mkdir()
    env = portal_env(var)
    manage(env, "migrate", "--noinput")
    keys = root / "keys.json"
    keys.write_text(manage(env, "shell", "-c", BUILD).stdout.strip().splitlines()[-1])
    out = manage(env, "export_verification", "--tenant", "acme", "--out", str(root / "full.zip")).stdout
    assert "full verification package of acme: 22 events, 4 checkpoints (the newest at size 22)" in out
    return Original(root, var, keys, root / "full.zip")


def verify(capsys, original, package, *options) -> tuple[int, str]:
    code = main(["--keys", str(original.keys), *map(str, options), str(package)])
    return code, capsys.readouterr().out


def problems(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("PROBLEM")]


def operator(original, name: str, script: str) -> tuple[Path, str]:
    """Run ``script`` as the database's owner on a copy of it, then export again."""
    var = original.root / name
    shutil.copytree(original.var, var)
    out = original.root / f"{name}.zip"
    env = portal_env(var, ATTACK_OUT=str(out))
    result = manage(env, "shell", "-c", OPERATOR + textwrap.dedent(script) + EXPORT)
    return out, result.stdout


def tampered(original, name: str, change) -> Path:
    """A copy of the exported package with ``change(parts)`` applied and the manifest made to fit."""
    parts = read_package(original.package)
    change(parts)
    return write_package(original.root / name, parts)


def reprove(parts: dict) -> None:
    """What a forger holding a full package can recompute: proofs and consistency from its leaves."""
    leaves = [leaf(line) for line in parts["events.jsonl"]]
    checkpoints = parts["checkpoints.jsonl"]
    parts["proofs.jsonl"] = [proof(line, leaves, checkpoints[-1]["tree_size"]) for line in parts["events.jsonl"]]
    parts["consistency.jsonl"] = [consistency(old, new, leaves) for old, new in zip(checkpoints, checkpoints[1:])]


def record(line: dict) -> dict:
    return json.loads(line["record"])


# -- the untouched log ---------------------------------------------------------------------------------


def test_the_exported_log_verifies_in_process_and_as_two_copied_files_in_isolated_mode(original, capsys, tmp_path):
    code, out = verify(capsys, original, original.package, "--full", "--tenant", "acme")
    assert code == 0, out
    assert "4 signatures verified" in out and "3 consistency proofs verified" in out
    assert "22 hashes recomputed" in out and "22 inclusion proofs verified" in out
    assert "4 of 4 signed roots recomputed" in out
    for name in ("verify.py", "merkle.py"):
        shutil.copy(OFFLINE / name, tmp_path / name)
    result = subprocess.run([sys.executable, "-I", "verify.py", "--keys", str(original.keys), "--full", "--tenant",
                             "acme", str(original.package)], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout == out.replace("\r", ""), result.stdout + result.stderr


# -- attacks on the package ----------------------------------------------------------------------------


def test_edit_an_event(original, capsys):
    def change(parts):
        line = parts["events.jsonl"][4]
        line["record"] = line["record"].replace('"n":4,', '"n":40000,')

    code, out = verify(capsys, original, tampered(original, "edited", change))
    assert code == 17, out
    (only,) = problems(out)
    assert only.startswith("PROBLEM [modified event] event ") and "(Account/acc-1 sequence 2, leaf 4" in only


def test_reorder_two_events(original, capsys):
    def change(parts):
        events = parts["events.jsonl"]
        events[3], events[6] = events[6], events[3]

    code, out = verify(capsys, original, tampered(original, "reordered", change))
    assert code == 19, out
    assert "(Account/acc-0 sequence 2, leaf 3, events.jsonl line 7): comes after leaf 5" in out


def test_truncate_the_log(original, capsys):
    def change(parts):
        del parts["events.jsonl"][-4:], parts["proofs.jsonl"][-4:]

    code, out = verify(capsys, original, tampered(original, "truncated", change))
    assert code == 14, out
    assert "the log stops at leaf 17 but the newest checkpoint signs 22 events: the last 4 events are missing" in out


def test_insert_an_event_no_checkpoint_covers(original, capsys):
    def change(parts):
        last = parts["events.jsonl"][-1]  # acc-0's newest
        forged = record(last) | {"event_id": "0badc0de-0000-4000-8000-000000000000", "sequence": 9,
                                 "prev_hash": last["hash"], "payload": {"n": 22, "note": "slipped in"}}
        text = rfc8785.dumps(forged).decode()
        digest = hashlib.sha256(bytes.fromhex(last["hash"]) + text.encode()).hexdigest()
        parts["events.jsonl"].append({"leaf_index": 22, "hash": digest, "record": text})

    code, out = verify(capsys, original, tampered(original, "inserted-late", change))
    assert code == 16, out
    assert "event 0badc0de-0000-4000-8000-000000000000 (Account/acc-0 sequence 9, leaf 22" in out
    assert "no checkpoint covers it (the newest signs 22 events)" in out


@pytest.mark.parametrize("named, expected", [("as the portal's key", 11), ("as itself", 10)])
def test_forge_a_checkpoint_over_an_edited_log(original, capsys, named, expected):
    """The forger edits acc-1's newest event, rehashes it, remakes every proof from the leaves
    and signs a new newest checkpoint with a key of their own."""
    forger = Ed25519PrivateKey.generate()
    portal_key = json.loads(original.keys.read_text())["keys"][0]["key_id"]

    def change(parts):
        line = parts["events.jsonl"][19]  # acc-1 sequence 7: no event follows it in its chain
        text = line["record"].replace('"n":19,', '"n":-19,')
        line |= {"record": text, "hash": hashlib.sha256(bytes.fromhex(record(line)["prev_hash"]) +
                                                        text.encode()).hexdigest()}
        newest = parts["checkpoints.jsonl"][-1]
        newest["root_hash"] = merkle.root([leaf(line) for line in parts["events.jsonl"]]).hex()
        parts["checkpoints.jsonl"][-1] = sign(newest, forger, as_key=portal_key if expected == 11 else None)
        reprove(parts)

    code, out = verify(capsys, original, tampered(original, f"forged-{expected}", change))
    assert code == expected, out
    (only,) = problems(out)
    if expected == 11:
        assert f"checkpoint at size 22 (checkpoints.jsonl line 4): its signature does not verify with pinned key " \
               f"{portal_key}" in only
    else:
        assert f"signed by key {key_id(forger)}, which is not among the pinned keys ({portal_key})" in only


# -- attacks by the operator, on a copy of the database ----------------------------------------------


def test_delete_an_event(original, capsys):
    package, _ = operator(original, "deleted", """
        Row.objects.filter(event_id=at_leaf(7)).delete()  # acc-1, sequence 3
    """)
    code, out = verify(capsys, original, package)
    assert code == 18, out
    assert problems(out) == [
        "PROBLEM [deleted event] Account/acc-1: the chain jumps from sequence 2 (leaf 4) to 4 (leaf 10): "
        "sequence 3 is missing (deleted)",
        "PROBLEM [deleted event] events.jsonl: 1 leaf missing in the middle of the log (leaf 7): events were deleted",
    ]


def test_insert_an_event_into_the_log(original, capsys):
    """A backdated event slipped in at leaf 3, the later leaves moved up by one."""
    package, stdout = operator(original, "inserted", """
        from audit_events.schema import EventIn
        from audit_events.store import get_event_store
        (added,) = get_event_store().append([EventIn.model_validate({
            "tenant": "acme", "aggregate_type": "Account", "aggregate_id": "backdated", "event_type": "AccountOpened",
            "occurred_at": "2026-01-01T00:00:00Z", "actor": {"id": "u-jsmith", "type": "user"}, "payload": {}})])
        for leaf in MerkleLeaf.objects.filter(tenant="acme", leaf_index__gte=3).order_by("-leaf_index"):
            MerkleLeaf.objects.filter(pk=leaf.pk).update(leaf_index=leaf.leaf_index + 1)
        MerkleLeaf.objects.create(event_id=added.event_id, tenant="acme", leaf_index=3,
                                  position=get_event_store().get(added.event_id).position,
                                  aggregate_type="Account", aggregate_id="backdated", sequence=1)
        print("inserted", added.event_id)
    """)
    inserted = stdout.split("inserted ")[1].split()[0]
    code, out = verify(capsys, original, package)
    assert code == 15, out
    assert f"event {inserted} (Account/backdated sequence 1, leaf 3, events.jsonl line 4): its inclusion proof does " \
           "not reach the root signed at size 22" in out
    assert {line.split("]")[0] for line in problems(out)} == {"PROBLEM [not in the signed log"}


def test_recompute_a_whole_aggregates_chain(original, capsys):
    """An operator rewriting history with fresh hashes: every chain verifies, the log does not."""
    package, stdout = operator(original, "recomputed", """
        rewrite_chain("acc-2", 2)  # from leaf 5 on
        call_command("verify_chain", "--tenant", "acme")
    """)
    assert "verified 22 events in 3 aggregates" in stdout
    code, out = verify(capsys, original, package)
    assert code == 15, out
    failed = [line for line in problems(out) if "its inclusion proof does not reach the root" in line]
    assert [line.split("(Account/")[1].split(",")[0] for line in failed] == [
        f"acc-2 sequence {n}" for n in range(2, 8)]
    assert "the first 9 events of events.jsonl do not make the root signed at size 9" in out
    assert "[deleted event]" not in out and "[modified event]" not in out


def test_remove_a_checkpoint(original, capsys):
    package, _ = operator(original, "removed", """
        Checkpoint.objects.filter(tenant="acme", tree_size=9).delete()
    """)
    code, out = verify(capsys, original, package)
    assert code == 13, out
    (only,) = problems(out)
    assert "checkpoint at size 16 (checkpoints.jsonl line 2): its previous is " in only
    assert "the checkpoint before it (size 5) hashes to" in only
    code, out = verify(capsys, original, package, "--checkpoint", original.archived(9))
    assert code == 13 and "your checkpoint at size 9" in out and "it is not among the package's checkpoints" in out


def test_roll_back_to_another_log(original, capsys):
    """The operator rewrites acc-0 from leaf 12 on, rebuilds the tenant's Merkle log from the store,
    and replaces the newest checkpoint by one of the new log, chained to the one before and
    signed with the portal's own key."""
    package, stdout = operator(original, "rolled-back", """
        import base64, hashlib
        from audit_events.checkpoints.log import MerkleLogProjection, TenantTree
        from audit_events.checkpoints.services import CheckpointRefused, make_checkpoint, signed_part
        from audit_events.checkpoints.signing import get_checkpoint_signer
        from audit_events.store import get_event_store
        rewrite_chain("acc-0", 5)
        for model in (MerkleLeaf, MerkleNode, MerkleLog):
            model.objects.filter(tenant="acme").delete()
        MerkleLogProjection().handle([e for e in get_event_store().read_all(limit=1000) if e.tenant == "acme"])
        Checkpoint.objects.filter(tenant="acme", tree_size=22).delete()
        try:
            make_checkpoint(tenant="acme")  # the portal compares with the archive's copy first
        except CheckpointRefused as refused:
            print("refused:", refused)
        # An operator holding the key signs anyway, chained to the checkpoint before.
        before = Checkpoint.objects.get(tenant="acme", tree_size=16).document
        signer = get_checkpoint_signer()
        body = {"tenant": "acme", "tree_size": 22, "root_hash": TenantTree("acme").root(22).hex(),
                "previous": hashlib.sha256(canonicalize(before)).hexdigest(), "time": before["time"],
                "key_id": signer.key_id}
        document = body | {"signature": base64.b64encode(signer.sign(signed_part(body))).decode()}
        Checkpoint.objects.create(tenant="acme", tree_size=22, root_hash=body["root_hash"], key_id=signer.key_id,
                                  made_at=Checkpoint.objects.get(tenant="acme", tree_size=16).made_at,
                                  document=document)
    """)
    # the portal itself refuses: the archive's copy at 22 is not the rewritten log's
    assert "refused: acme: the archive's checkpoint at 22 does not match the database's log" in stdout, stdout
    code, out = verify(capsys, original, package)
    assert code == 12, out
    assert "checkpoint at size 22 (checkpoints.jsonl line 4): does not extend the checkpoint at size 16" in out
    assert "[gap between checkpoints]" not in out and "[bad signature]" not in out
    code, out = verify(capsys, original, package, "--checkpoint", original.archived(22))
    assert code == 12 and "the package's checkpoint at that size differs from it" in out


def test_truncation_by_the_operator_shows_only_against_a_checkpoint_held_outside(original, capsys):
    package, _ = operator(original, "cut", """
        for index in range(16, 22):
            Row.objects.filter(event_id=at_leaf(index)).delete()
        Checkpoint.objects.filter(tenant="acme", tree_size=22).delete()
    """)
    code, out = verify(capsys, original, package)
    assert code == 0, out  # consistent in itself: the limit docs/VERIFY.md states
    code, out = verify(capsys, original, package, "--checkpoint", original.archived(22))
    assert code == 14, out
    assert "the package's newest checkpoint is at size 16: the log was cut back" in out


# -- the export, in process ------------------------------------------------------------------------------


@pytest.fixture
def acme_log(db, settings, tmp_path):
    """acme: 7 events, checkpoints at 4 and 6; the 7th covered by none. A key of the test's own."""
    settings.AUDIT_CHECKPOINT_KEY_FILE = str(tmp_path / "keys" / "checkpoint.pem")
    get_checkpoint_signer.cache_clear()
    ids = []
    for count in (4, 2, 1):
        ids += [r.event_id for r in get_event_store().append(
            [event(tenant="acme", aggregate_id=f"a-{n % 2}", payload={"n": n}, pii=["/n"]) for n in range(count)])]
        catch_up()
        if count > 1:
            make_checkpoint(tenant="acme")
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"keys": published_keys()}))
    yield ids, keys
    get_checkpoint_signer.cache_clear()


def test_export_a_full_and_a_subset_package(acme_log, tmp_path, capsys):
    ids, keys = acme_log
    summary = export_package(tenant="acme", out_path=tmp_path / "full")
    assert (summary.kind, summary.events, summary.checkpoints, summary.tree_size) == ("full", 6, 2, 6)
    assert main(["--keys", str(keys), str(tmp_path / "full")]) == 0
    subset = export_package(tenant="acme", out_path=tmp_path / "subset.zip", event_ids=[ids[5], ids[1], ids[6]])
    assert (subset.kind, subset.events, subset.not_covered) == ("subset", 2, [ids[6]])
    assert [line["leaf_index"] for line in read_package(tmp_path / "subset.zip")["events.jsonl"]] == [1, 5]
    assert main(["--keys", str(keys), str(tmp_path / "subset.zip")]) == 0
    assert "1 requested event left out by the portal" in capsys.readouterr().out


def masked_text(event_id: str) -> str:
    """The record as a reader without personal data sees it in a bundle (ExportReader.evidence)."""
    import orjson

    from audit_events.masking import mask_record

    return orjson.dumps(mask_record(get_event_store().get(event_id).record), option=orjson.OPT_SORT_KEYS).decode()


def test_a_masked_text_is_shipped_in_place_of_the_stored_record(acme_log, tmp_path, capsys):
    ids, keys = acme_log
    masked = masked_text(ids[2])
    summary = export_package(tenant="acme", out_path=tmp_path / "p", event_ids=[ids[2], ids[3]],
                             masked={ids[2]: masked})
    assert summary.masked == 1
    (first, _) = read_package(tmp_path / "p")["events.jsonl"]
    assert first["record"] == masked and first["masked"] is True
    assert main(["--keys", str(keys), str(tmp_path / "p")]) == 21
    assert "NOT VERIFIED: 1 masked event: only its hash is proven" in capsys.readouterr().out
    assert main(["--keys", str(keys), "--allow-masked", str(tmp_path / "p")]) == 0
    out = capsys.readouterr().out
    assert "1 hash recomputed" in out and "1 masked" in out and "every unmasked record matches its hash" in out


def test_a_forged_masked_record_is_never_said_to_match(acme_log, tmp_path, capsys):
    """The review's attack: a masked record's amount changed, its hash kept."""
    ids, keys = acme_log
    masked = masked_text(ids[2])
    export_package(tenant="acme", out_path=tmp_path / "p", event_ids=[ids[2]], masked={ids[2]: masked})

    def change(parts):
        line = parts["events.jsonl"][0]
        line["record"] = line["record"].replace('"actor":{"id":"', '"actor":{"id":"forged-')

    parts = read_package(tmp_path / "p")
    change(parts)
    forged = write_package(tmp_path / "forged", parts)
    assert main(["--keys", str(keys), str(forged)]) == 21
    out = capsys.readouterr().out
    assert "every record matches its hash" not in out and "its content is not verified" in out


def test_a_subset_reads_its_proofs_nodes_a_chunk_at_a_time(db, settings, tmp_path, monkeypatch, capsys):
    """Proof nodes were read one query each (a subset of 10,000 events took 20,018 queries); ids
    went to the database in one list (over 250,000 fail on SQLite: too many SQL variables)."""
    from django.db import connection

    from audit_events.checkpoints import package
    from audit_events.models import MerkleLeaf

    settings.AUDIT_CHECKPOINT_KEY_FILE = str(tmp_path / "checkpoint.pem")
    get_checkpoint_signer.cache_clear()
    for count in (40, 30, 30):
        get_event_store().append([event(tenant="acme", aggregate_id=f"a-{n % 7}", pii=[]) for n in range(count)])
        catch_up()
        make_checkpoint(tenant="acme")
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"keys": published_keys()}))
    ids = [str(i) for i in MerkleLeaf.objects.filter(tenant="acme").order_by("leaf_index").values_list("event_id",
                                                                                                    flat=True)]

    statements = []

    def record(execute, sql, params, many, context):
        statements.append((sql, len(params or ())))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        export_package(tenant="acme", out_path=tmp_path / "all", event_ids=ids)
    nodes = [sql for sql, _ in statements if "audit_merkle_node" in sql]
    assert len(nodes) <= 2, len(nodes)  # the nodes every proof needs, 500 to a query (was 199 queries)

    from audit_events.checkpoints import log

    monkeypatch.setattr(package, "_CHUNK", 3)
    monkeypatch.setattr(log, "NODE_CHUNK", 3)
    statements.clear()
    with connection.execute_wrapper(record):
        export_package(tenant="acme", out_path=tmp_path / "chunked", event_ids=ids[::-1][:50])
    # a chunk of ids (and the tenant), or of nodes (an index and a level each, and the tenant)
    assert max(count for sql, count in statements if "audit_merkle" in sql) <= 2 * 3 + 1
    assert main(["--keys", str(keys), "--tenant", "acme", str(tmp_path / "chunked")]) == 0, capsys.readouterr().out
    get_checkpoint_signer.cache_clear()


def test_an_event_the_store_lost_stops_a_subset_and_leaves_nothing_behind(acme_log, tmp_path):
    from django.db import connection

    from audit_events import triggers
    from audit_events.models import StoredEvent as Row

    ids, _ = acme_log
    triggers.remove(connection)  # inside the test's transaction: rolled back with it
    Row.objects.filter(event_id=ids[3]).delete()
    for out in (tmp_path / "p", tmp_path / "p.zip"):
        with pytest.raises(PackageError, match=f"no such event: {ids[3]} .the tenant's log holds it, the store does not"):
            export_package(tenant="acme", out_path=out, event_ids=[ids[1], ids[3]])
        assert not out.exists()


def test_a_checkpoint_signed_by_a_retired_key_is_reported(acme_log, settings, tmp_path, capsys):
    """The key is rotated; a signer still holding the old key signs on: the keys file's dates
    show it (pinned with --key alone, without dates, it verifies as before)."""
    from audit_events.checkpoints.signing.local import rotate_local_key

    ids, _ = acme_log
    retired = rotate_local_key()
    get_checkpoint_signer.cache_clear()
    make_checkpoint(tenant="acme")  # size 7, signed by a new key, which retires the old one
    keys = tmp_path / "rotated.json"
    keys.write_text(json.dumps({"keys": published_keys()}))
    assert main(["--keys", str(keys), "--full", str(export_package(tenant="acme", out_path=tmp_path / "a").path)]) == 0
    capsys.readouterr()

    get_event_store().append([event(tenant="acme", aggregate_id="a-0", pii=[])])
    catch_up()
    settings.AUDIT_CHECKPOINT_KEY_FILE = str(retired)
    get_checkpoint_signer.cache_clear()
    old = get_checkpoint_signer().key_id
    make_checkpoint(tenant="acme")  # size 8, by the retired key
    package = export_package(tenant="acme", out_path=tmp_path / "b").path
    assert main(["--keys", str(keys), str(package)]) == 10
    (only,) = problems(capsys.readouterr().out)
    assert only.startswith(f"PROBLEM [unknown key] checkpoint at size 8 (checkpoints.jsonl line 4): signed by key {old} "
                           "at ") and "after the key's retirement at" in only
    pinned = [entry["public_key"] for entry in json.loads(keys.read_text())["keys"]]
    assert main(["--key", pinned[0], "--key", pinned[1], str(package)]) == 0


def test_the_export_command_and_its_errors(acme_log, tmp_path, capsys):
    ids, _ = acme_log
    call_command("export_verification", "--tenant", "acme", "--out", str(tmp_path / "a.zip"), "--event", ids[0])
    assert "subset verification package of acme: 1 event, 2 checkpoints (the newest at size 6)" in \
           capsys.readouterr().out
    for args, message in [
        (["--tenant", "nobody", "--out", tmp_path / "b.zip"], "--tenant: tenant 'nobody' has no Merkle log"),
        (["--tenant", "acme", "--out", tmp_path / "a.zip"], "--out: .*a.zip exists already"),
        (["--tenant", "acme", "--out", tmp_path / "c.zip", "--event", "nope"], "--event: event id 'nope' is not a UUID"),
        (["--tenant", "acme", "--out", tmp_path / "c.zip", "--event", "0badc0de-0000-4000-8000-000000000000"],
         "--event: no such event: 0badc0de"),
    ]:
        with pytest.raises(CommandError, match=message):
            call_command("export_verification", *map(str, args))
    get_event_store().append([event(tenant="globex", aggregate_id="g", pii=[])])
    catch_up()
    with pytest.raises(CommandError, match="--tenant: tenant 'globex' has no checkpoint yet: make one"):
        call_command("export_verification", "--tenant", "globex", "--out", str(tmp_path / "g.zip"))
    make_checkpoint(tenant="globex")
    with pytest.raises(PackageError, match="not events of tenant 'globex'"):
        export_package(tenant="globex", out_path=tmp_path / "g", event_ids=[ids[0]])
