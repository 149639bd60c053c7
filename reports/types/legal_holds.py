"""Legal holds: every hold on the reader's tenants, when and by whom placed and released."""

from typing import Literal

from audit_events.models import LegalHold
from audit_events.schema import Tenant

from .base import ReportParams, ReportType


class Params(ReportParams):
    tenant: Tenant | None = None
    status: Literal["active", "released", "any"] = "any"


class LegalHolds(ReportType):
    id = "legal_holds"
    label = "Legal holds"
    Params = Params
    columns = ["hold_id", "tenant", "scope", "target", "reason", "owner", "placed_by", "placed_at", "status",
               "released_by", "released_at", "release_reason"]

    def title(self, params):
        return "Legal holds" + (f" of {params.tenant}" if params.tenant else "") + (
            "" if params.status == "any" else f" ({params.status})")

    def rows(self, params, reader):
        from audit_events.checkpoints.selectors import tenant_readable

        holds = LegalHold.objects.select_related("owner", "placed_by", "released_by").order_by("placed_at", "pk")
        if params.tenant:
            holds = holds.filter(tenant=params.tenant)
        if params.status != "any":
            holds = holds.filter(released_at__isnull=params.status == "active")
        # A tenant the reader may not search (deny policies and all): none of its holds.
        readable = {t: tenant_readable(reader, t) for t in set(holds.values_list("tenant", flat=True))}
        pii_scope = reader.tenant_scope("view_pii") if reader.subject.pii else []
        for hold in holds.iterator():
            if not readable[hold.tenant]:
                continue
            # A data subject's id, and the free-text reason, are personal data (as in the audit).
            personal = not (pii_scope is None or hold.tenant in pii_scope)
            yield {"hold_id": hold.pk, "tenant": hold.tenant, "scope": hold.scope,
                   "target": "(masked)" if personal and hold.scope == "subject" else hold.target,
                   "reason": "(masked)" if personal else hold.reason,
                   "owner": hold.owner.get_username(), "placed_by": hold.placed_by.get_username(),
                   "placed_at": hold.placed_at.isoformat(), "status": "active" if hold.active else "released",
                   "released_by": hold.released_by.get_username() if hold.released_by else None,
                   "released_at": hold.released_at.isoformat() if hold.released_at else None,
                   "release_reason": hold.release_reason}, None
