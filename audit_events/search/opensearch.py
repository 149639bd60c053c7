"""The search index in OpenSearch: monthly indices behind an alias.

Documents are keyed by event id (idempotent writes) and written in bulk to
the index of their ``recorded_at`` month; searches go through the alias. The
access filter compiled by the policy engine runs inside every query, so
counts, facets and histograms never include an event the reader may not see.
"""

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from django.conf import settings
from opensearchpy import OpenSearch, RequestsHttpConnection
from opensearchpy.exceptions import NotFoundError, RequestError, TransportError
from opensearchpy.helpers import bulk

from ..readers import Reader
from ..store import StoredEvent
from .base import TOTAL_LIMIT, SearchIndex, SearchResult
from ..privacy.sealing import KeyCache
from .documents import document_for
from .query import FACETS, SearchQuery, decode_cursor, encode_cursor, histogram_interval

__all__ = ["OpenSearchIndex", "index_template", "ism_policy"]

_HERE = Path(__file__).parent
_INTERVALS = {"hour": "hour", "day": "day", "week": "week", "month": "month"}
MAX_TERMS = 12


def index_template(prefix: str) -> dict:
    """Explicit mappings: keywords for filters, text for free text, dates, an IP field."""
    keyword = {"type": "keyword"}
    text = {"type": "text", "analyzer": "folding"}
    return {
        "index_patterns": [f"{prefix}-*"],
        "template": {
            "settings": {
                "number_of_shards": 1,
                "number_of_replicas": settings.AUDIT_OPENSEARCH_REPLICAS,
                # Segments kept newest first: newest-first pages stop early instead of
                # sorting every match (the common case: an auditor's latest events).
                "sort.field": "position",
                "sort.order": "desc",
                "analysis": {
                    "analyzer": {
                        "folding": {"type": "custom", "tokenizer": "standard",
                                    "filter": ["lowercase", "asciifolding"]}
                    }
                },
            },
            "mappings": {
                "dynamic": "strict",
                "properties": {
                    "position": {"type": "long"},
                    "event_id": keyword,
                    "tenant": keyword,
                    "aggregate_type": keyword,
                    "aggregate_id": keyword,
                    "event_type": keyword,
                    "actor_id": keyword,
                    "actor_type": keyword,
                    "ip": {"type": "ip"},
                    "classification": keyword,
                    "trace_id": keyword,
                    "occurred_at": {"type": "date"},
                    "recorded_at": {"type": "date"},
                    "text": text,
                    "pii_text": text,
                },
            },
        },
    }


def ism_policy(prefix: str) -> dict:
    """Index State Management: monthly indices kept for the retention, then deleted."""
    document = json.loads((_HERE / "ism_policy.json").read_text())
    policy = document["policy"]
    policy["ism_template"] = [{"index_patterns": [f"{prefix}-*"], "priority": 100}]
    for state in policy["states"]:
        for transition in state.get("transitions", []):
            if "min_index_age" in transition.get("conditions", {}):
                transition["conditions"]["min_index_age"] = f"{settings.AUDIT_SEARCH_RETENTION_DAYS}d"
    return document


class OpenSearchIndex(SearchIndex):
    """opensearch-py against ``OPENSEARCH_URL`` (SigV4 when ``OPENSEARCH_AWS_REGION`` is set)."""

    def __init__(self, url: str | None = None, *, prefix: str | None = None, client=None):
        self.prefix = prefix or settings.AUDIT_OPENSEARCH_PREFIX
        self.alias = self.prefix
        self.client = client or _client(url or settings.OPENSEARCH_URL)
        self._ready = False

    # -- set-up --------------------------------------------------------------

    def ensure_ready(self) -> None:
        """Install the template (and the ISM policy where the plugin exists), once."""
        if self._ready:
            return
        self.client.indices.put_index_template(name=f"{self.prefix}-template", body=index_template(self.prefix))
        try:
            self.client.transport.perform_request(
                "PUT", f"/_plugins/_ism/policies/{self.prefix}-retention", body=ism_policy(self.prefix)
            )
        except (NotFoundError, RequestError, TransportError):
            pass  # no ISM plugin (the core-only test engine): indices are kept until deleted
        self._ready = True

    def _index_name(self, recorded_at: str) -> str:
        return f"{self.prefix}-{recorded_at[:4]}.{recorded_at[5:7]}"

    def _ensure_index(self, name: str) -> None:
        if not self.client.indices.exists(index=name):
            try:
                self.client.indices.create(index=name, body={"aliases": {self.alias: {}}})
            except RequestError as exc:  # created meanwhile by another writer
                if "resource_already_exists" not in str(exc):
                    raise

    # -- writing ---------------------------------------------------------------

    def index(self, events: Sequence[StoredEvent]) -> None:
        if not events:
            return
        self.ensure_ready()
        actions, names, keys = [], set(), KeyCache()
        keys.preload_sealed([event.record for event in events])  # the batch's keys read together
        for event in events:
            document = document_for(event, keys)
            document.pop("ip_hex")  # the ip field itself answers CIDR queries here
            name = self._index_name(document["recorded_at"])
            names.add(name)
            actions.append({"_index": name, "_id": document["event_id"], "_source": document})
        for name in names:
            self._ensure_index(name)
        # Retries are safe: a document's id is its event's id.
        bulk(self.client, actions, chunk_size=1000, max_retries=3, refresh=settings.AUDIT_OPENSEARCH_REFRESH)

    def reset(self) -> None:
        for pattern in (f"{self.prefix}-*", f"{self.prefix}_rebuild_*"):
            self.client.indices.delete(index=pattern, ignore_unavailable=True)
        self._ready = False

    def rebuild(self, batches) -> None:
        # Into fresh indices under a staging prefix, then the alias moves in one request.
        # "_" keeps the staging indices out of this index's template pattern ("prefix-*").
        staging = OpenSearchIndex(prefix=f"{self.prefix}_rebuild_{datetime.now(timezone.utc):%Y%m%d%H%M%S}",
                                  client=self.client)
        staging.alias = f"{staging.prefix}-alias"
        for batch in batches:
            staging.index(batch)
        new_indices = list(self.client.indices.get(index=f"{staging.prefix}-*", ignore_unavailable=True))
        old_indices = list(self.client.indices.get_alias(name=self.alias, ignore_unavailable=True) or {}) \
            if self.client.indices.exists_alias(name=self.alias) else []
        actions = [{"add": {"index": name, "alias": self.alias}} for name in new_indices]
        actions += [{"remove": {"index": name, "alias": self.alias}} for name in old_indices]
        if actions:
            self.client.indices.update_aliases(body={"actions": actions})
        for name in old_indices:
            self.client.indices.delete(index=name, ignore_unavailable=True)
        self.client.indices.delete_index_template(name=f"{staging.prefix}-template", ignore=[404])

    # -- querying ----------------------------------------------------------------

    def _query(self, query: SearchQuery, reader: Reader) -> tuple[dict, str]:
        filters = [reader.filter_for("search", "opensearch")]
        must = []
        if query.q:
            from .sql import _WORD  # the same words as the SQL backend

            pii_scope = reader.pii_filter_for("search", "opensearch")
            for word in [w.lower() for w in _WORD.findall(query.q)][:MAX_TERMS]:
                must.append({"bool": {"should": [
                    {"match": {"text": {"query": word, "operator": "and"}}},
                    {"bool": {"filter": [{"match": {"pii_text": {"query": word, "operator": "and"}}}, pii_scope]}},
                ], "minimum_should_match": 1}})
        exact = {
            "tenant": query.tenant, "aggregate_type": query.aggregate_type,
            "aggregate_id": query.aggregate_id, "event_type": query.event_type,
            "actor_id": query.actor_id, "actor_type": query.actor_type,
            "classification": query.classification, "trace_id": query.trace_id,
        }
        filters += [{"term": {k: v}} for k, v in exact.items() if v is not None]
        if query.ip is not None:
            filters.append({"term": {"ip": query.ip}})  # an ip field takes CIDR blocks
        time_field = "occurred_at" if query.time == "occurred" else "recorded_at"
        bounds = {}
        if query.from_ is not None:
            bounds["gte"] = query.from_.isoformat()
        if query.to is not None:
            bounds["lt"] = query.to.isoformat()
        if bounds:
            filters.append({"range": {time_field: bounds}})
        return {"bool": {"filter": filters, "must": must}}, time_field

    def search(self, query: SearchQuery, *, reader: Reader) -> SearchResult:
        limit = TOTAL_LIMIT  # the count's cap; aggregations cover every match
        if not self.client.indices.exists_alias(name=self.alias):
            return SearchResult([], 0, True, None, {name: [] for name in FACETS},
                                {"interval": None, "field": "occurred_at", "buckets": []})
        body_query, time_field = self._query(query, reader)
        # Totals, facets and histogram describe the whole result: the first page
        # carries them, later pages are a plain keyset read.
        first_page = query.cursor is None
        order = "desc" if query.sort == "newest" else "asc"
        body = {
            "size": query.limit + 1,
            "query": body_query,
            "sort": [{"position": order}],
            "track_total_hits": limit if first_page else False,
            "_source": ["event_id", "position"],
        }
        if first_page:
            body["aggs"] = {
                name: {"terms": {"field": name, "size": 10, "order": [{"_count": "desc"}, {"_key": "asc"}]}}
                for name in FACETS
            }
            if query.from_ is not None and query.to is not None:
                interval = histogram_interval(query.from_, query.to)
                body["aggs"]["histogram"] = {"date_histogram": {
                    "field": time_field, "calendar_interval": interval, "min_doc_count": 1}}
            else:  # the range is the result's own: let the engine size the buckets
                body["aggs"]["histogram"] = {"auto_date_histogram": {"field": time_field, "buckets": 60}}
        if query.cursor is not None:
            body["search_after"] = [decode_cursor(query.cursor, sort=query.sort)]
        response = self.client.search(index=self.alias, body=body)
        hits = response["hits"]["hits"]
        more = len(hits) > query.limit
        hits = hits[: query.limit]
        result = SearchResult(
            event_ids=[hit["_source"]["event_id"] for hit in hits],
            total=None,
            total_is_exact=True,
            next_cursor=encode_cursor(hits[-1]["_source"]["position"], sort=query.sort) if more else None,
            count_limit=limit,
        )
        if first_page:
            total = response["hits"]["total"]
            aggs = response["aggregations"]
            histogram = aggs["histogram"]
            result.total = min(total["value"], limit)
            result.total_is_exact = total["relation"] == "eq" and total["value"] <= limit
            result.facets = {name: [{"value": b["key"], "count": b["doc_count"]} for b in aggs[name]["buckets"]]
                             for name in FACETS}
            result.histogram = {
                "interval": histogram.get("interval", body["aggs"]["histogram"].get("date_histogram", {})
                                          .get("calendar_interval")),
                "field": time_field,
                "buckets": [{"start": b["key_as_string"].replace(".000Z", "Z"), "count": b["doc_count"]}
                            for b in histogram["buckets"] if b["doc_count"]],
            }
        return result

    def last_position(self) -> int:
        if not self.client.indices.exists_alias(name=self.alias):
            return 0
        last = self.client.search(index=self.alias, body={"size": 0, "track_total_hits": False, "aggs": {
            "last": {"max": {"field": "position"}}}})["aggregations"]["last"]["value"]
        return int(last or 0)

    def iter_matches(self, query: SearchQuery, *, reader: Reader, batch: int = 2000, span=None):
        if not self.client.indices.exists_alias(name=self.alias):
            return
        body_query, _ = self._query(query, reader)
        if span is not None:
            body_query = {"bool": {"filter": [body_query, {"range": {"position": {"gt": span[0], "lte": span[1]}}}]}}
        after = None
        while True:  # search_after on position: a keyset read, no deep-paging window
            body = {"size": batch, "query": body_query, "sort": [{"position": "asc"}],
                    "_source": ["event_id", "position"], "track_total_hits": False}
            if after is not None:
                body["search_after"] = [after]
            hits = self.client.search(index=self.alias, body=body)["hits"]["hits"]
            if not hits:
                return
            yield [(hit["_source"]["position"], hit["_source"]["event_id"]) for hit in hits]
            if len(hits) < batch:
                return
            after = hits[-1]["_source"]["position"]


def _client(url: str) -> OpenSearch:
    region = settings.OPENSEARCH_AWS_REGION
    if region:  # Amazon OpenSearch Service: requests signed with the Lambda's role
        import boto3
        from opensearchpy import AWSV4SignerAuth

        credentials = boto3.Session().get_credentials()
        return OpenSearch(url, http_auth=AWSV4SignerAuth(credentials, region, "es"),
                          connection_class=RequestsHttpConnection, timeout=30)
    return OpenSearch(url, timeout=30)
