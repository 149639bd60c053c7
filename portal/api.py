"""The HTTP API (django-ninja), mounted at ``/api/v1/``."""

from ninja import NinjaAPI
from ninja.errors import AuthenticationError
from ninja.errors import ValidationError as NinjaValidationError

from audit_events.api import json_response
from audit_events.api import router as events_router
from audit_events.checkpoints.api import router as checkpoints_router
from audit_events.schema import EventIn
from portal.access.api import router as access_router
from portal.alerts.api import router as alerts_router
from reports.api import router as reports_router


class PortalAPI(NinjaAPI):
    """NinjaAPI whose OpenAPI document also describes the hand-parsed ingest body."""

    def get_openapi_schema(self, *args, **kwargs):
        schema = super().get_openapi_schema(*args, **kwargs)
        definitions = EventIn.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(definitions.pop("$defs", {}))
        components["EventIn"] = definitions
        return schema


api = PortalAPI(
    title="Compliance portal API",
    version="1",
    description="Append audit events and read them back exactly as hashed.",
    urls_namespace="api-v1",
)
api.add_router("/", checkpoints_router)
api.add_router("/", events_router)
api.add_router("/", access_router)
api.add_router("/", reports_router)
api.add_router("/", alerts_router)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    return json_response(
        {"detail": "missing or invalid credentials: send 'Authorization: Bearer <key>'"},
        401,
        WWW_Authenticate="Bearer",
    )


@api.exception_handler(NinjaValidationError)
def _invalid_parameters(request, exc):
    errors = []
    for err in exc.errors:
        loc = [str(part) for part in err.get("loc", ()) if part not in ("query", "path", "body")]
        errors.append({"field": ".".join(loc) or "request", "message": err.get("msg", "invalid")})
    return json_response({"detail": "invalid parameters", "errors": errors}, 422)
