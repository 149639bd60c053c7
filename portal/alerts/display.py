"""How an alert is shown to a reader: keys that name people masked unless they may see
personal data, and its event count."""

import re

from audit_events.models import Alert
from audit_events.store import get_event_store

__all__ = ["MASKED", "PERSONAL_KEY_KINDS", "AlertMask", "counted_events", "visible_evidence"]

#: group keys whose value names a person: an actor id, or the IP address they came from
PERSONAL_KEY_KINDS = ("actor", "actor_ip")
#: what stands for a masked value in a key or summary (never part of an actor id or an address)
MASKED = "(masked)"


class AlertMask:
    """Masks what an alert says about a person for a reader who may not see personal data.

    The key is personal data as the payloads' ``pii`` fields are: shown with the reader's
    ``pii`` attribute and ``view_pii`` on the alert's tenant. (Event pages show the actor
    envelope unmasked; an alert's key is shown more carefully, as a person's value on its own.)
    """

    def __init__(self, reader):
        self._pii = bool(reader.subject.pii)
        self._scope = reader.tenant_scope("view_pii") if self._pii else []

    def hides(self, alert: Alert) -> bool:
        """Whether the alert's key names a person this reader may not see."""
        kind, _, value = alert.group_key.partition(":")
        if kind not in PERSONAL_KEY_KINDS or not value:
            return False
        return not (self._pii and (self._scope is None or alert.tenant in self._scope))

    def key_kind(self, alert: Alert) -> str:
        return alert.group_key.partition(":")[0]

    def group_key(self, alert: Alert) -> str:
        return f"{self.key_kind(alert)}:{MASKED}" if self.hides(alert) else alert.group_key

    def summary(self, alert: Alert) -> str:
        """The summary, with the key's value masked wherever it names it."""
        if not self.hides(alert):
            return alert.summary
        value = alert.group_key.partition(":")[2]
        # Whole values only: 203.0.113.9 must not mask part of 203.0.113.90.
        return re.sub(rf"(?<![\w.:@-]){re.escape(value)}(?![\w.:@-])", MASKED, alert.summary)


def counted_events(alert: Alert) -> int:
    """All the events the rule matched; never fewer than the evidence kept (alerts raised
    before ``event_count`` existed say 0)."""
    return max(alert.event_count, len(alert.evidence or []))


def visible_evidence(reader, alerts) -> dict[int, tuple[list[dict], int]]:
    """Per alert: the evidence events ``reader`` may view, and how many are left out. Seeing an
    alert's tenant is not seeing each event in it (clearance, event types): the rest are
    withheld as the event page would answer them, 404. One read of the store for all alerts."""
    ids = [item["event_id"] for alert in alerts for item in alert.evidence or []]
    events = {e.record["event_id"]: e for e in get_event_store().get_many(ids)} if ids else {}
    shown = {}
    for alert in alerts:
        items = [item for item in alert.evidence or []
                 if item["event_id"] in events and reader.may_read("view_event", events[item["event_id"]])]
        shown[alert.pk] = (items, len(alert.evidence or []) - len(items))
    return shown
