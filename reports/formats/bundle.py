"""The evidence bundle: a ZIP of the rows, the stored events behind them, and a verifier.

A ZIP takes one entry at a time, so the rows stream straight into
``report.csv`` while the events wait in two temporary files, copied into the
ZIP at ``close``; memory stays bounded whatever the row count, except for
the set that keeps each event once.

An event is kept once by its stored hash, which binds its tenant, aggregate
and sequence: 32 bytes per distinct event in a set, about 100 MB for a
million (rows may name their events in any order, so only a set will do).
Two different events claiming one position, which a consistent store never
yields, would both be kept, and ``verify.py`` would report the repeat.
With the signed log, each event's id is kept too (for its tenant's
verification package), and a masked event's place in the events spool: its
masked text is read back from there when the package is written.
"""

import hashlib
import io
import json
import tempfile
import textwrap
import zipfile
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from .base import ReportWriter, utc_iso
from .csvfile import CsvWriter
from .verify_bundle import EVENTS, HASHES, MANIFEST, REPORT

__all__ = ["BundleWriter", "HASHING_RULE"]

VERIFIER = "verify.py"
#: the signed log's verifier (audit_events/offline), shipped beside the bundle's own
LOG_VERIFIER, MERKLE = "verify_log.py", "merkle.py"
README = "README.txt"
CHUNK = 1 << 20

HASHING_RULE = (
    "Each event's hash is sha256(bytes.fromhex(prev_hash) + record).hexdigest(), where record is the "
    "event's line in events.jsonl as UTF-8 bytes without its newline: the stored record (the event "
    "without its hash) in RFC 8785 canonical JSON, exactly the bytes that were hashed when it was "
    "stored. prev_hash is the hash of the previous event of the same aggregate (tenant, "
    "aggregate_type, aggregate_id), or 64 zeros for sequence 1. A masked event's line has its "
    'personal data replaced by {"masked": true}, so it no longer hashes to its stored hash: it is '
    "checked by linkage only."
)


class _HashingStream(io.BufferedIOBase):
    """Passes writes on to ``stream`` and keeps their SHA-256."""

    def __init__(self, stream):
        self.stream = stream
        self.sha256 = hashlib.sha256()

    def writable(self):
        return True

    def write(self, data):
        self.sha256.update(data)
        return self.stream.write(data)


class BundleWriter(ReportWriter):
    wants_evidence = True
    extension = "zip"
    content_type = "application/zip"

    def __init__(self, fileobj, meta):
        super().__init__(fileobj, meta)
        self._zip = zipfile.ZipFile(fileobj, "w", compression=zipfile.ZIP_DEFLATED)
        self._files: dict[str, str] = {}  # name -> SHA-256, for the manifest
        self._report = _HashingStream(self._open(REPORT))
        self._csv = CsvWriter(self._report, meta)
        self._events = tempfile.TemporaryFile()
        self._hashes = tempfile.TemporaryFile()
        self._seen: set[bytes] = set()
        self._masked = 0
        self._by_tenant: dict[str, list[str]] = {}  # event ids, for the verification packages
        self._masked_texts = _SpooledTexts(self._events)  # masked events' lines of the events spool
        self._verification: dict[str, dict] = {}

    def write_row(self, row, evidence=None):
        self._csv.write_row(row)
        if evidence is None:
            return
        key = bytes.fromhex(evidence.hash)
        if key in self._seen:
            return
        if "\n" in evidence.record_text:  # JSON text never holds a raw newline: this is no record
            raise ValueError(f"the record of {evidence.aggregate_id} #{evidence.sequence} spans lines")
        self._seen.add(key)
        self._masked += evidence.masked
        text = evidence.record_text.encode("utf-8")
        if self.meta.signed_log:
            event_id = evidence.event_id
            self._by_tenant.setdefault(evidence.tenant, []).append(event_id)
            if evidence.masked:
                self._masked_texts.add(event_id, self._events.tell(), len(text))
        self._events.write(text + b"\n")
        position = {
            "tenant": evidence.tenant,
            "aggregate_type": evidence.aggregate_type,
            "aggregate_id": evidence.aggregate_id,
            "sequence": evidence.sequence,
            "prev_hash": evidence.prev_hash,
            "hash": evidence.hash,
            "masked": evidence.masked,
        }
        self._hashes.write(_json_line(position))

    def close(self, *, row_count):
        self._csv.close(row_count=row_count)
        self._report.stream.close()  # ends the report.csv entry
        self._files[REPORT] = self._report.sha256.hexdigest()
        for name, spool in ((EVENTS, self._events), (HASHES, self._hashes)):
            self._copy(name, spool)
        self._hashes.close()
        self._write(VERIFIER, resources.files(__package__).joinpath("verify_bundle.py").read_bytes())
        if self._by_tenant:
            self._write_packages()
        self._events.close()  # the masked texts are read from it until the packages are written
        self._write(README, self._readme(row_count).encode("utf-8"))
        manifest = json.dumps(self._manifest(row_count), ensure_ascii=False, indent=2)
        self._write(MANIFEST, manifest.encode("utf-8"))
        self._zip.close()  # writes the directory; leaves fileobj open

    def _write_packages(self):
        """Each tenant's verification package for the bundle's events (their inclusion proofs
        against the newest signed checkpoint), and the verifier of the signed log."""
        from audit_events.checkpoints.package import PACKAGE_FILES, PackageError, export_package

        for tenant, event_ids in sorted(self._by_tenant.items()):
            with tempfile.TemporaryDirectory() as folder:
                try:
                    summary = export_package(tenant=tenant, out_path=Path(folder) / "package", event_ids=event_ids,
                                             masked=self._masked_texts)
                except PackageError as error:  # e.g. no checkpoint yet: the bundle says so
                    self._verification[tenant] = {"error": str(error)}
                    continue
                for name in PACKAGE_FILES:
                    with open(Path(folder) / "package" / name, "rb") as spool:
                        self._copy(f"verification/{tenant}/{name}", spool)
            self._verification[tenant] = {"events": summary.events, "tree_size": summary.tree_size,
                                          "not_covered": len(summary.not_covered), "masked": summary.masked}
        offline = resources.files("audit_events.offline")
        self._write(LOG_VERIFIER, offline.joinpath("verify.py").read_bytes())
        self._write(MERKLE, offline.joinpath("merkle.py").read_bytes())

    def _open(self, name):
        """A new entry, dated at the report's generation, readable by all once unzipped."""
        info = zipfile.ZipInfo(name, date_time=self.meta.generated_at.timetuple()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        # Entries above 2 GiB need ZIP64, and a streamed entry's size is not known up front.
        return self._zip.open(info, "w", force_zip64=True)

    def _copy(self, name, spool):
        spool.seek(0)
        digest = hashlib.sha256()
        with self._open(name) as entry:
            for chunk in iter(lambda: spool.read(CHUNK), b""):
                digest.update(chunk)
                entry.write(chunk)
        self._files[name] = digest.hexdigest()

    def _write(self, name, data: bytes):
        with self._open(name) as entry:
            entry.write(data)
        if name != MANIFEST:
            self._files[name] = hashlib.sha256(data).hexdigest()

    def _manifest(self, row_count):
        meta = self.meta
        return {
            "report": {
                "type": meta.type_id,
                "title": meta.title,
                "params": meta.params,
                "requester": meta.requester,
                "generated_at": utc_iso(meta.generated_at),
                "scope": meta.scope,
                "row_count": row_count,
                "columns": meta.columns,
            },
            "counts": {"events": len(self._seen), "masked": self._masked},
            "hashing": HASHING_RULE,
            **({"verification": self._verification} if self._verification else {}),
            "files": dict(sorted(self._files.items())),
        }

    def _readme(self, row_count):
        meta = self.meta
        return f"""Evidence bundle: {meta.title}

Report type {meta.type_id}, generated {utc_iso(meta.generated_at)} for {meta.requester}.
Scope of access: {meta.scope}

WHAT IS HERE
  report.csv     the report's {row_count:,} rows (UTF-8 CSV, as the CSV export)
  events.jsonl   the {len(self._seen):,} stored events behind those rows, one per line,
                 {self._masked:,} of them with personal data masked
  hashes.jsonl   for each line of events.jsonl, in the same order: its tenant, aggregate,
                 sequence, prev_hash, stored hash and whether it is masked
  verify.py      a verifier: Python 3.8 or newer, standard library only, works offline
  manifest.json  what the report is, and the SHA-256 of every other file
  README.txt     this file

HOW TO VERIFY
  python verify.py BUNDLE.zip     (the bundle as downloaded)
  python verify.py DIRECTORY      (the bundle unzipped)

It checks every file against manifest.json, recomputes the hash of every
unmasked event from its exact bytes, and checks that consecutive events of an
aggregate link up. It prints a summary and exits 0, or prints each problem
(file, line, what is wrong) and exits 1.

HOW EVENTS ARE HASHED
{textwrap.fill(HASHING_RULE, width=76)}

WHAT IT PROVES
The bundle is intact and its events are the ones their hashes were computed
over.{self._signed_log_readme()}
"""

    def _signed_log_readme(self) -> str:
        if not self._verification:
            return (" That those hashes are the audit trail's own, anyone with access can\n"
                    "confirm against the portal: its read API returns every event's stored hash,\n"
                    "and \"python manage.py verify_chain\" re-verifies the stored chains.")
        tenants = "\n".join(f"  verification/{t}/  " + (f"{v['events']:,} events ({v['masked']:,} masked), against "
                                                          f"the checkpoint at {v['tree_size']:,} events"
                                                          if "error" not in v else f"none: {v['error']}")
                            for t, v in sorted(self._verification.items()))
        return f"""

THE SIGNED LOG
Every tenant's events are leaves of a Merkle log whose checkpoints the portal
signs (Ed25519). For each tenant, a verification package holds the bundle's
events with their inclusion proofs, the tenant's checkpoints and the
consistency proofs between them:
{tenants}
To check them without trusting the portal, get the portal's public key out of
band (GET /api/v1/checkpoints/keys, compared with a copy you keep), then:
  python verify_log.py --keys keys.json --within verification/TENANT BUNDLE.zip
verify_log.py needs Python 3.9 or newer and the "cryptography" package, and
merkle.py beside it. Better still, use your own copies of both (they are the
portal's audit_events/offline/verify.py and merkle.py). Exit code 0 means the
events are in the signed log; each other code names a kind of tampering (see
the portal's docs/VERIFY.md).{self._masked_readme()}"""

    def _masked_readme(self) -> str:
        masked = sum(v.get("masked", 0) for v in self._verification.values())
        if not masked:
            return ""
        return f"""

MASKED EVENTS
Events with personal data masked in these packages: {masked:,}. Their records
no longer hash to their hashes: the signed log proves only that their hashes
are in it, not their content (amounts, actor, every other field). verify_log.py
says so and exits 21 ("masked events not verified"). To accept them on their
hashes alone, add --allow-masked:
  python verify_log.py --keys keys.json --allow-masked --within verification/TENANT BUNDLE.zip
It then exits 0 if nothing else is wrong, and its summary counts the masked
events whose content it did not verify. To verify their content, ask for the
report by someone allowed to see the personal data."""


class _SpooledTexts(Mapping):
    """Masked record texts by event id, read back from where they were written in ``spool``:
    memory keeps an offset and a length per event, not the text."""

    def __init__(self, spool):
        self.spool, self.places = spool, {}

    def add(self, event_id: str, offset: int, length: int) -> None:
        self.places[event_id] = (offset, length)

    def __getitem__(self, event_id: str) -> str:
        offset, length = self.places[event_id]
        self.spool.seek(offset)
        return self.spool.read(length).decode("utf-8")

    def __iter__(self):
        return iter(self.places)

    def __len__(self):
        return len(self.places)


def _json_line(value) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
