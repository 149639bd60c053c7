"""What every benchmark does first: a fresh Django on a database of its own, and appends."""

import os
import sys
from pathlib import Path
from typing import Iterable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

__all__ = ["append_all", "setup_django"]


def setup_django(workdir: Path, database_url: str | None = None, **environment: str) -> str:
    """Point Django at ``workdir`` (SQLite unless ``database_url``), migrate, return the URL."""
    url = database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        AUDIT_VAR_DIR=str(workdir),
        DATABASE_URL=url,
        LOG_LEVEL="WARNING",
        **environment,
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return url


def append_all(events: Iterable[dict], *, batch: int = 500) -> None:
    """Validate and append event dicts through the configured store, ``batch`` at a time."""
    from pydantic import TypeAdapter

    from audit_events.schema import EventIn
    from audit_events.store import get_event_store

    adapter, store, pending = TypeAdapter(list[EventIn]), get_event_store(), []
    for event in events:
        pending.append(event)
        if len(pending) == batch:
            store.append(adapter.validate_python(pending))
            pending.clear()
    if pending:
        store.append(adapter.validate_python(pending))
