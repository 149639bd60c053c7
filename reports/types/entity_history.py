"""Entity history: one aggregate's events and the state after each, over a period."""

from audit_events.replay import ReplayedState, reduce_event
from audit_events.schema import AggregateId, AggregateType, Tenant, parse_timestamp
from audit_events.schemas import upcast_record
from audit_events.store import get_event_store

from .base import Period, ReportError, ReportType
from .common import event_row, visible

_PAGE = 1000


class Params(Period):
    tenant: Tenant
    aggregate_type: AggregateType
    aggregate_id: AggregateId


class EntityHistory(ReportType):
    id = "entity_history"
    label = "Entity history"
    Params = Params
    columns = ["sequence", "event_id", "event_type", "occurred_at", "recorded_at", "actor_id", "actor_type",
               "classification", "payload", "state_after"]

    def title(self, params):
        return f"Entity history of {params.tenant}/{params.aggregate_type}/{params.aggregate_id}"

    def estimate(self, params, reader):
        key = (params.tenant, params.aggregate_type, params.aggregate_id)
        head = get_event_store().heads(tenant=params.tenant, aggregate=key[1:]).get(key)
        return head[0] if head else None

    def rows(self, params, reader):
        store, key = get_event_store(), (params.tenant, params.aggregate_type, params.aggregate_id)
        where = reader.filter_for("view_timeline")
        state, after, seen = ReplayedState(), 0, False
        while True:
            page = store.read_aggregate(*key, after=after, limit=_PAGE, where=where)
            for event in page:
                seen = True
                record = visible(reader, event)
                if reader.may_read("replay_state", event):  # the state folds what may be replayed
                    state = reduce_event(state, upcast_record({k: v for k, v in record.items() if k != "hash"}))
                if params.contains(parse_timestamp(record["occurred_at"])):
                    row = {k: v for k, v in event_row(record).items() if k in self.columns}
                    yield {**row, "state_after": state.state}, event
            if len(page) < _PAGE:
                break
            after = page[-1].sequence
        if not seen:
            raise ReportError("No aggregate you may view and export has this tenant, type and id.")
