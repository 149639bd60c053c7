"""Actor activity and search export: events a search finds, across aggregates."""

from abc import abstractmethod

from audit_events.schema import ActorId, Tenant
from audit_events.search import SearchQuery, SearchQueryError, parse_search_params

from .base import ParamsError, Period, ReportParams, ReportType
from .common import EVENT_COLUMNS, event_row, first_page_total, searched_events, visible


class SearchedEvents(ReportType):
    """A report of the events a search finds, one row each, oldest first."""

    columns = EVENT_COLUMNS
    parallel = True

    @abstractmethod
    def query(self, params) -> SearchQuery:
        """The search whose matches are the rows."""

    def estimate(self, params, reader):
        return first_page_total(self.query(params), reader)

    def rows(self, params, reader, span=None):
        for event in searched_events(self.query(params), reader, span=span):
            yield event_row(visible(reader, event)), event


class ActorParams(Period):
    actor_id: ActorId
    tenant: Tenant | None = None


class ActorActivity(SearchedEvents):
    id = "actor_activity"
    label = "Actor activity"
    Params = ActorParams

    def title(self, params):
        return f"Everything {params.actor_id} did" + (f" in {params.tenant}" if params.tenant else "")

    def query(self, params) -> SearchQuery:
        return SearchQuery(actor_id=params.actor_id, tenant=params.tenant, from_=params.from_, to=params.to)


class SearchParams(ReportParams):
    """Any search the requester can run: the search API's parameters, without paging."""

    model_config = ReportParams.model_config | {"extra": "allow"}


class SearchExport(SearchedEvents):
    id = "search_export"
    label = "Search export"
    Params = SearchParams

    def validate(self, params):
        if not isinstance(params, dict):
            raise ParamsError([{"field": "params", "message": "must be an object"}])
        for paging in ("cursor", "limit"):
            if paging in params:
                raise ParamsError([{"field": f"params.{paging}", "message": "a report holds every match: leave it out"}])
        try:
            parse_search_params(params)
        except SearchQueryError as exc:
            raise ParamsError([{"field": f"params.{e['field']}", "message": e["message"]} for e in exc.errors]) from None
        return SearchParams.model_validate({k: v for k, v in params.items() if v not in ("", None)})

    def title(self, params):
        shown = ", ".join(f"{k}={v}" for k, v in sorted((params.model_extra or {}).items()))
        return f"Search export ({shown or 'everything'})"

    def query(self, params) -> SearchQuery:
        return parse_search_params(dict(params.model_extra or {}))
