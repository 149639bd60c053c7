"""Integrity: each aggregate's chain checked now, and the tenant's recorded verification runs."""

from collections import Counter

from django.utils import timezone

from audit_events.models import ChainVerification
from audit_events.schema import Tenant
from audit_events.store import get_event_store
from audit_events.verification import verify_events

from .base import ReportParams, ReportType


class Params(ReportParams):
    tenant: Tenant | None = None


class Integrity(ReportType):
    id = "integrity"
    label = "Integrity (hash-chain verification)"
    Params = Params
    columns = ["section", "checked_at", "tenant", "aggregate_type", "aggregate_id", "events", "ok",
               "first_bad_sequence", "reason"]

    def title(self, params):
        return "Integrity of the hash chains" + (f" of {params.tenant}" if params.tenant else "")

    def rows(self, params, reader):
        store = get_event_store()
        tenants = [params.tenant] if params.tenant else sorted({key[0] for key in store.heads()})
        seen: set[str] = set()  # tenants with an aggregate the reader may see
        for tenant in tenants:
            yield from self._tenant(store, tenant, reader, seen)
        for run in ChainVerification.objects.filter(tenant__in=seen).order_by("verified_at"):
            # A run's breaks may name aggregates outside the reader's scope: its outcome only.
            yield {"section": "recorded run", "checked_at": run.verified_at.isoformat(), "tenant": run.tenant,
                   "ok": run.ok, "reason": "" if run.ok else f"{len(run.breaks)} broken aggregate(s)"}, None

    def _tenant(self, store, tenant, reader, seen):
        """Walk the tenant's chains once; report the aggregates whose first event the reader may see."""
        counts, visible = Counter(), {}

        def counted(events):
            for event in events:
                key = (event.tenant, event.aggregate_type, event.aggregate_id)
                allowed = reader.may_read("view_event", event)
                if allowed:
                    counts[key] += 1  # only events the reader may see are counted
                visible[key] = visible.get(key, False) or allowed
                yield event

        heads = store.heads(tenant=tenant)
        report = verify_events(counted(store.iter_events(tenant=tenant)), heads,
                               lambda key: store.heads(tenant=key[0], aggregate=key[1:]).get(key))
        checked_at = timezone.now().isoformat()
        breaks = {b.aggregate: b for b in report.breaks}
        hidden_breaks = sum(1 for key in breaks if not visible.get(key))
        if hidden_breaks:  # tampering must not hide itself behind the reader's scope
            seen.add(tenant)
            yield {"section": "outside your view", "checked_at": checked_at, "tenant": tenant, "ok": False,
                   "reason": f"{hidden_breaks} broken aggregate(s) you may not see"}, None
        for key in sorted(k for k, allowed in visible.items() if allowed):
            seen.add(tenant)
            found = breaks.get(key)
            yield {"section": "aggregate", "checked_at": checked_at, "tenant": key[0], "aggregate_type": key[1],
                   "aggregate_id": key[2], "events": counts[key], "ok": found is None,
                   "first_bad_sequence": found.sequence if found else None,
                   "reason": found.reason if found else ""}, None
