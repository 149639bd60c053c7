"""An evidence bundle carries each tenant's verification package and the signed log's verifier:
an auditor checks the bundle's events against the signed checkpoints without the portal."""

import io
import json
import subprocess
import sys
import zipfile

import pytest

from audit_events.checkpoints.services import make_checkpoint
from audit_events.projector import catch_up
from tests.reports.test_reports import generated

pytestmark = pytest.mark.django_db


def run_log_verifier(tmp_path, bundle: bytes, keys: dict, tenant: str, *options) -> subprocess.CompletedProcess:
    """The bundle's own verify_log.py and merkle.py, run as an auditor would: copied out, isolated."""
    path = tmp_path / "bundle.zip"
    path.write_bytes(bundle)
    archive = zipfile.ZipFile(path)
    for name in ("verify_log.py", "merkle.py"):
        (tmp_path / name).write_bytes(archive.read(name))
    (tmp_path / "keys.json").write_text(json.dumps(keys))
    return subprocess.run([sys.executable, "-I", str(tmp_path / "verify_log.py"), "--keys", str(tmp_path / "keys.json"),
                           *options, "--within", f"verification/{tenant}", str(path)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)


def test_a_bundle_verifies_against_the_signed_log_with_the_published_key(client, exporter, run_worker, history,
                                                                          tmp_path):
    exporter()
    catch_up()
    make_checkpoint(tenant="acme")
    status, body = generated(client, run_worker, "entity_history", "bundle",
                             tenant="acme", aggregate_type="Account", aggregate_id="acc-1")
    archive = zipfile.ZipFile(io.BytesIO(body))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["verification"] == {"acme": {"events": 2, "tree_size": 3, "not_covered": 0, "masked": 0}}
    assert {"verify_log.py", "merkle.py", "verification/acme/proofs.jsonl"} <= set(archive.namelist())
    readme = archive.read("README.txt").decode()
    assert "python verify_log.py --keys keys.json --within verification/TENANT BUNDLE.zip" in readme
    assert "--allow-masked" not in readme

    keys = client.get("/api/v1/checkpoints/keys").json()
    result = run_log_verifier(tmp_path, body, keys, "acme")
    assert result.returncode == 0, result.stdout + result.stderr

    # The bundle's own verifier still accounts for every file, the new ones included.
    (tmp_path / "verify.py").write_bytes(archive.read("verify.py"))
    own = subprocess.run([sys.executable, "-I", str(tmp_path / "verify.py"), str(tmp_path / "bundle.zip")],
                         capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert own.returncode == 0 and "VERIFIED" in own.stdout, own.stdout


def test_before_any_checkpoint_the_bundle_says_it_holds_no_package(client, exporter, run_worker, history):
    exporter()
    _, body = generated(client, run_worker, "entity_history", "bundle",
                        tenant="acme", aggregate_type="Account", aggregate_id="acc-1")
    archive = zipfile.ZipFile(io.BytesIO(body))
    (problem,) = json.loads(archive.read("manifest.json"))["verification"].values()
    assert "checkpoint" in problem["error"]
    assert not [n for n in archive.namelist() if n.startswith("verification/")]
    assert "verification/acme/  none:" in archive.read("README.txt").decode()


def test_masked_events_are_verified_only_with_allow_masked_and_the_readme_says_so(client, exporter, run_worker,
                                                                                  history, tmp_path):
    """A requester who sees personal data masked: acc-1's first event (it names personal data)
    ships masked; its content cannot be checked against the signed log, only its hash."""
    exporter("masked", pii=False)
    catch_up()
    make_checkpoint(tenant="acme")
    _, body = generated(client, run_worker, "entity_history", "bundle",
                        tenant="acme", aggregate_type="Account", aggregate_id="acc-1")
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert json.loads(archive.read("manifest.json"))["verification"]["acme"]["masked"] == 1
    readme = archive.read("README.txt").decode()
    assert "verification/acme/  2 events (1 masked)" in readme
    assert "python verify_log.py --keys keys.json --allow-masked --within verification/TENANT BUNDLE.zip" in readme
    assert "exits 21" in readme

    keys = client.get("/api/v1/checkpoints/keys").json()
    result = run_log_verifier(tmp_path, body, keys, "acme")
    assert result.returncode == 21, result.stdout + result.stderr
    assert "NOT VERIFIED: 1 masked event: only its hash is proven to be in the signed log" in result.stdout
    result = run_log_verifier(tmp_path, body, keys, "acme", "--allow-masked")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 hash recomputed" in result.stdout and "every unmasked record matches its hash" in result.stdout
