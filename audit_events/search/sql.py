"""The search index in the SQL database: SQLite FTS5, or PostgreSQL full text."""

import copy
import ipaddress
import re
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Sequence

from django.conf import settings
from django.db import connections, transaction
from django.db.models import BooleanField, CharField, DateTimeField, Max, Q
from django.db.models.functions import Cast
from django.db.models.lookups import GreaterThanOrEqual, In, LessThan
from django.db.models.expressions import RawSQL

from ..models import SearchDocument
from ..readers import Reader
from ..store import StoredEvent
from .base import SearchIndex, SearchResult
from ..privacy.sealing import KeyCache
from .documents import document_for
from .tags import DAY_PREFIXES, day_tokens, value_token
from .query import FACETS, SearchQuery, decode_cursor, encode_cursor, histogram_interval

__all__ = ["SQLSearchIndex"]

_WORD = re.compile(r"\w+")
_FIELDS = [f.name for f in SearchDocument._meta.concrete_fields if f.name != "position"]
MAX_TERMS = 12
_MATCH_NONE = Q(pk__in=[])  # how the access engine compiles "nothing"


class SQLSearchIndex(SearchIndex):
    """Documents in ``audit_search_document``; full text by the database's own index.

    Free text is split into words, each matched as a quoted term (SQLite) or
    through ``plainto_tsquery`` (PostgreSQL): nothing a user types is ever
    read as query syntax.
    """

    def __init__(self, using: str = "default", count_limit: int | None = None):
        self.using = using
        self.count_limit = count_limit or settings.SEARCH_SQL_COUNT_LIMIT

    def _docs(self):
        return SearchDocument.objects.using(self.using)

    def index(self, events: Sequence[StoredEvent]) -> None:
        keys = KeyCache(self.using)  # the batch's keys read together, from the events' database
        keys.preload_sealed([event.record for event in events])
        documents = [SearchDocument(**document_for(event, keys)) for event in events]
        if documents:
            self._docs().bulk_create(
                documents, update_conflicts=True, unique_fields=["position"], update_fields=_FIELDS
            )

    def reset(self) -> None:
        with transaction.atomic(using=self.using):
            self._docs().all().delete()

    def rebuild(self, batches) -> None:
        # One transaction: readers keep seeing the old documents until it commits.
        with transaction.atomic(using=self.using):
            self._docs().all().delete()
            for batch in batches:
                self.index(batch)

    # -- querying ----------------------------------------------------------

    def _sqlite(self) -> bool:
        return connections[self.using].vendor == "sqlite"

    def _term(self, column: str, word: str) -> Q:
        if self._sqlite():
            sql = (
                f'"{SearchDocument._meta.db_table}"."position" IN '
                "(SELECT rowid FROM audit_search_fts WHERE audit_search_fts MATCH %s)"
            )
            # A quoted FTS5 string restricted to one column; words hold no quotes.
            match = f'{column} : "{word}"'
            return Q(RawSQL(sql, [match], output_field=BooleanField()))
        if column == "{text pii_text}":  # each column's GIN index, OR-ed by a bitmap
            return Q(RawSQL("(text_tsv @@ plainto_tsquery('simple', %s) OR pii_tsv @@ plainto_tsquery('simple', %s))",
                            [word, word], output_field=BooleanField()))
        tsv = {"text": "text_tsv", "pii_text": "pii_tsv"}[column]
        return Q(RawSQL(f"{tsv} @@ plainto_tsquery('simple', %s)", [word], output_field=BooleanField()))

    def _matching(self, query: SearchQuery, reader: Reader):
        """The reader's matches as a queryset, the time field, and (SQLite) the FTS5
        expression that narrows the candidates, or None when walking positions is cheaper."""
        sqlite = self._sqlite()
        access = reader.filter_for("search")
        if sqlite:
            access = _tenant_index_unused(access)
        docs = self._docs().filter(access)
        match = []
        if query.q:
            words = [w.lower() for w in _WORD.findall(query.q)][:MAX_TERMS]
            pii_scope = reader.pii_filter_for("search")
            for word in words:
                # Personal data matches only where the reader may see it.
                if sqlite and pii_scope == _MATCH_NONE:
                    match.append(f'text : "{word}"')
                elif sqlite:
                    match.append(f'{{text pii_text}} : "{word}"')
                    # The scope first: where it holds, the text-only list is never built.
                    docs = docs.filter(pii_scope | self._term("text", word))
                else:
                    # The match over both columns comes first, on its own: an OR around
                    # it would keep PostgreSQL from starting at the full-text index.
                    docs = docs.filter(self._term("{text pii_text}", word)).filter(
                        self._term("text", word) | pii_scope)
        exact = {
            "tenant": query.tenant, "aggregate_type": query.aggregate_type,
            "aggregate_id": query.aggregate_id, "event_type": query.event_type,
            "actor_id": query.actor_id, "actor_type": query.actor_type,
            "classification": query.classification, "trace_id": query.trace_id,
        }
        docs = docs.filter(**{k: v for k, v in exact.items() if v is not None})
        if query.network is not None:
            low, high = _range(query.network)
            docs = docs.filter(ip_hex__gte=low, ip_hex__lte=high)
        time_field = "occurred_at" if query.time == "occurred" else "recorded_at"
        # Positions follow recorded time, so newest-first pages walk positions and stop early;
        # a time index would read the whole range and sort it (seconds for "past 30 days").
        if query.from_ is not None:
            docs = docs.filter(**{f"{time_field}__gte_unindexed": query.from_})
        if query.to is not None:
            docs = docs.filter(**{f"{time_field}__lt_unindexed": query.to})
        if sqlite:
            match += self._tags(query, reader, time_field)
        return docs, time_field, (" AND ".join(match) if match else None)

    def _tags(self, query: SearchQuery, reader: Reader, time_field: str) -> list[str]:
        """Tag terms for the FTS5 expression: the selective filters, then the tenants."""
        terms = [f"tags : {value_token(field, value)}"
                 for field, value in (("event_type", query.event_type), ("aggregate_type", query.aggregate_type),
                                      ("classification", query.classification)) if value is not None]
        if query.from_ is not None and query.to is not None:
            days = day_tokens(time_field, query.from_, query.to)
            if days is not None:
                terms.append("tags : (" + " OR ".join(days or [DAY_PREFIXES[time_field]]) + ")")
        if not terms and not query.q:
            return []  # a tenant alone: its position index is the better walk
        tenants = [query.tenant] if query.tenant is not None else reader.tenant_scope("search")
        if tenants is not None:
            # No tenant at all: a token no document carries (tenants are never empty).
            tokens = [value_token("tenant", t) for t in tenants] or [value_token("tenant", "")]
            terms.append("tags : (" + " OR ".join(tokens) + ")")
        return terms

    def _ordered(self, docs, match: str | None, *, newest: bool):
        """``docs`` in position order; with a match, driven by the FTS5 index in its rowid
        (= position) order, so a first page stops after its rows."""
        if match is None:
            return docs.order_by("-position" if newest else "position")
        return docs.extra(
            tables=["audit_search_fts"],
            where=["audit_search_fts MATCH %s", f'audit_search_fts.rowid = "{SearchDocument._meta.db_table}"."position"'],
            params=[match],
            select={"_fts": "audit_search_fts.rowid"},
        ).order_by("-_fts" if newest else "_fts")

    def search(self, query: SearchQuery, *, reader: Reader) -> SearchResult:
        limit = self.count_limit
        docs, time_field, match = self._matching(query, reader)
        newest = query.sort == "newest"
        if query.cursor is None and newest:
            return self._first_page(docs, match, query, time_field, limit)
        # Totals, facets and histogram come with the first page; later pages are a keyset read.
        page = docs
        if query.cursor is not None:
            after = decode_cursor(query.cursor, sort=query.sort)
            page = page.filter(position__lt=after) if newest else page.filter(position__gt=after)
        rows = list(self._ordered(page, match, newest=newest).values_list("position", "event_id")[: query.limit + 1])
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        facets, histogram, basis, total = ({}, {}, None, None)
        if query.cursor is None:
            summary = list(self._ordered(docs, match, newest=True).annotate(_time=_as_text(time_field))
                           .values_list(*FACETS, "_time")[: limit + 1])
            total = len(summary)
            facets, histogram, basis = self._summarise(summary, query, time_field, limit)
        return SearchResult(
            event_ids=[str(event_id) for _, event_id in rows],
            total=None if total is None else min(total, limit),
            total_is_exact=total is None or total <= limit,
            next_cursor=encode_cursor(rows[-1][0], sort=query.sort) if more else None,
            facets=facets,
            histogram=histogram,
            facets_basis=basis,
            count_limit=limit,
        )

    def last_position(self) -> int:
        return self._docs().aggregate(last=Max("position"))["last"] or 0

    def iter_matches(self, query: SearchQuery, *, reader: Reader, batch: int = 2000, span=None):
        docs, _, match = self._matching(query, reader)
        after, upto = span if span is not None else (0, self.last_position())
        # Windows of positions, not "the next N after": with a tenant filter the planner
        # would otherwise walk the tenant index and sort it for every batch.
        for start in range(after, upto, batch * 10):
            window = docs.filter(position__gt=start, position__lte=min(start + batch * 10, upto))
            rows = list(self._ordered(window, match, newest=False)
                        .annotate(_id=_as_text("event_id")).values_list("position", "_id"))
            for chunk in range(0, len(rows), batch):  # bounded batches for the caller's reads
                yield rows[chunk: chunk + batch]  # ids as the database's text: get_many reads it

    def _first_page(self, docs, match, query: SearchQuery, time_field: str, limit: int) -> SearchResult:
        """The usual first page (newest first) in one read: the newest ``limit + 1``
        matches give the total, the facets, the histogram and the page itself."""
        # Both as text: converting thousands of UUIDs and datetimes costs more than the query.
        rows = list(self._ordered(docs, match, newest=True)
                    .annotate(_id=_as_text("event_id"), _time=_as_text(time_field))
                    .values_list("position", "_id", *FACETS, "_time")[: limit + 1])
        facets, histogram, basis = self._summarise([row[2:] for row in rows], query, time_field, limit)
        page = rows[: query.limit]
        return SearchResult(
            event_ids=[str(uuid.UUID(row[1])) for row in page],
            total=min(len(rows), limit),
            total_is_exact=len(rows) <= limit,
            next_cursor=encode_cursor(page[-1][0], sort=query.sort) if len(rows) > query.limit else None,
            facets=facets,
            histogram=histogram,
            facets_basis=basis,
            count_limit=limit,
        )

    def _summarise(self, rows, query: SearchQuery, time_field: str, limit: int) -> tuple[dict, dict, int | None]:
        """Facets and histogram from rows of (*FACETS, time), newest first: one bounded
        read instead of a GROUP BY per facet over every match. On a large result they
        describe its newest ``limit`` events, and the third value says so (``None`` when
        they cover every match)."""
        basis = limit if len(rows) > limit else None
        rows = rows[:limit]
        facets = {}
        for index, name in enumerate(FACETS):
            counts = Counter(row[index] for row in rows)
            ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:10]
            facets[name] = [{"value": value, "count": count} for value, count in ranked]
        # Times come as the database's UTC text: counting by its hour or day prefix
        # spares parsing 10,000 datetimes; only the buckets are parsed.
        times = [row[-1] for row in rows]
        start = query.from_ or (_parse(min(times)) if times else None)
        end = query.to or (_parse(max(times)) if times else None)
        if start is None or end is None:
            return facets, {"interval": None, "field": time_field, "buckets": []}, basis
        interval = histogram_interval(start, end)
        prefixes = Counter(t[:13] if interval == "hour" else t[:10] for t in times)
        buckets = Counter()
        for prefix, count in prefixes.items():
            buckets[_truncate(_parse(prefix), interval)] += count
        histogram = {
            "interval": interval,
            "field": time_field,
            "buckets": [{"start": _iso(b), "count": n} for b, n in sorted(buckets.items())],
        }
        return facets, histogram, basis


def _truncate(value: datetime, interval: str) -> datetime:
    value = value.astimezone(timezone.utc)
    if interval == "hour":
        return value.replace(minute=0, second=0, microsecond=0)
    day = value.replace(hour=0, minute=0, second=0, microsecond=0)
    if interval == "day":
        return day
    if interval == "week":  # ISO weeks start on Monday, as the databases truncate
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _range(network) -> tuple[str, str]:
    if network.version == 4:
        low = ipaddress.IPv6Address(f"::ffff:{network.network_address}")
        high = ipaddress.IPv6Address(f"::ffff:{network.broadcast_address}")
    else:
        low, high = network.network_address, network.broadcast_address
    return f"{int(low):032x}", f"{int(high):032x}"


class _Unindexed:
    """A comparison SQLite may not answer from an index (``+column``): with several tenants
    or a wide time range, walking ``position`` newest first and filtering stops after the
    page, where an index would read every match and sort them all."""

    def process_lhs(self, compiler, connection, lhs=None):
        sql, params = super().process_lhs(compiler, connection, lhs)
        return ("+" + sql if connection.vendor == "sqlite" else sql), params


@CharField.register_lookup
class _InUnindexed(_Unindexed, In):
    lookup_name = "in_unindexed"


@DateTimeField.register_lookup
class _GteUnindexed(_Unindexed, GreaterThanOrEqual):
    lookup_name = "gte_unindexed"

    def get_rhs_op(self, connection, rhs):
        return connection.operators["gte"] % rhs


@DateTimeField.register_lookup
class _LtUnindexed(_Unindexed, LessThan):
    lookup_name = "lt_unindexed"

    def get_rhs_op(self, connection, rhs):
        return connection.operators["lt"] % rhs


def _tenant_index_unused(condition):
    """The access filter with its multi-tenant ``IN (…)`` tests made index-free (one
    tenant's index is in position order, so it stays)."""
    if isinstance(condition, Q):
        rewritten = copy.copy(condition)
        rewritten.children = [_tenant_index_unused(child) for child in condition.children]
        return rewritten
    if isinstance(condition, tuple) and condition[0] == "tenant__in" and len(condition[1]) > 1:
        return ("tenant__in_unindexed", condition[1])
    return condition


def _as_text(field: str):
    """A column as the database's own text (datetimes: UTC ``YYYY-MM-DD HH:MM:SS…``)."""
    return Cast(field, output_field=CharField())


def _parse(text: str) -> datetime:
    """The start of the database's UTC text ``YYYY-MM-DD[ HH[:MM[:SS…]]]`` as an aware datetime."""
    text = text.replace("T", " ")[:19]
    text += "0000-01-01 00:00:00"[len(text):]
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
