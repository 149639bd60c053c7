"""Alert state in a SQL table (``AlertWindowState``), inside the projector's transaction."""

from datetime import datetime
from typing import Any, Iterator

from django.db import IntegrityError, transaction
from django.utils import timezone

from ...models import AlertWindowState
from . import AlertStateStore, StateConflictError

__all__ = ["SQLAlertState"]


class SQLAlertState(AlertStateStore):
    """Loads lock the row in the caller's transaction; the version column catches a writer
    that saved in between all the same (a first save, or a load outside a transaction)."""

    def load(self, rule_id: int, key: str) -> tuple[dict, Any]:
        row = (AlertWindowState.objects.select_for_update().filter(rule_id=rule_id, group_key=key)
               .values_list("state", "version", "expires_at").first())
        if row is None:
            return {}, None
        state, version, expires_at = row
        return ({} if expires_at <= timezone.now() else state), version

    def save(self, rule_id: int, key: str, state: dict, *, version: Any, expires_at: datetime) -> None:
        if version is None:
            try:
                with transaction.atomic():  # a savepoint: a concurrent first save wins
                    AlertWindowState.objects.create(rule_id=rule_id, group_key=key, state=state,
                                                    expires_at=expires_at)
                return
            except IntegrityError:
                raise StateConflictError(f"rule {rule_id} key {key!r}: made by another writer") from None
        changed = AlertWindowState.objects.filter(rule_id=rule_id, group_key=key, version=version).update(
            state=state, version=version + 1, expires_at=expires_at)
        if not changed:
            raise StateConflictError(f"rule {rule_id} key {key!r}: changed by another writer")

    def keys(self, rule_id: int) -> Iterator[tuple[str, dict, Any]]:
        rows = AlertWindowState.objects.filter(rule_id=rule_id, expires_at__gt=timezone.now())
        yield from rows.order_by("group_key").values_list("group_key", "state", "version").iterator()

    def clear(self) -> None:
        AlertWindowState.objects.all().delete()

    def prune(self, now: datetime) -> int:
        return AlertWindowState.objects.filter(expires_at__lte=now).delete()[0]
