"""The OpenSearch engine the tests use supports what the search adapter needs.

Runs against ``OPENSEARCH_URL`` when it is set (any OpenSearch 2.x, e.g.
``http://127.0.0.1:9200`` or ``https://admin:secret@127.0.0.1:9200`` with
``OPENSEARCH_VERIFY_CERTS=false`` for a self-signed certificate); otherwise
against the embedded engine of ``tests/services/opensearch`` (see
docs/SEARCH_ENGINE.md). When that cannot start the tests skip, except under
``CI``, where they fail.
"""

import os
import uuid
from collections import Counter

import pytest


pytestmark = pytest.mark.opensearch


@pytest.fixture(scope="session")
def opensearch(opensearch_url):
    from opensearchpy import OpenSearch

    verify = os.environ.get("OPENSEARCH_VERIFY_CERTS", "true").lower() not in ("0", "false", "no")
    client = OpenSearch(
        hosts=[opensearch_url], verify_certs=verify, ssl_show_warn=verify, timeout=30, max_retries=0
    )
    yield client
    client.close()


MAPPING = {
    "settings": {
        "number_of_shards": 1,
        "number_of_replicas": 0,
        "analysis": {
            "analyzer": {
                # analysis-common: "Grüße" is found by "grusse" and "GRÜSSE".
                "folded": {"type": "custom", "tokenizer": "standard", "filter": ["lowercase", "asciifolding"]}
            }
        },
    },
    "mappings": {
        "dynamic": "strict",
        "properties": {
            "event_id": {"type": "keyword"},
            "tenant": {"type": "keyword"},
            "event_type": {"type": "keyword"},
            "actor_id": {"type": "keyword"},
            "ip": {"type": "ip"},
            "occurred_at": {"type": "date"},
            "text": {"type": "text", "analyzer": "folded"},
        },
    },
}

DOCS = [
    ("e1", "AccountOpened", "u-ann", "192.0.2.10", "2026-11-18T08:00:00Z", "Account opened for Grüße GmbH"),
    ("e2", "AccountUpdated", "u-ann", "192.0.2.11", "2026-11-18T09:30:00Z", "Limit raised to 5000"),
    ("e3", "AccountUpdated", "u-bob", "198.51.100.7", "2026-11-19T10:00:00Z", "Address changed"),
    ("e4", "TransferSent", "u-bob", "198.51.100.7", "2026-11-19T11:15:00Z", "Transfer to Société Générale"),
    ("e5", "TransferSent", "u-ann", "192.0.2.10", "2026-11-20T07:45:00Z", "Transfer failed: limit"),
    ("e6", "AccountUpdated", "svc-batch", "203.0.113.5", "2026-11-20T12:00:00Z", "Nightly sync"),
    ("e7", "AccountClosed", "u-bob", "198.51.100.8", "2026-11-20T23:59:59Z", "Closed on request"),
]


def _doc(event_id, event_type, actor, ip, occurred_at, text):
    return {
        "event_id": event_id,
        "tenant": "acme",
        "event_type": event_type,
        "actor_id": actor,
        "ip": ip,
        "occurred_at": occurred_at,
        "text": text,
    }


@pytest.fixture
def index(opensearch):
    name = f"portal-engine-check-{uuid.uuid4().hex[:12]}"
    opensearch.indices.create(index=name, body=MAPPING)
    yield name
    opensearch.indices.delete(index=name, ignore_unavailable=True)


def _ids(response):
    return sorted(hit["_id"] for hit in response["hits"]["hits"])


def test_engine_supports_what_the_search_adapter_uses(opensearch, index):
    from opensearchpy import helpers

    health = opensearch.cluster.health(wait_for_status="yellow")
    assert health["status"] in ("green", "yellow")

    actions = [{"_index": index, "_id": d[0], "_source": _doc(*d)} for d in DOCS]
    indexed, errors = helpers.bulk(opensearch, actions)
    assert (indexed, errors) == (len(DOCS), [])
    opensearch.indices.refresh(index=index)

    # Free text through simple_query_string, with asciifolding from analysis-common.
    def free_text(query):
        body = {"query": {"simple_query_string": {"query": query, "fields": ["text"], "default_operator": "and"}}}
        return _ids(opensearch.search(index=index, body=body))

    assert free_text("GRUSSE") == ["e1"]
    assert free_text("societe generale") == ["e4"]
    assert free_text("transfer -failed") == ["e4"]
    assert free_text('"limit raised"') == ["e2"]

    # Filters: keyword terms, CIDR on an ip field, a date range.
    body = {
        "query": {
            "bool": {
                "filter": [
                    {"term": {"tenant": "acme"}},
                    {"term": {"ip": "198.51.100.0/24"}},
                    {"range": {"occurred_at": {"gte": "2026-11-19T00:00:00Z", "lt": "2026-11-20T00:00:00Z"}}},
                ]
            }
        }
    }
    assert _ids(opensearch.search(index=index, body=body)) == ["e3", "e4"]

    # Facets and a histogram in one request, with an exact total.
    body = {
        "size": 0,
        "track_total_hits": 10000,
        "aggs": {
            "event_type": {"terms": {"field": "event_type", "size": 10}},
            "per_day": {
                "date_histogram": {
                    "field": "occurred_at",
                    "calendar_interval": "day",
                    "time_zone": "UTC",
                    "min_doc_count": 0,
                }
            },
        },
    }
    response = opensearch.search(index=index, body=body)
    assert response["hits"]["total"] == {"value": len(DOCS), "relation": "eq"}
    facets = {b["key"]: b["doc_count"] for b in response["aggregations"]["event_type"]["buckets"]}
    assert facets == dict(Counter(d[1] for d in DOCS))
    days = [(b["key_as_string"][:10], b["doc_count"]) for b in response["aggregations"]["per_day"]["buckets"]]
    assert days == [("2026-11-18", 2), ("2026-11-19", 2), ("2026-11-20", 3)]

    # Cursor pagination: a point in time and search_after, newest first; a
    # document indexed after the PIT opened is not seen by it.
    pit_id = opensearch.create_pit(index=index, keep_alive="1m")["pit_id"]
    try:
        opensearch.index(
            index=index, id="e8", body=_doc("e8", "AccountOpened", "u-cy", "192.0.2.99", "2026-11-21T00:00:00Z", "late"),
            refresh=True,
        )
        seen, search_after, pages = [], None, 0
        while True:
            body = {
                "size": 3,
                "pit": {"id": pit_id, "keep_alive": "1m"},
                "sort": [{"occurred_at": "desc"}, {"event_id": "asc"}],
                "track_total_hits": False,
            }
            if search_after is not None:
                body["search_after"] = search_after
            response = opensearch.search(body=body)
            hits = response["hits"]["hits"]
            if not hits:
                break
            pages += 1
            seen += [hit["_id"] for hit in hits]
            search_after = hits[-1]["sort"]
            pit_id = response.get("pit_id", pit_id)
        assert seen == ["e7", "e6", "e5", "e4", "e3", "e2", "e1"]
        assert pages == 3
    finally:
        opensearch.delete_pit(body={"pit_id": [pit_id]})

    # Without the PIT the new document is there.
    assert opensearch.count(index=index)["count"] == len(DOCS) + 1

    opensearch.indices.delete(index=index)
    assert not opensearch.indices.exists(index=index)
