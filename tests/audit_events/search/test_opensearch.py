"""The OpenSearch search backend, against a real engine, through the shared contract."""

import uuid

import pytest

from audit_events.search.opensearch import OpenSearchIndex
from audit_events.store.sql import SQLEventStore
from tests.audit_events.search.contracts import SearchIndexContract


@pytest.fixture
def opensearch_index(opensearch_url, settings):
    settings.AUDIT_OPENSEARCH_REFRESH = "true"  # each bulk write visible at once
    index = OpenSearchIndex(opensearch_url, prefix=f"test-{uuid.uuid4().hex[:8]}")
    yield index
    index.reset()


@pytest.mark.opensearch
@pytest.mark.django_db(databases=["default"])
class TestOpenSearchIndex(SearchIndexContract):
    @pytest.fixture
    def index(self, opensearch_index):
        return opensearch_index

    def create_store(self):
        return SQLEventStore(using="default")


@pytest.mark.opensearch
@pytest.mark.django_db(databases=["default"])
def test_rebuild_swaps_the_alias_without_a_gap(opensearch_index):
    from audit_events.search import parse_search_params
    from tests.audit_events.search.contracts import reader
    from tests.audit_events.store.contracts import event

    store = SQLEventStore(using="default")
    store.append([event(pii=[], payload={"n": n}) for n in range(5)])
    opensearch_index.index(store.read_all())
    query = parse_search_params({})
    assert opensearch_index.search(query, reader=reader()).total == 5
    opensearch_index.rebuild([store.read_all()[:3], store.read_all()[3:]])
    assert opensearch_index.search(query, reader=reader()).total == 5
    names = opensearch_index.client.indices.get_alias(name=opensearch_index.alias)
    assert all("_rebuild_" in name for name in names)  # the old indices are gone
