"""The event-store port: what every adapter (SQL, DynamoDB) provides."""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Iterator, NamedTuple, Sequence

import orjson

from ..hashing import GENESIS_HASH, event_hash
from ..jcs import canonicalize
from ..records import content_of, event_content, stream_key
from ..schema import EventIn

__all__ = [
    "AppendConflictError",
    "AppendResult",
    "EventConflictError",
    "EventStore",
    "EventTooLargeError",
    "ExpectedSequenceError",
    "PartlyStoredError",
    "RestoreError",
    "StoreBusyError",
    "StoredEvent",
]


class AppendResult(NamedTuple):
    """What the store did with one event of a batch (a tuple: cheap to make)."""

    event_id: str
    tenant: str
    aggregate_type: str
    aggregate_id: str
    sequence: int
    hash: str
    prev_hash: str
    recorded_at: str
    status: str  # "created" | "duplicate"

    def as_dict(self) -> dict:
        return self._asdict()


@dataclass
class StoredEvent:
    """One stored event: its record as canonical JSON text, its hash, its position.

    The identifying fields come from the store's own keys, not from the
    record, so that verification can compare the two.
    """

    position: int
    tenant: str
    aggregate_type: str
    aggregate_id: str
    sequence: int
    record_json: str
    hash: str
    #: the store's other copies of record fields (what it indexes), for verification
    indexed: dict | None = field(default=None, repr=False, compare=False)
    _record: dict | None = field(default=None, repr=False, compare=False)

    @property
    def record(self) -> dict:
        """The record without ``hash`` (parsed once, on demand)."""
        if self._record is None:
            self._record = orjson.loads(self.record_json)
        return self._record

    def to_json(self) -> str:
        """The event as the read API returns it: the record plus its ``hash``."""
        return self.record_json[:-1] + ',"hash":"' + self.hash + '"}'

    def to_dict(self) -> dict:
        return {**self.record, "hash": self.hash}


class AppendConflictError(Exception):
    """An append that would contradict what is stored; nothing was written."""

    def __init__(self, message: str, *, index: int, event_id: str):
        super().__init__(message)
        self.index = index
        self.event_id = event_id


class StoreBusyError(Exception):
    """Concurrent writers kept the store busy past the adapter's patience; nothing was written."""


class RestoreError(Exception):
    """An archived event that does not continue its chain as stored; nothing was loaded."""


class EventConflictError(AppendConflictError):
    """An ``event_id`` that is stored already with other content."""


class EventTooLargeError(AppendConflictError):
    """An event larger than the store can hold as one item; nothing was written."""


class PartlyStoredError(AppendConflictError):
    """A batch the store writes in parts stopped after its first ``stored`` events."""

    def __init__(self, message: str, *, index: int, event_id: str, stored: int):
        super().__init__(message, index=index, event_id=event_id)
        self.stored = stored


class ExpectedSequenceError(AppendConflictError):
    """The aggregate moved on since the publisher read it (optimistic concurrency)."""


class EventStore(ABC):
    """Append-only, hash-chained storage of audit events."""

    @abstractmethod
    def append(self, events: Sequence[EventIn]) -> list[AppendResult]:
        """Append a batch atomically: all events are stored, or none.

        Raises ``AppendConflictError`` naming the first offending event.
        """

    @abstractmethod
    def restore(self, events: Sequence[tuple[dict, str]]) -> int:
        """Load archived events ``(record, hash)`` exactly as they were stored, in the
        order of the log, all or none; the number loaded.

        Every link is checked against what is stored already (the aggregate's next
        sequence, its previous hash) and every hash recomputed, so a restored store
        verifies as the original did. Raises ``RestoreError`` naming the first bad event.
        """

    @abstractmethod
    def get(self, event_id: str) -> StoredEvent | None:
        """One event by id, or ``None``."""

    def get_many(self, event_ids: Sequence[str], *, positions: Sequence[int] | None = None) -> list[StoredEvent]:
        """The events with these ids that exist, in the order given.

        ``positions``, when given, are the ids' feed positions as an index recorded them
        (a hint: a store that keys by position may read by it, checking each id).
        """
        return [event for event in (self.get(i) for i in event_ids) if event is not None]

    @abstractmethod
    def read_aggregate(
        self,
        tenant: str,
        aggregate_type: str,
        aggregate_id: str,
        *,
        after: int = 0,
        limit: int = 100,
        where=None,
        before: int | None = None,
    ) -> list[StoredEvent]:
        """An aggregate's events with ``after`` < sequence (< ``before``), in order.

        ``where`` is an access filter compiled for this adapter by the policy
        engine (a Django ``Q`` for SQL): events outside it are never read, so
        pages and cursors cannot reveal them.
        """

    @abstractmethod
    def read_all(self, *, after_position: int = 0, limit: int = 1000) -> list[StoredEvent]:
        """The change feed: events with position > ``after_position``, in order."""

    @abstractmethod
    def last_position(self) -> int:
        """The feed's last position (0 when empty): how many events the store has taken."""

    @abstractmethod
    def iter_events(
        self, *, tenant: str | None = None, aggregate: tuple[str, str] | None = None
    ) -> Iterator[StoredEvent]:
        """Every event, each aggregate's in sequence order (aggregates may
        interleave), with ``indexed`` holding the store's copies of record fields."""

    @abstractmethod
    def heads(
        self, *, tenant: str | None = None, aggregate: tuple[str, str] | None = None
    ) -> dict[tuple[str, str, str], tuple[int, str]]:
        """Each aggregate's last ``(sequence, hash)`` as recorded at append time."""


# -- what every adapter's append and restore decide alike ---------------------------------

#: the largest stored record of any adapter: a DynamoDB item holds 400 KB with its other
#: attributes. The payload is limited on input, but not its personal-data pointers.
MAX_RECORD_BYTES = 350_000


def check_record_size(index: int, event_id: str, canonical: bytes) -> None:
    if len(canonical) > MAX_RECORD_BYTES:
        raise EventTooLargeError(
            f"events[{index}]: event {event_id} is {len(canonical)} bytes as stored; the limit is "
            f"{MAX_RECORD_BYTES} (shorten its payload or its pii pointers)", index=index, event_id=event_id)



def sealed_content(event, event_id: str, keys, previous: tuple[dict, str] | None = None) -> dict:
    """The event's content as it is stored: its personal data sealed under its subject's key
    (``audit_events.privacy.sealing``). A retry of an event stored before its subject was erased
    can no longer be sealed: it is the stored event again when all else is the same."""
    from ..masking import mask_record
    from ..privacy.sealing import SubjectErasedError, seal_content

    content = event_content(event, event_id)
    try:
        return seal_content(content, keys)
    except SubjectErasedError:
        if previous is not None and canonicalize(mask_record(content)) == canonicalize(
                mask_record(content_of(previous[0]))):
            return content_of(previous[0])
        raise


def duplicate_result(index: int, content: dict, record: dict, digest: str) -> AppendResult:
    """The result for an event whose id is stored already: a duplicate if its content is the
    same, else ``EventConflictError`` (worded the same whoever's event holds the id: no tenant
    is named)."""
    if canonicalize(content) != canonicalize(content_of(record)):
        raise EventConflictError(
            f"events[{index}]: event_id {content['event_id']} is already used by an event with other "
            "content; give a new event a new event_id",
            index=index, event_id=content["event_id"])
    return AppendResult(record["event_id"], record["tenant"], record["aggregate_type"], record["aggregate_id"],
                        record["sequence"], digest, record["prev_hash"], record["recorded_at"], "duplicate")


def check_restored_id(number: int, record: dict, taken: set[str]) -> None:
    """Refuse archived event ``number`` (from 1) whose id is in ``taken`` (stored, or earlier in
    the restore); add it. Raises ``RestoreError``."""
    event_id = str(record.get("event_id"))
    if event_id in taken:
        raise RestoreError(f"event {number} ({event_id}): its event_id is stored already")
    taken.add(event_id)


def restored_link(number: int, record: dict, digest: str, heads: dict[str, tuple[int, str]]) -> tuple[str, bytes]:
    """Check that archived event ``number`` (from 1) continues its aggregate as ``heads``
    hold it and that its hash is its content's; move the head on. Returns the aggregate's
    stream key and the record's canonical bytes. Raises ``RestoreError``."""
    key = stream_key(record["tenant"], record["aggregate_type"], record["aggregate_id"])
    last_sequence, last_hash = heads.get(key, (0, GENESIS_HASH))
    where = f"event {number} ({record.get('event_id')}, {key} #{record.get('sequence')})"
    if record.get("sequence") != last_sequence + 1 or record.get("prev_hash") != last_hash:
        raise RestoreError(f"{where} does not follow #{last_sequence} of its aggregate as stored")
    canonical = canonicalize(record)
    if event_hash(last_hash, canonical) != digest:
        raise RestoreError(f"{where}: its hash does not match its content")
    heads[key] = (record["sequence"], digest)
    return key, canonical
