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
