import ast
import dataclasses
import json
import subprocess
import sys
import zipfile
from pathlib import Path

from audit_events.hashing import event_hash
from reports.formats import BundleWriter
from reports.formats import verify_bundle

from .helpers import make_chain, make_meta, row_of, write

FILES = ["README.txt", "events.jsonl", "hashes.jsonl", "manifest.json", "report.csv", "verify.py"]


def bundle(tmp_path, evidence, *, rows=None, name="bundle.zip") -> Path:
    path = tmp_path / name
    rows = rows if rows is not None else [row_of(item) for item in evidence]
    write(BundleWriter, path, rows, evidence=evidence)
    return path


def run_verifier(path: Path, script: Path | None = None) -> subprocess.CompletedProcess:
    """The bundle's own verify.py, run as its reader would (cwd elsewhere, no project on the path)."""
    if script is None:
        script = path.parent / "verify.py"
        script.write_bytes(zipfile.ZipFile(path).read("verify.py"))
    return subprocess.run(
        [sys.executable, "-I", str(script), str(path)], capture_output=True, text=True, cwd=path.parent, timeout=60
    )


def rewrite(path: Path, name: str, change) -> None:
    """Rewrite the ZIP with entry ``name`` replaced by ``change(its bytes)``, all else as it was."""
    with zipfile.ZipFile(path) as source:
        entries = [(info, source.read(info)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info, data in entries:
            target.writestr(info, change(data) if info.filename == name else data)


def lines(path: Path, name: str) -> list[bytes]:
    return zipfile.ZipFile(path).read(name).splitlines(keepends=True)


def test_the_bundle_holds_the_rows_events_hashes_and_verifier(tmp_path):
    chain = make_chain(3)
    path = bundle(tmp_path, chain)

    archive = zipfile.ZipFile(path)
    assert sorted(archive.namelist()) == FILES
    assert archive.namelist()[-1] == "manifest.json"  # written last
    # Unmasked events are the exact hashed bytes, one per line.
    assert lines(path, "events.jsonl") == [(e.record_text + "\n").encode() for e in chain]
    assert [json.loads(line) for line in lines(path, "hashes.jsonl")] == [
        {
            "tenant": "acme-bank",
            "aggregate_type": "Account",
            "aggregate_id": "acc-1",
            "sequence": e.sequence,
            "prev_hash": e.prev_hash,
            "hash": e.hash,
            "masked": False,
        }
        for e in chain
    ]
    assert archive.read("report.csv").decode("utf-8-sig").splitlines()[0] == "sequence,event_type,actor,amount,payload"
    assert archive.read("verify.py") == Path(verify_bundle.__file__).read_bytes()

    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["report"] == {
        "type": "entity_history",
        "title": "Entity history of acme-bank/Account/acc-1",
        "params": make_meta().params,
        "requester": "user:compliance",
        "generated_at": "2026-11-26T09:30:00Z",
        "scope": "tenants acme-bank; clearance confidential; personal data shown",
        "row_count": 3,
        "columns": ["sequence", "event_type", "actor", "amount", "payload"],
    }
    assert manifest["counts"] == {"events": 3, "masked": 0}
    assert "sha256(bytes.fromhex(prev_hash) + record)" in manifest["hashing"]
    assert sorted(manifest["files"]) == [name for name in FILES if name != "manifest.json"]
    assert "python verify.py BUNDLE.zip" in archive.read("README.txt").decode()


def test_its_own_verifier_passes_it_zipped_and_unzipped(tmp_path):
    path = bundle(tmp_path, make_chain(3) + make_chain(2, aggregate_id="acc-2"))

    result = run_verifier(path)
    assert result.returncode == 0, result.stdout
    assert "files: 5 checked against manifest.json" in result.stdout
    assert "events: 5 in 2 aggregates: 5 hashes recomputed from their exact bytes, 0 masked" in result.stdout
    assert "chain links: 5 checked" in result.stdout
    assert "VERIFIED" in result.stdout

    unzipped = tmp_path / "unzipped"
    zipfile.ZipFile(path).extractall(unzipped)
    result = run_verifier(unzipped, script=unzipped / "verify.py")
    assert result.returncode == 0, result.stdout
    assert "VERIFIED" in result.stdout


def test_events_are_kept_once_in_any_order_and_rows_may_have_none(tmp_path):
    first, second, third = make_chain(3)
    evidence = [third, first, third, None, second, first]
    path = bundle(tmp_path, evidence, rows=[{"sequence": n} for n in range(6)])

    assert lines(path, "events.jsonl") == [(e.record_text + "\n").encode() for e in (third, first, second)]
    manifest = json.loads(zipfile.ZipFile(path).read("manifest.json"))
    assert (manifest["counts"], manifest["report"]["row_count"]) == ({"events": 3, "masked": 0}, 6)
    result = run_verifier(path)
    assert result.returncode == 0, result.stdout
    assert "chain links: 3 checked" in result.stdout


def test_a_changed_byte_in_an_event_fails_naming_the_line(tmp_path):
    path = bundle(tmp_path, make_chain(3))
    rewrite(path, "events.jsonl", lambda data: data.replace(b'"event 2"', b'"event X"'))

    result = run_verifier(path)
    assert result.returncode == 1
    assert "PROBLEM events.jsonl: SHA-256 is" in result.stdout
    assert "PROBLEM events.jsonl line 2: hash mismatch" in result.stdout
    assert "events.jsonl line 1" not in result.stdout and "events.jsonl line 3" not in result.stdout
    assert "FAILED: 2 problems found." in result.stdout


def test_a_file_that_differs_from_the_manifest_fails(tmp_path):
    path = bundle(tmp_path, make_chain(2))

    def change(data):
        manifest = json.loads(data)
        manifest["files"]["report.csv"] = "0" * 64
        return json.dumps(manifest).encode()

    rewrite(path, "manifest.json", change)

    result = run_verifier(path)
    assert result.returncode == 1
    assert "PROBLEM report.csv: SHA-256 is" in result.stdout
    assert "but manifest.json says " + "0" * 64 in result.stdout


def test_an_added_or_missing_file_fails(tmp_path):
    path = bundle(tmp_path, make_chain(2))
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("extra.txt", "planted")
    result = run_verifier(path)
    assert result.returncode == 1
    assert "PROBLEM extra.txt: not listed in manifest.json" in result.stdout

    unzipped = tmp_path / "unzipped"
    zipfile.ZipFile(bundle(tmp_path, make_chain(2), name="b.zip")).extractall(unzipped)
    (unzipped / "hashes.jsonl").unlink()
    result = run_verifier(unzipped, script=unzipped / "verify.py")
    assert result.returncode == 1
    assert "PROBLEM hashes.jsonl: listed in manifest.json but missing" in result.stdout


def test_an_event_moved_to_another_position_fails(tmp_path):
    path = bundle(tmp_path, make_chain(2))
    rewrite(path, "hashes.jsonl", lambda data: data.replace(b'"acc-1","sequence":2', b'"acc-9","sequence":2'))

    result = run_verifier(path)
    assert result.returncode == 1
    assert "PROBLEM events.jsonl line 2: its aggregate_id differ from hashes.jsonl line 2" in result.stdout


def test_a_broken_link_fails(tmp_path):
    # Each event hashes correctly, but the third was chained onto another hash than the second's.
    chain = make_chain(2) + make_chain(1, first=3, prev_hash="ab" * 32)
    path = bundle(tmp_path, chain)

    result = run_verifier(path)
    assert result.returncode == 1
    assert "3 hashes recomputed" in result.stdout
    assert (
        "PROBLEM events.jsonl line 3: broken chain link: prev_hash of acme-bank/Account/acc-1 sequence 3 is "
        + "ab" * 32
        + f" but the hash of sequence 2 (line 2) is {chain[1].hash}"
    ) in result.stdout


def test_a_chain_that_does_not_start_at_the_genesis_fails(tmp_path):
    path = bundle(tmp_path, make_chain(1, prev_hash="cd" * 32))
    result = run_verifier(path)
    assert result.returncode == 1
    assert "the start of a chain is 64 zeros" in result.stdout


def test_a_repeated_position_fails(tmp_path):
    original = make_chain(2)
    forged = dataclasses.replace(original[1], record_text=original[1].record_text.replace("event 2", "forged"))
    forged = dataclasses.replace(forged, hash=event_hash(forged.prev_hash, forged.record_text.encode()))
    path = bundle(tmp_path, original + [forged])

    result = run_verifier(path)
    assert result.returncode == 1
    assert "events.jsonl line 3: repeats sequence 2 of acme-bank/Account/acc-1 (first on line 2)" in result.stdout


def test_a_masked_event_is_checked_by_linkage_only(tmp_path):
    chain = make_chain(3, masked={2})
    path = bundle(tmp_path, chain)

    assert b'"holder":{"masked":true}' in lines(path, "events.jsonl")[1]
    assert json.loads(lines(path, "hashes.jsonl")[1])["masked"] is True
    assert json.loads(zipfile.ZipFile(path).read("manifest.json"))["counts"] == {"events": 3, "masked": 1}
    result = run_verifier(path)
    assert result.returncode == 0, result.stdout
    assert "2 hashes recomputed from their exact bytes, 1 masked events checked by linkage only" in result.stdout
    assert "chain links: 3 checked" in result.stdout


def test_a_masked_event_with_another_hash_breaks_its_links(tmp_path):
    first, second, third = make_chain(3, masked={2})
    forged = dataclasses.replace(second, hash="12" * 32)
    path = bundle(tmp_path, [first, forged, third])

    result = run_verifier(path)
    assert result.returncode == 1
    assert "PROBLEM events.jsonl line 3: broken chain link" in result.stdout


def test_the_verifier_runs_on_python_3_8():
    source = Path(verify_bundle.__file__).read_text()
    ast.parse(source, feature_version=(3, 8))  # syntax only; it imports nothing outside the standard library
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(ast.parse(source))
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module)])
    }
    assert imported <= set(sys.stdlib_module_names)


def test_a_file_that_is_no_bundle_fails(tmp_path):
    path = tmp_path / "bundle.zip"
    path.write_bytes(b"not a zip")
    result = run_verifier(path, script=Path(verify_bundle.__file__))
    assert result.returncode == 1
    assert "not a bundle" in result.stdout
