"""The alert-state port: each rule's bounded window state per key, and where its adapter is chosen.

``AUDIT_ALERT_STATE`` picks the adapter: ``sql`` (a table beside the projections, the embedded
default) or ``dynamodb`` (the stack's ``AlertStateTable``, whose TTL drops stale keys).
"""

from abc import ABC, abstractmethod
from datetime import datetime
from functools import lru_cache
from typing import Any, Iterator

from ...adapters import adapter_from_setting

__all__ = ["ADAPTERS", "AlertStateStore", "StateConflictError", "get_alert_state"]

ADAPTERS = {
    "sql": "audit_events.alerts.state.sql.SQLAlertState",
    "dynamodb": "audit_events.alerts.state.dynamodb.DynamoDBAlertState",
}


class StateConflictError(Exception):
    """Another writer saved the key's state since it was loaded: load it again and redo."""


class AlertStateStore(ABC):
    """Per (rule, key): a JSON-able dict and a version that a save must still find."""

    @abstractmethod
    def load(self, rule_id: int, key: str) -> tuple[dict, Any]:
        """The key's state (``{}`` if none, or expired) and its version."""

    @abstractmethod
    def save(self, rule_id: int, key: str, state: dict, *, version: Any, expires_at: datetime) -> None:
        """Store ``state`` if the key is still at ``version``; else ``StateConflictError``."""

    @abstractmethod
    def keys(self, rule_id: int) -> Iterator[tuple[str, dict, Any]]:
        """Every unexpired key of the rule with its state and version (silence checks read them)."""

    @abstractmethod
    def clear(self) -> None:
        """Forget every state (a rebuild of the alerts projection)."""

    def prune(self, now: datetime) -> int:
        """Drop states expired by ``now``; how many (DynamoDB's TTL does it by itself)."""
        return 0


@lru_cache(maxsize=None)
def get_alert_state() -> AlertStateStore:
    """The adapter ``settings.AUDIT_ALERT_STATE`` names (built once per process)."""
    return adapter_from_setting("AUDIT_ALERT_STATE", ADAPTERS)
