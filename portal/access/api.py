"""Access endpoints for people (personal token or session): break-glass."""

from datetime import datetime

from ninja import Router, Schema
from pydantic import Field

from audit_events.api import ErrorOut, json_response

from .auth import PERSON_AUTH
from .breakglass import BreakGlassError, break_glass_request
from .models import BreakGlassGrant

router = Router(tags=["access"])


class BreakGlassIn(Schema):
    tenant: str = Field(max_length=64)
    aggregate_type: str = Field("", max_length=64)
    aggregate_id: str = Field("", max_length=200)
    justification: str = Field(max_length=4000)
    minutes: int


class BreakGlassOut(Schema):
    id: int
    tenant: str
    aggregate_type: str
    aggregate_id: str
    status: str
    requested_at: datetime
    starts_at: datetime | None
    expires_at: datetime | None


class BreakGlassListOut(Schema):
    results: list[BreakGlassOut]


def _out(grant: BreakGlassGrant) -> dict:
    return BreakGlassOut(
        id=grant.pk, tenant=grant.tenant, aggregate_type=grant.aggregate_type,
        aggregate_id=grant.aggregate_id, status=grant.state, requested_at=grant.requested_at,
        starts_at=grant.starts_at, expires_at=grant.expires_at,
    ).model_dump(mode="json")


@router.post(
    "/break-glass",
    auth=PERSON_AUTH,
    response={201: BreakGlassOut, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut},
    summary="Request emergency (break-glass) access",
)
def request_break_glass(request, body: BreakGlassIn):
    try:
        grant = break_glass_request(user=request.auth, request=request, **body.model_dump())
    except BreakGlassError as exc:
        status = 403 if str(exc).startswith("no policy") else 422
        return json_response({"detail": str(exc)}, status)
    return json_response(_out(grant), 201)


@router.get("/break-glass", auth=PERSON_AUTH, response={200: BreakGlassListOut, 401: ErrorOut},
            summary="Your break-glass requests and grants")
def list_break_glass(request):
    return json_response({"results": [_out(g) for g in BreakGlassGrant.objects.filter(user=request.auth)]})
