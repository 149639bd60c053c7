"""The SQL event store on SQLite and on PostgreSQL, through the shared contract."""

import contextlib
import os
import uuid

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError, connections, transaction

from audit_events.store.sql import SQLEventStore
from tests.audit_events.store.contracts import EventStoreContract, event


def require_postgres():
    if "postgres" not in settings.DATABASES:
        message = "TEST_POSTGRES_URL is not set (make test starts a server when PostgreSQL is installed)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@contextlib.contextmanager
def scratch_database(alias: str, django_db_blocker):
    """A freshly migrated database beside the test database, dropped afterwards.

    Concurrency needs committed data seen by several connections, which the
    test database's per-test transaction cannot give; and a flush could not
    empty it anyway, since the events table refuses DELETE and TRUNCATE.
    """
    name = f"scratch_{uuid.uuid4().hex[:10]}"
    with django_db_blocker.unblock():
        template = connections[alias].settings_dict
        config = dict(template)
        if template["ENGINE"].endswith("sqlite3"):
            config["NAME"] = str(settings.VAR_DIR / f"{name}.sqlite3")
        else:
            _postgres_admin(alias, f"CREATE DATABASE {name}")
            config["NAME"] = name
        connections.settings[name] = config
        try:
            call_command("migrate", database=name, verbosity=0)
            yield name
        finally:
            connections[name].close()
            del connections.settings[name]
            if template["ENGINE"].endswith("sqlite3"):
                for suffix in ("", "-wal", "-shm"):
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(config["NAME"] + suffix)
            else:
                _postgres_admin(alias, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _postgres_admin(alias: str, statement: str) -> None:
    # CREATE/DROP DATABASE refuse to run inside the test's transaction.
    wrapper = connections[alias]
    connection = wrapper.get_new_connection(wrapper.get_connection_params())
    try:
        connection.autocommit = True
        connection.execute(statement)
    finally:
        connection.close()


class SQLContract(EventStoreContract):
    alias = "default"

    @pytest.fixture(autouse=True)
    def _blocker(self, django_db_blocker):
        self.django_db_blocker = django_db_blocker

    def create_store(self):
        return SQLEventStore(using=self.alias)

    @contextlib.contextmanager
    def scratch_store(self):
        with scratch_database(self.alias, self.django_db_blocker) as name:
            with self.django_db_blocker.unblock():
                yield SQLEventStore(using=name)

    def close_thread_connections(self, store):
        connections[store.using].close()

    # -- append-only in the database itself --------------------------------------

    @pytest.mark.parametrize(
        "statement",
        [
            "UPDATE audit_event SET record = '{}'",
            "UPDATE audit_event SET sequence = sequence + 1",
            "DELETE FROM audit_event",
        ],
    )
    def test_raw_update_and_delete_are_refused(self, store, statement):
        store.append([event()])
        with pytest.raises(DatabaseError, match="append-only"):
            with transaction.atomic(using=self.alias):
                with connections[self.alias].cursor() as cursor:
                    cursor.execute(statement)
        assert len(store.read_all()) == 1


@pytest.mark.django_db(databases=["default"])
class TestSQLiteEventStore(SQLContract):
    alias = "default"


# Without the database the class still collects, and require_postgres() says why.
_POSTGRES = ["postgres"] if "postgres" in settings.DATABASES else []


@pytest.mark.postgres
@pytest.mark.django_db(databases=_POSTGRES)
class TestPostgresEventStore(SQLContract):
    alias = "postgres"

    @pytest.fixture(autouse=True)
    def _postgres(self):
        require_postgres()

    def test_truncate_is_refused(self, store):
        store.append([event()])
        with pytest.raises(DatabaseError, match="append-only"):
            with transaction.atomic(using=self.alias):
                with connections[self.alias].cursor() as cursor:
                    cursor.execute("TRUNCATE audit_event CASCADE")
