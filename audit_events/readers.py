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

    @abstractmethod
    def render(self, event: StoredEvent) -> str:
        """The event as this reader may see it, as JSON text (masked where required)."""

    @abstractmethod
    def audit(self, kind: str, *, target: dict, details: dict | None = None) -> None:
        """Record the read in the access audit."""
