"""The ingest and read API for publishers (``/api/v1``).

Each endpoint parses, calls a service or selector, and renders. Stored
records are written out as the exact text that was hashed, so a client can
recompute every hash from the response alone.
"""

from datetime import datetime, timezone
from typing import Literal

import orjson
from django.conf import settings
from django.http import HttpResponse
from ninja import Query, Router, Schema
from pydantic import Field

from . import selectors, services
from .auth import PublisherKeyAuth
from .ingest import IngestError, parse_events
from .jcs import CanonicalizationError
from .privacy.sealing import SubjectErasedError
from .schema import MAX_BATCH_EVENTS, SAFE_INTEGER
from .search import SearchQuery, SearchQueryError, parse_search_params
from .store import AppendConflictError, EventTooLargeError, StoreBusyError
from portal.access.auth import PERSON_AUTH, READ_AUTH
from portal.access.readers import reader_for

router = Router(tags=["events"])


class AppendResultOut(Schema):
    event_id: str
    tenant: str
    aggregate_type: str
    aggregate_id: str
    sequence: int
    hash: str
    prev_hash: str
    recorded_at: str
    status: Literal["created", "duplicate"]


class AppendOut(Schema):
    results: list[AppendResultOut]


class FieldErrorOut(Schema):
    field: str
    message: str


class ErrorOut(Schema):
    detail: str
    errors: list[FieldErrorOut] | None = None


class AggregateEventsOut(Schema):
    events: list[dict] = Field(description="Stored records, each with its hash.")
    next_after: int | None = Field(description="Pass as `after` for the next page.")


class PageQuery(Schema):
    after: int = Field(0, ge=0, le=SAFE_INTEGER, description="Return events with a greater sequence.")
    limit: int = Field(100, ge=1, le=1000)


def json_response(body: dict | str, status: int = 200, **headers) -> HttpResponse:
    content = body if isinstance(body, str) else orjson.dumps(body)
    response = HttpResponse(content, status=status, content_type="application/json")
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


_BODY = {
    "description": f"One event, or a batch of at most {MAX_BATCH_EVENTS} stored atomically.",
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    {"$ref": "#/components/schemas/EventIn"},
                    {
                        "type": "object",
                        "properties": {
                            "events": {
                                "type": "array",
                                "items": {"$ref": "#/components/schemas/EventIn"},
                                "minItems": 1,
                                "maxItems": MAX_BATCH_EVENTS,
                            }
                        },
                        "required": ["events"],
                        "additionalProperties": False,
                    },
                ]
            }
        }
    },
}


@router.post(
    "/events",
    auth=PublisherKeyAuth(),
    response={
        200: AppendOut,
        201: AppendOut,
        400: ErrorOut,
        401: ErrorOut,
        403: ErrorOut,
        404: ErrorOut,
        409: ErrorOut,
        413: ErrorOut,
        422: ErrorOut,
        503: ErrorOut,
    },
    openapi_extra={"requestBody": _BODY},
    summary="Append events",
    description=(
        "201 when at least one event was created, 200 when every event was a "
        "duplicate of a stored one. On any error nothing is written (on the DynamoDB store, a "
        "batch of more than 33 events is written in parts: a 409 then says which first events "
        "were stored, and sending the batch again with the same event ids completes it). "
        "413 when the body, or an event as stored (350,000 bytes), is too large. "
        "503 when the store stays busy: nothing was written, send it again."
    ),
)
def append_events(request):
    key = request.auth
    if not settings.AUDIT_INGEST_ENABLED:  # a deployment where another function takes events
        return json_response({"detail": "this deployment does not take events; send them to the ingest API"}, 404)
    try:
        try:
            content_length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise IngestError(400, "the Content-Length header is not a number") from None
        if content_length > services.max_request_bytes():
            raise IngestError(
                413,
                f"request body is {content_length} bytes; the limit is "
                f"{services.max_request_bytes()}",
            )
        events, is_batch = parse_events(request.body)
        services.check_tenants_allowed(key=key, events=events, single=not is_batch)
        results = services.append_events(events=events)
    except IngestError as exc:
        return json_response(exc.as_dict(), exc.status)
    except services.TenantNotAllowedError as exc:
        return json_response({"detail": str(exc)}, 403)
    except EventTooLargeError as exc:
        return json_response({"detail": str(exc), "event_id": exc.event_id}, 413)
    except AppendConflictError as exc:
        return json_response({"detail": str(exc), "event_id": exc.event_id}, 409)
    except StoreBusyError as exc:
        response = json_response({"detail": str(exc)}, 503)
        response["Retry-After"] = "1"
        return response
    except CanonicalizationError as exc:  # validation should have caught it: say so, not 500
        return json_response({"detail": f"an event cannot be canonicalised: {exc}"}, 422)
    except SubjectErasedError as exc:  # nothing of the batch was written
        return json_response({"detail": str(exc)}, 409)
    status = 201 if any(r.status == "created" for r in results) else 200
    return json_response({"results": [r.as_dict() for r in results]}, status)


@router.get(
    "/events/{event_id}",
    auth=READ_AUTH,
    response={200: dict, 401: ErrorOut, 404: ErrorOut},
    summary="Read one event",
    description=(
        "Publishers read their tenants' events exactly as hashed (personal data sealed). "
        "People (personal token or session) read what their policies allow, with personal "
        "data opened if they may see it, masked if not, and shown erased once its data "
        "subject was erased. `?view=stored` gives anyone who may read the event its stored "
        "form, exactly as hashed. Anything else answers 404."
    ),
)
def read_event(request, event_id: str, view: Literal["visible", "stored"] = "visible"):
    reader = reader_for(request.auth, request)
    event = selectors.event_for(reader=reader, event_id=event_id)
    if event is None:
        return json_response({"detail": f"event {event_id} not found"}, 404)
    # The stored form is what was hashed: personal data sealed, so anyone who may see the
    # event can recompute its hash, and no one reads a value from it.
    return json_response(event.to_json() if view == "stored" else reader.render(event))


@router.get(
    "/aggregates/{tenant}/{aggregate_type}/{aggregate_id}/events",
    auth=READ_AUTH,
    response={200: AggregateEventsOut, 401: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Read an aggregate's events in order",
)
def read_aggregate_events(
    request, tenant: str, aggregate_type: str, aggregate_id: str, page: Query[PageQuery]
):
    reader = reader_for(request.auth, request)
    found = selectors.aggregate_events_for(
        reader=reader,
        tenant=tenant,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        after=page.after,
        limit=page.limit,
    )
    if found is None:
        return json_response({"detail": "aggregate not found"}, 404)
    events, next_after = found
    body = (
        '{"events":['
        + ",".join(reader.render(e) for e in events)
        + '],"next_after":'
        + ("null" if next_after is None else str(next_after))
        + "}"
    )
    return json_response(body)


class FacetOut(Schema):
    value: str
    count: int


class SearchOut(Schema):
    results: list[dict] = Field(description="Events as the reader may see them (personal data masked).")
    total: int | str | None = Field(
        description='Exact up to 10,000, then the string "10,000+"; on the first page only (null later).'
    )
    next_cursor: str | None
    facets: dict[str, list[FacetOut]]
    histogram: dict
    facets_basis: int | None = Field(
        description="When set, facets and histogram count only the newest this-many matches."
    )


def _search_parameters() -> list[dict]:
    properties = SearchQuery.model_json_schema(by_alias=True)["properties"]
    return [
        {"name": name, "in": "query", "required": False, "schema": schema,
         "description": schema.get("description", "")}
        for name, schema in properties.items()
    ]


@router.get(
    "/search",
    auth=PERSON_AUTH,
    response={200: SearchOut, 400: ErrorOut, 401: ErrorOut},
    summary="Search events",
    description=(
        "Free text over event type, aggregate, actor, IP and payload values (personal data "
        "only where the reader may see it), filters, newest or oldest first, cursor pages, "
        "facets and a date histogram (on the first page), all within the reader's access."
    ),
    openapi_extra={"parameters": _search_parameters()},
)
def search(request):
    return _search_response(request, request.GET.dict(), "SearchPerformed")


def _search_response(request, params: dict, audit_kind: str):
    try:
        query = parse_search_params(params)
    except SearchQueryError as exc:
        return json_response({"detail": "invalid search parameters", "errors": exc.errors}, 400)
    reader = reader_for(request.auth, request)
    events, result = selectors.search_events(reader=reader, query=query, audit_kind=audit_kind)
    total = result.total if result.total is None or result.total_is_exact else result.total_text
    body = (
        '{"results":[' + ",".join(reader.render(e) for e in events) + "],"
        + orjson.dumps({
            "total": total, "next_cursor": result.next_cursor,
            "facets": result.facets, "histogram": result.histogram,
            "facets_basis": result.facets_basis,
        }).decode()[1:]
    )
    return json_response(body)


class StateQuery(Schema):
    sequence: int | None = Field(None, ge=0, le=SAFE_INTEGER, description="State after this sequence.")
    at: datetime | None = Field(None, description="State as of this RFC 3339 instant.")
    time: Literal["occurred", "recorded"] = Field("occurred", description="Which timeline `at` refers to.")


class StateOut(Schema):
    state: dict
    deleted: bool
    sequence: int
    as_of: str | None
    last_event_id: str | None
    verified: bool = Field(description="The chain holds for the events this replay rechecked.")
    verified_from: int = Field(description="The first sequence rechecked (after a snapshot, its tail; "
                                           "`verify_chain` checks everything).")


class DiffQuery(Schema):
    from_sequence: int | None = Field(None, ge=0, le=SAFE_INTEGER)
    to_sequence: int | None = Field(None, ge=0, le=SAFE_INTEGER)
    from_: datetime | None = Field(None, alias="from")
    to: datetime | None = None
    time: Literal["occurred", "recorded"] = "occurred"


class DiffOut(Schema):
    added: dict
    removed: dict
    changed: dict
    from_state: StateOut
    to_state: StateOut


def _state(reader, tenant, aggregate_type, aggregate_id, *, sequence=None, at=None, time="occurred"):
    from .replay import state_at
    from .store import get_event_store

    if at is not None and at.tzinfo is None:
        raise _BadRequest("at: must carry a time zone offset")
    if at is not None:
        try:
            at = at.astimezone(timezone.utc)
        except OverflowError:
            raise _BadRequest("at: is outside the range of dates") from None
    return state_at(get_event_store(), reader, tenant, aggregate_type,
                    aggregate_id, sequence=sequence, at=at, time=time)


class _BadRequest(Exception):
    pass


@router.get(
    "/aggregates/{tenant}/{aggregate_type}/{aggregate_id}/state",
    auth=READ_AUTH,
    response={200: StateOut, 400: ErrorOut, 401: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="An aggregate's state at a sequence or a moment",
    description="Replays the events the reader may see (personal data masked where required) and "
                "checks the aggregate's hash chain (`verified`).",
)
def aggregate_state(request, tenant: str, aggregate_type: str, aggregate_id: str, query: Query[StateQuery]):
    if query.sequence is not None and query.at is not None:
        return json_response({"detail": "give sequence or at, not both"}, 400)
    reader = reader_for(request.auth, request)
    try:
        result = _state(reader, tenant, aggregate_type, aggregate_id,
                        sequence=query.sequence, at=query.at, time=query.time)
    except _BadRequest as exc:
        return json_response({"detail": str(exc)}, 400)
    target = {"tenant": tenant, "aggregate_type": aggregate_type, "aggregate_id": aggregate_id}
    if result is None:
        reader.audit("ReadRefused", target=target, details={"action": "replay_state"})
        return json_response({"detail": "aggregate not found"}, 404)
    reader.audit("StateReplayed", target=target | _classified(tenant, aggregate_type, aggregate_id),
                 details={"sequence": query.sequence, "at": query.at.isoformat() if query.at else None,
                          "time": query.time})
    return json_response(result.__dict__)


@router.get(
    "/aggregates/{tenant}/{aggregate_type}/{aggregate_id}/diff",
    auth=READ_AUTH,
    response={200: DiffOut, 400: ErrorOut, 401: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="What changed between two states of an aggregate",
)
def aggregate_diff(request, tenant: str, aggregate_type: str, aggregate_id: str, query: Query[DiffQuery]):
    from .replay import diff_states

    by_sequence = query.from_sequence is not None and query.to_sequence is not None
    by_time = query.from_ is not None and query.to is not None
    if by_sequence == by_time:
        return json_response(
            {"detail": "give from_sequence and to_sequence, or from and to (RFC 3339)"}, 400)
    reader = reader_for(request.auth, request)
    try:
        if by_sequence:
            old = _state(reader, tenant, aggregate_type, aggregate_id, sequence=query.from_sequence)
            new = _state(reader, tenant, aggregate_type, aggregate_id, sequence=query.to_sequence)
        else:
            old = _state(reader, tenant, aggregate_type, aggregate_id, at=query.from_, time=query.time)
            new = _state(reader, tenant, aggregate_type, aggregate_id, at=query.to, time=query.time)
    except _BadRequest as exc:
        return json_response({"detail": str(exc)}, 400)
    if old is None or new is None:
        return json_response({"detail": "aggregate not found"}, 404)
    reader.audit(
        "StateReplayed",
        target={"tenant": tenant, "aggregate_type": aggregate_type, "aggregate_id": aggregate_id}
        | _classified(tenant, aggregate_type, aggregate_id),
        details={"diff": True},
    )
    diff = diff_states(old.state, new.state)
    return json_response({**diff.__dict__, "from_state": old.__dict__, "to_state": new.__dict__})


_CROSS_PARAMS = {"from", "to", "time", "limit", "cursor", "sort"}


@router.get(
    "/traces/{trace_id}/events",
    auth=PERSON_AUTH,
    response={200: SearchOut, 400: ErrorOut, 401: ErrorOut},
    summary="All events of one trace, across aggregates, oldest first",
)
def trace_events(request, trace_id: str):
    params = {k: v for k, v in request.GET.dict().items() if k in _CROSS_PARAMS}
    return _search_response(request, {"sort": "oldest", **params, "trace_id": trace_id}, "TraceViewed")


@router.get(
    "/actors/{actor_id}/events",
    auth=PERSON_AUTH,
    response={200: SearchOut, 400: ErrorOut, 401: ErrorOut},
    summary="Everything one actor did, across aggregates (newest first; from/to narrow it)",
)
def actor_events(request, actor_id: str):
    params = {k: v for k, v in request.GET.dict().items() if k in _CROSS_PARAMS}
    return _search_response(request, {**params, "actor_id": actor_id}, "ActorActivityViewed")


def _classified(tenant: str, aggregate_type: str, aggregate_id: str) -> dict:
    """The replayed record's classification for the access audit (alert rules read it)."""
    classification = selectors.aggregate_classification(tenant, aggregate_type, aggregate_id)
    return {"classification": classification} if classification else {}
