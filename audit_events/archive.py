"""Daily archives of the log, and restoring a store from them.

Each UTC day of recorded time becomes two files in the archive storage
(``STORAGES["archive"]``: a directory locally, an S3 bucket with Object Lock in
AWS), written once and never again:

- ``events/YYYY-MM-DD.jsonl.gz``: the day's events in the order of the log, one
  per line, each its stored record with its ``hash`` (what the read API returns);
- ``manifests/YYYY-MM-DD.json``: the events file's SHA-256 and size, how many
  events it holds, and the positions it spans. Written last: a day without a
  manifest was not archived.

A restore checks every file against its manifest before it loads anything, then
loads the records exactly as stored: the store checks each link and recomputes
each hash (``EventStore.restore``), so the result verifies as the original did.
"""

import gzip
import hashlib
import json
import tempfile
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Iterator

import orjson
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import storages

from .files import HashedReader
from .store import EventStore, RestoreError, StoredEvent

__all__ = ["ArchiveError", "archive_storage", "export_archive", "restore_archive"]

_BATCH = 1000


class ArchiveError(Exception):
    """An archive that cannot be written or read as it must be; the message says why."""


@dataclass(frozen=True)
class ArchivedDay:
    day: str
    events: int
    last_position: int


def archive_storage():
    return storages["archive"]


def _manifests(storage) -> list[str]:
    """The days archived, oldest first (``YYYY-MM-DD``)."""
    try:  # a folder exists on S3 only as the prefix of its files: ask for them
        _, files = storage.listdir("manifests")
    except FileNotFoundError:
        return []
    return sorted(name.removesuffix(".json") for name in files if name.endswith(".json"))


def _manifest(storage, day: str) -> dict:
    with storage.open(f"manifests/{day}.json", "rb") as file:
        return json.loads(file.read())


def _days(store: EventStore, after_position: int, before: date) -> Iterator[tuple[str, list[StoredEvent]]]:
    """The log after ``after_position``, in order, a recorded day at a time, up to ``before``.

    A day is whole only once it is over: the current one is left for a later run.
    """
    day, events = None, []
    while True:
        page = store.read_all(after_position=after_position, limit=_BATCH)
        for event in page:
            recorded = event.record["recorded_at"][:10]
            if date.fromisoformat(recorded) >= before:
                if events:
                    yield day, events
                return
            if recorded != day:
                if events:
                    yield day, events
                day, events = recorded, []
            events.append(event)
        if len(page) < _BATCH:
            if events:
                yield day, events
            return
        after_position = page[-1].position


def export_archive(store: EventStore, *, storage=None, before: date | None = None) -> list[ArchivedDay]:
    """Archive every whole day after the last one archived; the days written."""
    storage = storage or archive_storage()
    before = before or datetime.now(timezone.utc).date()
    archived = _manifests(storage)
    after = _manifest(storage, archived[-1])["last_position"] if archived else 0
    written = []
    for day, events in _days(store, after, before):
        if day in archived or storage.exists(f"events/{day}.jsonl.gz"):
            # Positions follow recorded time, so a day comes once; a file without its
            # manifest is a write that failed half-way, and is never overwritten.
            raise ArchiveError(f"{day} is archived already, or its events file exists without a manifest: "
                               "look at the archive before going on")
        with tempfile.TemporaryFile() as spool:
            with gzip.GzipFile(fileobj=spool, mode="wb", mtime=0) as lines:  # mtime 0: the same bytes every time
                for event in events:
                    lines.write(event.to_json().encode("utf-8") + b"\n")
            spool.seek(0)
            stored = HashedReader([spool])
            storage.save(f"events/{day}.jsonl.gz", File(stored, name=f"{day}.jsonl.gz"))
        manifest = {"day": day, "file": f"events/{day}.jsonl.gz", "sha256": stored.sha256.hexdigest(),
                    "bytes": stored.size,
                    "events": len(events), "first_position": events[0].position,
                    "last_position": events[-1].position}
        storage.save(f"manifests/{day}.json", ContentFile(json.dumps(manifest, indent=2).encode()))
        written.append(ArchivedDay(day, len(events), events[-1].position))
    return written


def restore_archive(store: EventStore, *, storage=None) -> int:
    """Load every archived day into ``store`` (which must be empty); the events loaded.

    Every file is checked against its manifest first: a changed or damaged archive
    loads nothing. An event that does not continue its chain (an archive of a
    broken store) stops the restore there, named, with the events before it loaded.
    """
    storage = storage or archive_storage()
    if store.last_position():  # the counter, not the feed's index (which may lag)
        raise ArchiveError("the event store is not empty: restore into a new one")
    days = _manifests(storage)
    if not days:
        raise ArchiveError("the archive holds no manifest: nothing to restore")
    manifests = [_manifest(storage, day) for day in days]
    for manifest in manifests:
        with storage.open(manifest["file"], "rb") as file:
            if hashlib.file_digest(file, "sha256").hexdigest() != manifest["sha256"]:
                raise ArchiveError(f"{manifest['file']} does not match its manifest: the archive was changed")
    loaded = 0
    for manifest in manifests:
        batch = []
        with storage.open(manifest["file"], "rb") as file, gzip.GzipFile(fileobj=file) as lines:
            for number, line in enumerate(lines, start=1):
                try:
                    record = orjson.loads(line)
                    digest = record.pop("hash")
                except (orjson.JSONDecodeError, KeyError, AttributeError):
                    raise ArchiveError(f"{manifest['file']} line {number} is not an archived event") from None
                batch.append((record, digest))
                if len(batch) == _BATCH:
                    loaded += _restore(store, manifest, batch)
                    batch = []
        loaded += _restore(store, manifest, batch)
    return loaded


def _restore(store: EventStore, manifest: dict, batch: list) -> int:
    try:
        return store.restore(batch)
    except RestoreError as exc:
        raise ArchiveError(f"{manifest['file']}: {exc}") from None
