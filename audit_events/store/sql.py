"""The event store on the Django ORM (SQLite and PostgreSQL)."""

import re
import uuid
from typing import Iterator, Sequence

import orjson
from django.db import connections, transaction
from django.db.models import Max
from django.utils import timezone

from ..hashing import GENESIS_HASH, event_hash
from ..jcs import canonicalize
from ..models import AggregateHead
from ..models import StoredEvent as EventRow
from ..privacy.sealing import KeyCache
from ..records import build_record, content_of, stream_key
from ..schema import EventIn, format_timestamp, parse_timestamp
from .base import (
    AppendResult,
    EventConflictError,
    EventStore,
    ExpectedSequenceError,
    StoredEvent,
    check_record_size,
    check_restored_id,
    duplicate_result,
    restored_link,
    sealed_content,
)

_HEX32 = re.compile(r"[0-9a-f]{32}")

__all__ = ["SQLEventStore"]

_LOOKUP_CHUNK = 500
_EVENT_COLUMNS = (
    "position",
    "tenant",
    "aggregate_type",
    "aggregate_id",
    "sequence",
    "record",
    "hash",
)


# Copies of record fields that queries filter on; verification compares them.
_INDEXED_COLUMNS = (
    "event_id",
    "event_type",
    "occurred_at",
    "recorded_at",
    "actor_id",
    "actor_type",
    "classification",
    "trace_id",
)


def _record_form(vendor: str):
    """Functions turning raw UUID and timestamp columns into the record's text."""
    if vendor == "sqlite":  # 32 hex digits; "YYYY-MM-DD HH:MM:SS.ffffff" in UTC

        def as_uuid(value):
            value = str(value)
            return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"

        def as_time(value):
            return f"{value[:10]}T{value[11:]}Z"

        return as_uuid, as_time
    return str, format_timestamp


def _chunks(items: list, size: int = _LOOKUP_CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _stored(row) -> StoredEvent:
    return StoredEvent(*row)


class SQLEventStore(EventStore):
    """Events in one table, a row per event, chained per aggregate.

    Appends are serialised: SQLite has one writer at a time anyway (the
    connection starts transactions IMMEDIATE), and on PostgreSQL an
    EXCLUSIVE table lock makes positions commit in the order they were
    assigned, so a change-feed reader never skips a position that a slower
    transaction commits later. Readers are never blocked.
    """

    def __init__(self, using: str = "default"):
        self.using = using

    @property
    def connection(self):
        return connections[self.using]

    # -- writing ---------------------------------------------------------

    def append(self, events: Sequence[EventIn]) -> list[AppendResult]:
        if not events:
            return []
        with transaction.atomic(using=self.using):
            if self.connection.vendor == "postgresql":
                with self.connection.cursor() as cursor:
                    cursor.execute(f"LOCK TABLE {EventRow._meta.db_table} IN EXCLUSIVE MODE")
            return self._append_locked(events)

    def _append_locked(self, events: Sequence[EventIn]) -> list[AppendResult]:
        event_ids = [str(e.event_id) for e in events if e.event_id is not None]
        stored = self._records_by_id(event_ids)
        keys = [stream_key(e.tenant, e.aggregate_type, e.aggregate_id) for e in events]
        heads = self._heads_by_key(list(set(keys)))

        recorded_text = format_timestamp(timezone.now())
        results: list[AppendResult] = []
        rows = []
        in_batch: dict[str, tuple[dict, AppendResult]] = {}  # event_id -> (record, result)
        subject_keys = KeyCache(self.using)  # each subject's key looked up once per batch
        subject_keys.preload(events)
        changed_heads = {}
        for index, event in enumerate(events):
            event_id = str(event.event_id) if event.event_id is not None else str(uuid.uuid4())
            previous = stored.get(event_id)
            content = sealed_content(event, event_id, subject_keys, previous)
            if previous is not None:
                record, digest = previous
                results.append(duplicate_result(index, content, record, digest))
                continue
            if event_id in in_batch:
                earlier_record, earlier = in_batch[event_id]
                if canonicalize(content) != canonicalize(content_of(earlier_record)):
                    raise EventConflictError(
                        f"events[{index}]: event_id {event_id} appears earlier in this "
                        "batch with other content",
                        index=index,
                        event_id=event_id,
                    )
                results.append(earlier._replace(status="duplicate"))
                continue

            key = keys[index]
            last_sequence, last_hash = heads.get(key, (0, GENESIS_HASH))
            if event.expected_sequence is not None and event.expected_sequence != last_sequence:
                raise ExpectedSequenceError(
                    f"events[{index}]: event {event_id} expected aggregate "
                    f"{key} at sequence {event.expected_sequence}, but it is at "
                    f"{last_sequence}",
                    index=index,
                    event_id=event_id,
                )
            sequence = last_sequence + 1
            record = build_record(
                content, sequence=sequence, recorded_at=recorded_text, prev_hash=last_hash
            )
            canonical = canonicalize(record)
            check_record_size(index, event_id, canonical)
            digest = event_hash(last_hash, canonical)
            heads[key] = changed_heads[key] = (sequence, digest)
            rows.append((record, canonical.decode("utf-8"), digest))
            result = AppendResult(
                event_id, event.tenant, event.aggregate_type, event.aggregate_id,
                sequence, digest, last_hash, recorded_text, "created",
            )
            in_batch[event_id] = (record, result)
            results.append(result)

        self._insert_records(rows)
        self._save_heads(changed_heads)
        return results

    def restore(self, events: Sequence[tuple[dict, str]]) -> int:
        if not events:
            return 0
        with transaction.atomic(using=self.using):
            if self.connection.vendor == "postgresql":
                with self.connection.cursor() as cursor:
                    cursor.execute(f"LOCK TABLE {EventRow._meta.db_table} IN EXCLUSIVE MODE")
            keys = {stream_key(r["tenant"], r["aggregate_type"], r["aggregate_id"]) for r, _ in events}
            heads = self._heads_by_key(list(keys))
            changed, rows = {}, []
            taken = set(self._records_by_id([str(r.get("event_id")) for r, _ in events]))
            for index, (record, digest) in enumerate(events):
                check_restored_id(index + 1, record, taken)
                key, canonical = restored_link(index + 1, record, digest, heads)
                changed[key] = heads[key]
                rows.append((record, canonical.decode("utf-8"), digest))
            self._insert_records(rows)
            self._save_heads(changed)
        return len(rows)

    def _insert_records(self, rows: list[tuple[dict, str, str]]) -> None:
        """Insert ``(record, canonical text, hash)`` rows: the indexed columns come from
        the record (appends and restores alike)."""
        if not rows:
            return
        connection = self.connection
        fields = {f.name: f for f in EventRow._meta.concrete_fields}
        if connection.vendor == "sqlite":
            # What Django's UUIDField and DateTimeField store on SQLite (32 hex digits;
            # naive UTC text), from the record's strings: the ORM's per-value conversion
            # costs more than the insert.
            def prep_uuid(text):
                return text.replace("-", "")

            def prep_time(text):
                return f"{text[:10]} {text[11:26]}"
        else:
            def prep_uuid(text):
                return fields["event_id"].get_db_prep_save(uuid.UUID(text), connection)

            def prep_time(text):
                return fields["occurred_at"].get_db_prep_save(parse_timestamp(text), connection)

        params = [
            (prep_uuid(r["event_id"]), r["tenant"], r["aggregate_type"], r["aggregate_id"], r["sequence"],
             r["event_type"], prep_time(r["occurred_at"]), prep_time(r["recorded_at"]), r["actor"]["id"],
             r["actor"]["type"], r["classification"], r.get("trace_id"), text, digest)
            for r, text, digest in rows
        ]
        columns = (
            "event_id, tenant, aggregate_type, aggregate_id, sequence, event_type, "
            "occurred_at, recorded_at, actor_id, actor_type, classification, trace_id, record, hash"
        )
        types = ("uuid", "text", "text", "text", "bigint", "text", "timestamptz",
                 "timestamptz", "text", "text", "text", "text", "text", "text")
        self._insert_rows(f"INSERT INTO {EventRow._meta.db_table} ({columns})", params, types)

    def _records_by_id(self, event_ids: list[str]) -> dict[str, tuple[dict, str]]:
        found = {}
        prep = EventRow._meta.get_field("event_id").get_db_prep_value
        connection = self.connection
        with connection.cursor() as cursor:
            for chunk in _chunks(event_ids):
                # Raw SQL: the ORM's per-value UUID conversion cost more than the query.
                cursor.execute(
                    f"SELECT record, hash FROM {EventRow._meta.db_table} "
                    f"WHERE event_id IN ({', '.join(['%s'] * len(chunk))})",
                    [prep(uuid.UUID(event_id), connection) for event_id in chunk],
                )
                for record, digest in cursor.fetchall():
                    parsed = orjson.loads(record)
                    found[parsed["event_id"]] = (parsed, digest)
        return found

    def _heads_by_key(self, keys: list[str]) -> dict[str, tuple[int, str]]:
        heads = {}
        for chunk in _chunks(keys):
            rows = AggregateHead.objects.using(self.using).filter(stream_key__in=chunk)
            for key, sequence, digest in rows.values_list(
                "stream_key", "last_sequence", "last_hash"
            ):
                heads[key] = (sequence, digest)
        return heads

    def _insert_rows(self, head: str, rows: list[tuple], types: tuple[str, ...], tail: str = "") -> None:
        """Run ``head VALUES (...) tail`` for every row in one statement.

        ``types`` are the PostgreSQL column types: there the rows travel as one
        array per column through ``unnest`` — a statement with thousands of
        placeholders costs the driver more to parse than the server to run.
        """
        with self.connection.cursor() as cursor:
            if self.connection.vendor == "sqlite":
                # sqlite3 reuses one prepared statement: nothing crosses a network.
                placeholder = f"({', '.join(['%s'] * len(types))})"
                cursor.executemany(f"{head} VALUES {placeholder} {tail}", rows)
                return
            arrays = ", ".join(f"%s::{kind}[]" for kind in types)
            cursor.execute(
                f"{head} SELECT * FROM unnest({arrays}) {tail}",
                [list(column) for column in zip(*rows)],
            )

    def _save_heads(self, changed: dict[str, tuple[int, str]]) -> None:
        if not changed:
            return
        rows = [
            (key, *key.split("/", 2), sequence, digest)
            for key, (sequence, digest) in changed.items()
        ]
        # Standard SQL upsert, the same text on SQLite (3.24+) and PostgreSQL.
        self._insert_rows(
            f"INSERT INTO {AggregateHead._meta.db_table} "
            "(stream_key, tenant, aggregate_type, aggregate_id, last_sequence, last_hash)",
            rows,
            ("text", "text", "text", "text", "bigint", "text"),
            "ON CONFLICT (stream_key) DO UPDATE SET "
            "last_sequence = excluded.last_sequence, last_hash = excluded.last_hash",
        )

    # -- reading ---------------------------------------------------------

    def _rows(self):
        return EventRow.objects.using(self.using)

    def get(self, event_id: str) -> StoredEvent | None:
        try:
            key = uuid.UUID(str(event_id))
        except ValueError:
            return None
        row = self._rows().filter(event_id=key).values_list(*_EVENT_COLUMNS).first()
        return _stored(row) if row else None

    def get_many(self, event_ids: Sequence[str], *, positions: Sequence[int] | None = None) -> list[StoredEvent]:
        pairs = []  # (hex id, position or None)
        for index, event_id in enumerate(event_ids):
            text = str(event_id)
            if not (len(text) == 32 and _HEX32.fullmatch(text)):  # else the database's own spelling
                try:
                    text = uuid.UUID(text).hex
                except ValueError:
                    continue
            pairs.append((text, positions[index] if positions is not None else None))
        connection = connections[self.using]
        table, columns = EventRow._meta.db_table, ", ".join(_EVENT_COLUMNS)
        sqlite = connection.vendor == "sqlite"
        id_text = "event_id" if sqlite else "event_id::text"
        by_id = {}
        with connection.cursor() as cursor:
            # By position first: the primary key, read in order, where the UUID index
            # would be probed at random (an export reads a million).
            by_position = {p: k for k, p in pairs if p is not None}
            for chunk in _chunks(sorted(by_position)):
                if chunk[-1] - chunk[0] < 2 * len(chunk):  # dense: one range beats a list
                    cursor.execute(f"SELECT {id_text}, {columns} FROM {table} WHERE position BETWEEN %s AND %s",
                                   [chunk[0], chunk[-1]])
                else:
                    cursor.execute(f"SELECT {id_text}, {columns} FROM {table} WHERE position IN "
                                   f"({', '.join(['%s'] * len(chunk))})", chunk)
                wanted = set(by_position.values())
                for row in cursor.fetchall():
                    key = row[0].replace("-", "")
                    if key in wanted:  # a stale position read another event: its id is looked up below
                        by_id[key] = _stored(row[1:])
            missing = [k for k, _ in pairs if k not in by_id]
            for chunk in _chunks(missing):
                # Plain SQL: the ORM prepares each of the ids one by one, which costs more
                # than the read when an export fetches a million. SQLite keeps UUIDs as hex.
                marks = ", ".join(["%s"] * len(chunk))
                cursor.execute(f"SELECT {id_text}, {columns} FROM {table} WHERE event_id IN ({marks})",
                               chunk if sqlite else [str(uuid.UUID(k)) for k in chunk])
                for row in cursor.fetchall():
                    by_id[row[0].replace("-", "")] = _stored(row[1:])
        return [found for found in (by_id.get(k) for k, _ in pairs) if found is not None]

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
        rows = self._rows().filter(
            tenant=tenant, aggregate_type=aggregate_type, aggregate_id=aggregate_id, sequence__gt=after
        )
        if before is not None:
            rows = rows.filter(sequence__lt=before)
        if where is not None:
            rows = rows.filter(where)
        rows = (
            rows.order_by("sequence")
            .values_list(*_EVENT_COLUMNS)[:limit]
        )
        return [_stored(row) for row in rows]

    def read_all(self, *, after_position: int = 0, limit: int = 1000) -> list[StoredEvent]:
        rows = (
            self._rows()
            .filter(position__gt=after_position)
            .order_by("position")
            .values_list(*_EVENT_COLUMNS)[:limit]
        )
        return [_stored(row) for row in rows]

    def last_position(self) -> int:
        return self._rows().aggregate(last=Max("position"))["last"] or 0

    def iter_events(
        self, *, tenant: str | None = None, aggregate: tuple[str, str] | None = None
    ) -> Iterator[StoredEvent]:
        conditions, params = [], []
        if tenant is not None:
            conditions.append("tenant = %s")
            params.append(tenant)
        if aggregate is not None:
            conditions.append("aggregate_type = %s AND aggregate_id = %s")
            params.extend(aggregate)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        # One aggregate: its index. Otherwise the table's own order, a sequential
        # scan; positions follow commit order, so each chain still comes in order.
        order = "sequence" if aggregate is not None else "position"
        vendor = self.connection.vendor
        indexed = _INDEXED_COLUMNS
        if vendor == "sqlite":  # text as stored, not the driver's datetime decoding
            indexed = tuple(f"CAST({c} AS TEXT)" if c.endswith("_at") else c for c in indexed)
        columns = ", ".join(_EVENT_COLUMNS + indexed)
        width = len(_EVENT_COLUMNS)
        # Raw rows: Django's per-value converters would cost more than the hashing.
        as_uuid, as_time = _record_form(vendor)
        with self.connection.chunked_cursor() as cursor:
            cursor.execute(
                f"SELECT {columns} FROM {EventRow._meta.db_table} {where} ORDER BY {order}",
                params,
            )
            while rows := cursor.fetchmany(5000):
                for row in rows:
                    event = _stored(row[:width])
                    event.indexed = {
                        "event_id": as_uuid(row[width]),
                        "event_type": row[width + 1],
                        "occurred_at": as_time(row[width + 2]),
                        "recorded_at": as_time(row[width + 3]),
                        "actor_id": row[width + 4],
                        "actor_type": row[width + 5],
                        "classification": row[width + 6],
                        "trace_id": row[width + 7],
                    }
                    yield event

    def heads(
        self, *, tenant: str | None = None, aggregate: tuple[str, str] | None = None
    ) -> dict[tuple[str, str, str], tuple[int, str]]:
        rows = AggregateHead.objects.using(self.using)
        if tenant is not None and aggregate is not None:
            # One aggregate: its unique key, not a walk of the tenant's heads.
            rows = rows.filter(stream_key=stream_key(tenant, *aggregate))
        elif tenant is not None:
            rows = rows.filter(tenant=tenant)
        elif aggregate is not None:
            rows = rows.filter(aggregate_type=aggregate[0], aggregate_id=aggregate[1])
        return {
            (t, at, ai): (sequence, digest)
            for t, at, ai, sequence, digest in rows.values_list(
                "tenant", "aggregate_type", "aggregate_id", "last_sequence", "last_hash"
            )
        }
