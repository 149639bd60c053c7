"""Verification packages: one tenant's events with its signed checkpoints and their proofs, for
``audit_events/offline/verify.py`` (whose docstring and docs/VERIFY.md define the format).

A full package holds every event the newest checkpoint covers, in leaf order; a subset holds
the events asked for (a report's evidence). Events come from the store exactly as stored,
personal data included unless ``masked`` gives the text to ship instead: hand a package only
to someone entitled to read what it holds.

Events are read and written a chunk at a time, so memory holds the ids asked for and the tree
nodes the proofs need, not the events. Those nodes are read before writing, a few hundred per
query (never one query per node), and every ``__in`` list is cut into chunks of ``_CHUNK``:
databases cap the parameters of one statement (SQLite at 250,000 here, often fewer).
"""

import hashlib
import json
import os
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

from ..jcs import canonicalize
from ..models import Checkpoint, MerkleLeaf, MerkleLog, MerkleNode
from ..store import StoredEvent, get_event_store
from .log import TenantTree

__all__ = ["PACKAGE_FILES", "PackageError", "PackageSummary", "export_package"]

MANIFEST = "manifest.json"
CHECKPOINTS, EVENTS, PROOFS, CONSISTENCY = "checkpoints.jsonl", "events.jsonl", "proofs.jsonl", "consistency.jsonl"
PACKAGE_FILES = (CHECKPOINTS, EVENTS, PROOFS, CONSISTENCY, MANIFEST)
_CHUNK = 500


class PackageError(ValueError):
    """A package that cannot be made as asked: the message says why and what to do, ``argument``
    which argument of ``export_package`` was wrong (``tenant``, ``event_ids`` or ``out_path``)."""

    def __init__(self, message: str, *, argument: str):
        super().__init__(message)
        self.argument = argument


@dataclass
class PackageSummary:
    """What ``export_package`` wrote."""

    tenant: str
    kind: str  # "full" | "subset"
    path: Path
    events: int
    checkpoints: int
    tree_size: int  # the newest checkpoint's: every proof is against it
    #: asked for but left out: no checkpoint covers them yet (a later package will hold them)
    not_covered: list[str] = field(default_factory=list)
    #: a full package's leaves whose event the store no longer holds (the verifier will say so)
    missing: list[str] = field(default_factory=list)
    #: events shipped masked (their lines say ``"masked": true``)
    masked: int = 0


def export_package(*, tenant: str, out_path, event_ids: Sequence[str] | None = None,
                   masked: Mapping[str, str] | None = None) -> PackageSummary:
    """Write the verification package of ``tenant`` to ``out_path`` (a ``.zip`` file, else a
    directory): every event the newest checkpoint covers, or only ``event_ids``.

    ``masked`` maps event ids to the record text to ship in place of the stored one (a report
    whose requester sees personal data masked); those lines say ``"masked": true``. It is
    asked only for the package's events, one at a time: a mapping that reads from disk will do.
    Raises ``PackageError`` for a tenant without a checkpoint, ids that are not the tenant's
    events, or an ``out_path`` that exists already; nothing is left at ``out_path`` then.
    """
    out_path = Path(out_path)
    if out_path.exists() and (out_path.suffix == ".zip" or not out_path.is_dir() or any(out_path.iterdir())):
        raise PackageError(f"{out_path} exists already; choose a new name", argument="out_path")
    if not MerkleLog.objects.filter(tenant=tenant).exists():
        raise PackageError(f"tenant {tenant!r} has no Merkle log (no event of it was projected yet): check the name, "
                           "or run the projector", argument="tenant")
    checkpoints = [row.document for row in Checkpoint.objects.filter(tenant=tenant).order_by("tree_size")]
    if not checkpoints:
        raise PackageError(f"tenant {tenant!r} has no checkpoint yet: make one (manage.py make_checkpoint "
                           f"--tenant {tenant}) and export again", argument="tenant")
    size = checkpoints[-1]["tree_size"]
    tree = TenantTree(tenant)
    summary = PackageSummary(tenant=tenant, kind="full" if event_ids is None else "subset", path=out_path,
                             events=0, checkpoints=len(checkpoints), tree_size=size)
    if event_ids is None:
        _preload(tree, size)
        events = _full(tenant, size, summary)
    else:
        chosen = _subset(tenant, event_ids, size, summary)
        _load_nodes(tree, size, [leaf_index for leaf_index, _, _ in chosen], checkpoints)
        events = _chosen(chosen, summary)
    masked = masked or {}

    with _PackageWriter(out_path) as writer:
        writer.lines(CHECKPOINTS, (canonicalize(document) for document in checkpoints))
        writer.lines(CONSISTENCY, (_json({"from": old["tree_size"], "to": new["tree_size"], "proof": [
            node.hex() for node in tree.consistency(old["tree_size"], new["tree_size"])]})
            for old, new in zip(checkpoints, checkpoints[1:])))
        proofs = []  # (event id, leaf index): written after the events, in their order
        with writer.open(EVENTS) as stream:
            for leaf_index, event in events:
                event_id = event.record["event_id"]
                text = masked.get(event_id)
                line = {"leaf_index": leaf_index, "hash": event.hash, "record": event.record_json if text is None
                        else text}
                if text is not None:
                    line["masked"] = True
                    summary.masked += 1
                stream.write(_json(line))
                proofs.append((event_id, leaf_index))
                summary.events += 1
        writer.lines(PROOFS, (_json({"event_id": event_id, "leaf_index": leaf_index, "tree_size": size,
                                     "audit_path": [node.hex() for node in tree.inclusion(leaf_index, size)]})
                              for event_id, leaf_index in proofs))
        manifest = {"tenant": tenant, "kind": summary.kind, "files": dict(sorted(writer.digests.items()))}
        if summary.not_covered:
            manifest["not_covered"] = summary.not_covered
        writer.write(MANIFEST, json.dumps(manifest, indent=2).encode() + b"\n")
    return summary


def _full(tenant: str, size: int, summary: PackageSummary) -> Iterator[tuple[int, StoredEvent]]:
    """Every event below ``size`` in leaf order, read a chunk at a time."""
    store = get_event_store()
    leaves = (MerkleLeaf.objects.filter(tenant=tenant, leaf_index__lt=size).order_by("leaf_index")
              .values_list("event_id", "leaf_index", "position"))
    chunk = []
    for row in leaves.iterator(chunk_size=_CHUNK):
        chunk.append(row)
        if len(chunk) == _CHUNK:
            yield from _read(store, chunk, summary)
            chunk = []
    yield from _read(store, chunk, summary)


def _read(store, rows, summary: PackageSummary) -> Iterator[tuple[int, StoredEvent]]:
    ids = [str(event_id) for event_id, _, _ in rows]
    found = {event.record["event_id"]: event for event in store.get_many(ids, positions=[p for _, _, p in rows])}
    for event_id, (_, leaf_index, _) in zip(ids, rows):
        if event_id in found:
            yield leaf_index, found[event_id]
        else:
            summary.missing.append(event_id)


def _subset(tenant: str, event_ids: Iterable[str], size: int,
            summary: PackageSummary) -> list[tuple[int, str, int]]:
    """The covered events asked for, as ``(leaf index, event id, position)`` in leaf order, after
    checking every id; the others go to ``summary.not_covered``. Reads no event but those no
    log holds yet (to tell an unknown id from an event not projected yet)."""
    ids = []
    for event_id in event_ids:
        try:
            ids.append(str(uuid.UUID(event_id)))
        except (ValueError, AttributeError, TypeError):
            raise PackageError(f"event id {event_id!r} is not a UUID", argument="event_ids") from None
    ids = list(dict.fromkeys(ids))
    leaves = {}  # event id -> (tenant, leaf index, position)
    for chunk in _chunks(ids):
        for event_id, owner, leaf_index, position in MerkleLeaf.objects.filter(event_id__in=chunk).values_list(
                "event_id", "tenant", "leaf_index", "position"):
            leaves[str(event_id)] = (owner, leaf_index, position)
    owners = {event_id: leaf[0] for event_id, leaf in leaves.items()}
    unplaced, store = [event_id for event_id in ids if event_id not in leaves], get_event_store()
    for chunk in _chunks(unplaced):
        owners.update((event.record["event_id"], event.tenant) for event in store.get_many(chunk))
    unknown = [event_id for event_id in unplaced if event_id not in owners]
    if unknown:
        raise PackageError(f"no such event: {', '.join(unknown)}", argument="event_ids")
    others = [f"{event_id} (tenant {owners[event_id]})" for event_id in ids if owners[event_id] != tenant]
    if others:
        raise PackageError(f"not events of tenant {tenant!r}: {', '.join(others)}", argument="event_ids")
    chosen = []
    for event_id in ids:
        if event_id in leaves and leaves[event_id][1] < size:
            chosen.append((leaves[event_id][1], event_id, leaves[event_id][2]))
        else:
            summary.not_covered.append(event_id)
    return sorted(chosen)


def _chosen(chosen: list[tuple[int, str, int]], summary: PackageSummary) -> Iterator[tuple[int, StoredEvent]]:
    """The events ``_subset`` chose, read a chunk at a time; one the store lost stops the export."""
    store = get_event_store()
    for chunk in _chunks(chosen):
        yield from _read(store, [(event_id, leaf_index, position) for leaf_index, event_id, position in chunk],
                         summary)
        if summary.missing:
            raise PackageError(f"no such event: {', '.join(summary.missing)} (the tenant's log holds it, the store "
                               f"does not: run manage.py verify_chain --tenant {summary.tenant})",
                               argument="event_ids")


def _load_nodes(tree: TenantTree, size: int, leaf_indexes: list[int], checkpoints: list[dict]) -> None:
    """Put in ``tree`` every stored node the inclusion proofs at ``size`` and the consistency
    proofs between ``checkpoints`` will read."""
    tree.load_for(inclusions=[(index, size) for index in leaf_indexes],
                  consistencies=[(old["tree_size"], new["tree_size"]) for old, new in zip(checkpoints, checkpoints[1:])])


def _chunks(items: list) -> Iterator[list]:
    for start in range(0, len(items), _CHUNK):
        yield items[start:start + _CHUNK]


def _preload(tree: TenantTree, size: int) -> None:
    """A full package asks for nearly every stored node: one query instead of one per node."""
    rows = MerkleNode.objects.filter(tenant=tree.tenant).values_list("level", "index", "hash")
    for level, index, digest in rows.iterator(chunk_size=5000):
        if (index + 1) << level <= size:
            tree.remember(level, index, bytes.fromhex(digest))


def _json(value) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class _PackageWriter:
    """Writes the files to a ZIP or a directory, keeping each one's SHA-256 for the manifest."""

    def __init__(self, path: Path):
        self.path, self.digests, self.names = path, {}, []
        self.zip = None
        self.made_folder = not path.exists()
        if path.suffix == ".zip":
            path.parent.mkdir(parents=True, exist_ok=True)
            self.zip = zipfile.ZipFile(path, "x", compression=zipfile.ZIP_DEFLATED)
        else:
            path.mkdir(parents=True, exist_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, traceback):
        if self.zip is not None:
            self.zip.close()
            if exc is not None:
                os.unlink(self.path)  # no half-written package left behind
        elif exc is not None:
            for name in self.names:
                (self.path / name).unlink(missing_ok=True)
            if self.made_folder:
                self.path.rmdir()

    def open(self, name: str) -> "_Entry":
        self.names.append(name)
        if self.zip is None:
            return _Entry(open(self.path / name, "wb"), name, self.digests)
        info = zipfile.ZipInfo(name, date_time=time.gmtime()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16  # readable by all once unzipped, as the evidence bundle's files
        return _Entry(self.zip.open(info, "w", force_zip64=True), name, self.digests)

    def lines(self, name: str, lines: Iterable[bytes]) -> None:
        with self.open(name) as stream:
            for line in lines:
                stream.write(line)

    def write(self, name: str, data: bytes) -> None:
        with self.open(name) as stream:
            stream.write(data, newline=False)


class _Entry:
    """One file of the package: lines in, hashed on the way."""

    def __init__(self, raw, name: str, digests: dict):
        self.raw, self.name, self.digests, self.sha256 = raw, name, digests, hashlib.sha256()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.raw.close()
        if self.name != MANIFEST:
            self.digests[self.name] = self.sha256.hexdigest()

    def write(self, data: bytes, newline: bool = True) -> None:
        if newline:
            data += b"\n"
        self.sha256.update(data)
        self.raw.write(data)
