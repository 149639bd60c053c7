"""Activity summary: events per tenant, event type and day, and the top actors."""

from collections import Counter
from audit_events.schema import Tenant, parse_timestamp
from audit_events.store import get_event_store

from .base import Period, ReportType

_PAGE = 2000
TOP_ACTORS = 20


class Params(Period):
    tenant: Tenant | None = None


class ActivitySummary(ReportType):
    id = "activity_summary"
    label = "Activity summary"
    Params = Params
    columns = ["section", "tenant", "day", "event_type", "actor_id", "count"]

    def title(self, params):
        return "Activity summary" + (f" of {params.tenant}" if params.tenant else "")

    def rows(self, params, reader):
        # One pass over the change feed, counting only what the reader may search.
        per_day, actors = Counter(), Counter()
        store, after = get_event_store(), 0
        while True:
            page = store.read_all(after_position=after, limit=_PAGE)
            for event in page:
                if params.tenant and event.tenant != params.tenant:
                    continue
                occurred = parse_timestamp(event.record["occurred_at"])
                if not params.contains(occurred) or not reader.may_read("search", event):
                    continue
                per_day[(event.tenant, occurred.date().isoformat(), event.record["event_type"])] += 1
                actors[(event.tenant, (event.record.get("actor") or {}).get("id"))] += 1
            if len(page) < _PAGE:
                break
            after = page[-1].position
        for (tenant, day, event_type), count in sorted(per_day.items()):
            yield {"section": "per day", "tenant": tenant, "day": day, "event_type": event_type,
                   "count": count}, None
        for (tenant, actor), count in sorted(actors.items(), key=lambda item: (-item[1], item[0]))[:TOP_ACTORS]:
            yield {"section": "top actors", "tenant": tenant, "actor_id": actor, "count": count}, None



