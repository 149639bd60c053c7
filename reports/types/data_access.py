"""Data access: who read which records, from the access audit (tenant ``_portal``)."""

from audit_events.schema import ActorId, AggregateId, AggregateType, Tenant
from audit_events.store import get_event_store
from portal.access.models import RecordAccess

from .base import Period, ReportType
from .common import visible

_BATCH = 1000


class Params(Period):
    tenant: Tenant | None = None
    aggregate_type: AggregateType | None = None
    aggregate_id: AggregateId | None = None
    reader: ActorId | None = None  # e.g. user:auditor-bank


class DataAccess(ReportType):
    id = "data_access"
    label = "Data access (who viewed which records)"
    Params = Params
    columns = ["recorded_at", "reader", "action", "tenant", "aggregate_type", "aggregate_id", "via",
               "break_glass", "source_ip", "event_id"]

    def title(self, params):
        scope = "/".join(p for p in (params.tenant, params.aggregate_type, params.aggregate_id) if p)
        by = f" by {params.reader}" if params.reader else ""
        return f"Who viewed {scope or 'which records'}{by}"

    def _rows(self, params):
        rows = RecordAccess.objects.all()
        for name in ("tenant", "aggregate_type", "aggregate_id"):
            if getattr(params, name):
                rows = rows.filter(**{name: getattr(params, name)})
        if params.reader:
            rows = rows.filter(actor_id=params.reader)
        if params.from_:
            rows = rows.filter(recorded_at__gte=params.from_)
        if params.to:
            rows = rows.filter(recorded_at__lt=params.to)
        return rows.order_by("position")

    def rows(self, params, reader):
        store, after = get_event_store(), 0
        may_view: dict[tuple, bool] = {}  # per record read: may the requester see that record?
        while True:
            batch = list(self._rows(params).filter(position__gt=after).values_list("position", "event_id")[:_BATCH])
            if not batch:
                return
            for event in store.get_many([event_id for _, event_id in batch], positions=[p for p, _ in batch]):
                if not reader.may_read("search", event):
                    continue  # the access audit is data too: read and export access apply
                record = visible(reader, event)
                payload, actor = record.get("payload") or {}, record.get("actor") or {}
                target, details = payload.get("target") or {}, payload.get("details") or {}
                key = (target.get("tenant"), target.get("aggregate_type"), target.get("aggregate_id"))
                if key not in may_view:  # who read a record is shown only to those who may see it
                    may_view[key] = bool(store.read_aggregate(*key, limit=1,
                                                              where=reader.filter_for("view_timeline")))
                if not may_view[key]:
                    continue
                yield {
                    "recorded_at": record["recorded_at"], "reader": actor.get("id"), "action": record["event_type"],
                    "tenant": target.get("tenant"), "aggregate_type": target.get("aggregate_type"),
                    "aggregate_id": target.get("aggregate_id"), "via": details.get("via"),
                    "break_glass": bool(payload.get("break_glass")), "source_ip": actor.get("ip"),
                    "event_id": record["event_id"],
                }, event
            after = batch[-1][0]
