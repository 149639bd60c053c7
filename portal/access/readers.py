"""The two kinds of reader: publishers (by tenant) and people (by policy)."""

from datetime import datetime

import orjson
from django.db.models import Q
from django.utils import timezone

from audit_events.models import PublisherKey
from audit_events.readers import Reader
from audit_events.schema import RESERVED_TENANT_PREFIX
from audit_events.store import StoredEvent

from .audit import record_access
from .breakglass import notify_admins
from .engine import compile_policies, decide, event_attributes, opensearch_filter, q_filter, tenant_scope
from audit_events.masking import mask_record
from audit_events.privacy.sealing import open_record
from .policy import Subject
from .selectors import subject_for

__all__ = ["PublisherReader", "UserReader", "reader_for"]


class PublisherReader(Reader):
    """A publisher key reads its own tenants' events, exactly as stored."""

    def __init__(self, key: PublisherKey, request=None):
        self.key = key
        self.request = request

    def _tenants(self) -> list[str]:
        # Portal tenants stay out of reach even if a key were edited to hold one.
        return [t for t in self.key.tenants if not t.startswith(RESERVED_TENANT_PREFIX)]

    def may_read(self, action: str, event: StoredEvent) -> bool:
        return event.tenant in self._tenants()

    def filter_for(self, action: str, dialect: str = "sql"):
        if dialect == "opensearch":
            return {"terms": {"tenant": self._tenants()}}
        return Q(tenant__in=self._tenants())

    def pii_filter_for(self, action: str, dialect: str = "sql"):
        return self.filter_for(action, dialect)  # publishers read their own events as stored

    def tenant_scope(self, action: str) -> list[str]:
        return self._tenants()

    def render(self, event: StoredEvent) -> str:
        return event.to_json()

    def audit(self, kind: str, *, target: dict, details: dict | None = None) -> None:
        record_access(
            kind, request=self.request, actor=f"key:{self.key.key_id}", actor_type="service",
            target=target, details={**(details or {}), "publisher_key": self.key.name},
            pii=_query_pii(details),
        )


class UserReader(Reader):
    """A person reads what their policies allow; personal data stays masked
    unless they hold ``view_pii`` for the event and their ``pii`` attribute is set.
    """

    def __init__(self, user, request=None, *, now: datetime | None = None, via: str = "api",
                 subject: Subject | None = None):
        self.user = user
        self.request = request
        self.subject: Subject = subject if subject is not None else subject_for(user)
        self.now = now or timezone.now()
        self.via = via
        self._break_glass_reads = 0
        self._compiled: dict[str, list] = {}
        # A decision depends only on the attributes the policies test: exports judge a
        # million events, but few combinations of those.
        self._tested = tuple(sorted({c.attr for p in self.subject.policies for c in p.conditions}))
        self._decisions: dict[tuple, object] = {}

    def may_read(self, action: str, event: StoredEvent) -> bool:
        decision = self._decide(action, event)
        if decision.allowed and (decision.break_glass or self._pii_only_by_break_glass(event)):
            self._break_glass_reads += 1
        return decision.allowed

    def _decide(self, action: str, event: StoredEvent):
        # Pages, timelines and replays judge many events for one subject at one
        # instant: compile the policies once per action.
        attrs = event_attributes(event.record)
        key = (action, *(attrs[name] for name in self._tested))
        decision = self._decisions.get(key)
        if decision is None:
            compiled = self._compiled.get(action)
            if compiled is None:
                compiled = self._compiled[action] = compile_policies(self.subject, action, now=self.now)
            if len(self._decisions) >= 10_000:  # many distinct ids tested: keep memory bounded
                self._decisions.clear()
            decision = self._decisions[key] = decide(self.subject, action, attrs, now=self.now, compiled=compiled)
        return decision

    def filter_for(self, action: str, dialect: str = "sql"):
        if dialect == "opensearch":
            return opensearch_filter(self.subject, action, now=self.now)
        return q_filter(self.subject, action, now=self.now)

    def tenant_scope(self, action: str) -> list[str] | None:
        return tenant_scope(self.subject, action, now=self.now)

    def pii_filter_for(self, action: str, dialect: str = "sql"):
        # As may_see_pii: a view_pii policy, with the person's attribute or an
        # emergency grant; compiled so that search matches only what could be shown.
        only = not self.subject.pii
        if dialect == "opensearch":
            return opensearch_filter(self.subject, "view_pii", now=self.now, only_break_glass=only)
        return q_filter(self.subject, "view_pii", now=self.now, only_break_glass=only)

    def _pii_only_by_break_glass(self, event: StoredEvent) -> bool:
        if not event.record.get("pii") or self.subject.pii:
            return False
        return self._decide("view_pii", event).via_break_glass

    @property
    def holds_break_glass(self) -> bool:
        return any(p.break_glass for p in self.subject.policies)

    def may_see_pii(self, event: StoredEvent) -> bool:
        # Personal data needs the person's attribute, unless an emergency grant covers it.
        decision = self._decide("view_pii", event)
        return decision.allowed and (self.subject.pii or decision.via_break_glass)

    def render(self, event: StoredEvent) -> str:
        if not event.record.get("pii"):
            return event.to_json()
        return orjson.dumps({**self.visible_record(event), "hash": event.hash}).decode()

    def visible_record(self, event: StoredEvent) -> dict:
        """``render`` as a dict, without its ``hash`` and without a JSON round trip
        (pages and exports read many). It may be the stored record: do not change it.

        Personal data is opened from its sealed form for those who may see it (shown erased
        where its subject's key was destroyed), and masked for everyone else."""
        if not event.record.get("pii"):
            return event.record
        if self.may_see_pii(event):
            return open_record(event.record, self.keys)
        return mask_record(event.record)

    def audit(self, kind: str, *, target: dict, details: dict | None = None) -> None:
        under_break_glass, self._break_glass_reads = self._break_glass_reads > 0, 0
        token = getattr(self.request, "token_key_id", None)
        details = {**(details or {}), "via": self.via} | ({"token": token} if token else {})
        record_access(kind, user=self.user, request=self.request, target=target,
                      details=details, break_glass=under_break_glass, pii=_query_pii(details))
        if under_break_glass:
            notify_admins(f"Read under break-glass by {self.user}", f"{kind}: {target}")


def _query_pii(details: dict | None) -> list[str] | None:
    # What someone searched for may itself be personal data (a name, an address).
    return ["/details/query"] if details and "query" in details else None


def reader_for(principal, request=None) -> Reader:
    """The reader for whatever authenticated the request."""
    if isinstance(principal, PublisherKey):
        return PublisherReader(principal, request)
    return UserReader(principal, request)
