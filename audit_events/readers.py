"""The reader port: who is reading, what they may see, and how reads are logged.

Read selectors ask a ``Reader`` rather than knowing about publisher keys or
access policies; ``portal.access.readers`` provides the implementations.
"""

from abc import ABC, abstractmethod

from .store import StoredEvent

__all__ = ["Reader"]


class Reader(ABC):
    """A principal reading events through the API or the portal."""

    @abstractmethod
    def may_read(self, action: str, event: StoredEvent) -> bool:
        """Whether ``action`` (``view_event``, ``view_timeline``…) is allowed on ``event``."""

    @abstractmethod
    def filter_for(self, action: str, dialect: str = "sql"):
        """The reader's access filter for ``action``, compiled for a backend:
        ``sql`` (a Django ``Q``) or ``opensearch`` (a query clause)."""

    @abstractmethod
    def pii_filter_for(self, action: str, dialect: str = "sql"):
        """The events whose personal data this reader may see (and so search), compiled."""

    def tenant_scope(self, action: str) -> list[str] | None:
        """The tenants ``filter_for(action)`` can match at most, or None when unbounded.

        A hint for indexes that narrow candidates by tenant before the filter runs;
        the filter itself still decides.
        """
        return None

    @property
    def keys(self):
        """The subjects' keys this reader's reads open sealed values with (``KeyCache``), looked
        up once per reader: a request, a page, a report."""
        if getattr(self, "_key_cache", None) is None:
            from .privacy.sealing import KeyCache

            self._key_cache = KeyCache()
        return self._key_cache

    @abstractmethod
    def render(self, event: StoredEvent) -> str:
        """The event as this reader may see it, as JSON text (masked where required)."""

    @abstractmethod
    def audit(self, kind: str, *, target: dict, details: dict | None = None) -> None:
        """Record the read in the access audit."""
