"""The SQL search backend (SQLite FTS5 and PostgreSQL full text) through the shared contract."""

import pytest
from django.conf import settings

from audit_events.search.sql import SQLSearchIndex
from audit_events.store.sql import SQLEventStore
from tests.audit_events.search.contracts import SearchIndexContract
from tests.audit_events.store.test_sql import require_postgres

_POSTGRES = ["postgres"] if "postgres" in settings.DATABASES else []


@pytest.mark.django_db(databases=["default"])
class TestSQLiteSearchIndex(SearchIndexContract):
    def create_index(self):
        return SQLSearchIndex(using="default")

    def create_store(self):
        return SQLEventStore(using="default")


@pytest.mark.postgres
@pytest.mark.django_db(databases=_POSTGRES)
class TestPostgresSearchIndex(SearchIndexContract):
    @pytest.fixture(autouse=True)
    def _postgres(self):
        require_postgres()

    def create_index(self):
        return SQLSearchIndex(using="postgres")

    def create_store(self):
        return SQLEventStore(using="postgres")


@pytest.mark.django_db(databases=["default"])
class TestSQLiteTags:
    """SQLite's tag tokens (tenant, types, days) stay in step with the documents."""

    @pytest.fixture
    def corpus(self):
        from tests.audit_events.store.contracts import event

        store = SQLEventStore(using="default")
        store.append([event(tenant=t, aggregate_id=f"a-{n}", event_type="AccountFrozen", pii=[], payload={"n": n})
                      for n, t in enumerate(["acme", "acme", "globex"])])
        return store

    def search(self, index, **params):
        from audit_events.search import parse_search_params
        from tests.audit_events.search.contracts import reader

        return index.search(parse_search_params(params), reader=reader())

    def test_reindexing_and_reset_keep_the_tokens_in_step(self, corpus):
        index = SQLSearchIndex(using="default")
        index.index(corpus.read_all())
        index.index(corpus.read_all())  # updates: the triggers delete the old tokens first
        assert self.search(index, event_type="AccountFrozen").total == 3
        assert self.search(index, event_type="AccountFrozen", tenant="acme").total == 2
        index.reset()
        assert self.search(index, event_type="AccountFrozen").total == 0

    def test_counts_stop_at_the_configured_limit(self, corpus, settings):
        settings.SEARCH_SQL_COUNT_LIMIT = 2
        index = SQLSearchIndex(using="default")
        index.index(corpus.read_all())
        result = self.search(index, event_type="AccountFrozen")
        assert (result.total, result.total_is_exact, result.total_text) == (2, False, "2+")
        assert result.facets_basis == 2 and sum(f["count"] for f in result.facets["tenant"]) == 2
        assert len(self.search(index, event_type="AccountFrozen", limit=5).event_ids) == 3
