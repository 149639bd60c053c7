"""The reader a report generates under: its requester, for rows they may both read and export."""

from dataclasses import replace

import orjson

from audit_events.masking import mask_record
from audit_events.readers import Reader
from audit_events.store import StoredEvent
from portal.access.readers import UserReader

from .formats.base import Evidence

__all__ = ["ExportReader"]

EXPORT = "export_report"


class ExportReader(Reader):
    """A ``UserReader`` narrowed to events its person may also export (``export_report``).

    Policies are those in force when the report is generated, not when it was
    requested; personal data is masked exactly as on screen.
    """

    def __init__(self, user):
        self.inner = UserReader(user, via="report")
        # Break-glass opens records to look at in an emergency, not to export in bulk:
        # a report never rests on an emergency grant.
        self.inner.subject = replace(self.inner.subject, policies=tuple(
            p for p in self.inner.subject.policies if not p.break_glass))

    @property
    def subject(self):
        return self.inner.subject

    @property
    def holds_break_glass(self) -> bool:
        return self.inner.holds_break_glass

    def may_read(self, action: str, event: StoredEvent) -> bool:
        return self.inner.may_read(EXPORT, event) and self.inner.may_read(action, event)

    def filter_for(self, action: str, dialect: str = "sql"):
        export, read = self.inner.filter_for(EXPORT, dialect), self.inner.filter_for(action, dialect)
        if dialect == "opensearch":
            return {"bool": {"filter": [export, read]}}
        return export & read

    def pii_filter_for(self, action: str, dialect: str = "sql"):
        return self.inner.pii_filter_for(action, dialect)

    def tenant_scope(self, action: str) -> list[str] | None:
        export, read = self.inner.tenant_scope(EXPORT), self.inner.tenant_scope(action)
        if export is None or read is None:
            return read if export is None else export
        return sorted(set(export) & set(read))

    def render(self, event: StoredEvent) -> str:
        return self.inner.render(event)

    def visible_record(self, event: StoredEvent) -> dict:
        return self.inner.visible_record(event)

    def audit(self, kind: str, *, target: dict, details: dict | None = None) -> None:
        self.inner.audit(kind, target=target, details=details)

    def evidence(self, event: StoredEvent) -> Evidence:
        """The event for the evidence bundle: its hashed text, or its masked record."""
        masked = bool(event.record.get("pii")) and not self.inner.may_see_pii(event)
        text = (orjson.dumps(mask_record(event.record), option=orjson.OPT_SORT_KEYS).decode() if masked
                else event.record_json)
        return Evidence(record_text=text, hash=event.hash, masked=masked, tenant=event.tenant,
                        aggregate_type=event.aggregate_type, aggregate_id=event.aggregate_id,
                        sequence=event.sequence, prev_hash=event.record.get("prev_hash", ""),
                        event_id=event.record["event_id"])

    def scope(self) -> str:
        """What the report may contain, in words, for its cover and manifest."""
        subject = self.inner.subject
        tenants = ", ".join(subject.tenants) or "none named"
        pii = "shown where your policies allow it" if subject.pii else "masked"
        return (f"Events {subject.username} may both read and export under the policies in force at "
                f"generation (break-glass grants never apply to reports): tenants named in their "
                f"attributes {tenants}; clearance {subject.clearance}; personal data {pii}.")
