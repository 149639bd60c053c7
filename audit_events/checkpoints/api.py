"""The verifiability API: an event's inclusion proof, the checkpoints, consistency between
them, and the public keys (one endpoint per operation)."""

from ninja import Query, Router, Schema
from pydantic import Field

from portal.access.auth import READ_AUTH
from portal.access.readers import reader_for

from ..api import ErrorOut, json_response
from .selectors import (
    ProofUnavailable, checkpoints_of, consistency_of, inclusion_proof_for, published_keys, tenant_readable,
)

router = Router(tags=["checkpoints"])


class CheckpointOut(Schema):
    tenant: str
    tree_size: int
    root_hash: str = Field(description="Hex SHA-256 root of the tenant's log at tree_size (RFC 6962).")
    previous: str | None = Field(description="Hex SHA-256 of the previous checkpoint's JCS; null for the first.")
    time: str
    key_id: str
    signature: str = Field(description="Base64 Ed25519 signature over the JCS of the checkpoint without it.")


class ProofOut(Schema):
    tenant: str
    leaf_index: int
    tree_size: int
    root_hash: str
    audit_path: list[str] = Field(description="Hex sibling hashes, leaf to root (RFC 9162 §2.1.3).")
    checkpoint: CheckpointOut


class CheckpointsQuery(Schema):
    tenant: str
    after_size: int = Field(0, ge=0, description="Only checkpoints with a larger tree_size (paging).")
    limit: int = Field(100, ge=1, le=1000)


class ConsistencyQuery(Schema):
    tenant: str
    from_: int = Field(alias="from", ge=1, description="The older tree size.")
    to: int = Field(ge=1, description="The newer tree size.")


def _reader_of_tenant(request, tenant: str, action: str):
    """The reader, if they may read ``tenant``'s log; else ``None``, the refusal audited (the
    caller answers 404, alike for a tenant that does not exist)."""
    reader = reader_for(request.auth, request)
    if tenant_readable(reader, tenant):
        return reader
    reader.audit("ReadRefused", target={"tenant": tenant}, details={"action": action})
    return None


def _no_tenant(tenant: str):
    return json_response({"detail": f"no log you may read for tenant {tenant!r}"}, 404)


@router.get("/events/{event_id}/proof", auth=READ_AUTH, response={200: ProofOut, 401: ErrorOut, 404: ErrorOut},
            summary="An event's inclusion proof against the newest checkpoint covering it",
            description="404 when the event is not one you may read, and while no checkpoint covers it yet "
                        "(checkpoints are signed every few minutes).")
def event_proof(request, event_id: str):
    reader = reader_for(request.auth, request)
    try:
        proof = inclusion_proof_for(reader=reader, event_id=event_id)
    except ProofUnavailable as exc:
        return json_response({"detail": str(exc)}, 404)
    if proof is None:
        return json_response({"detail": f"event {event_id} not found"}, 404)
    return json_response(proof)


@router.get("/checkpoints", auth=READ_AUTH, response={200: dict, 401: ErrorOut, 404: ErrorOut, 422: ErrorOut},
            summary="A tenant's signed checkpoints, oldest first")
def list_checkpoints(request, query: Query[CheckpointsQuery]):
    reader = _reader_of_tenant(request, query.tenant, "checkpoints")
    if reader is None:
        return _no_tenant(query.tenant)
    found = checkpoints_of(tenant=query.tenant, after_size=query.after_size, limit=query.limit)
    reader.audit("CheckpointsListed", target={"tenant": query.tenant}, details={"after_size": query.after_size, "returned": len(found)})
    return json_response({"checkpoints": found})


@router.get("/checkpoints/consistency", auth=READ_AUTH,
            response={200: dict, 400: ErrorOut, 401: ErrorOut, 404: ErrorOut, 422: ErrorOut},
            summary="A consistency proof between two signed checkpoints of a tenant's log (RFC 6962 §2.1.2)")
def checkpoint_consistency(request, query: Query[ConsistencyQuery]):
    reader = _reader_of_tenant(request, query.tenant, "checkpoint_consistency")
    if reader is None:
        return _no_tenant(query.tenant)
    try:
        proof = consistency_of(tenant=query.tenant, old_size=query.from_, new_size=query.to)
    except ValueError as exc:
        field, _, message = str(exc).partition(": ")
        return json_response({"detail": "invalid parameters", "errors": [{"field": field, "message": message}]}, 400)
    reader.audit("CheckpointConsistencyRead", target={"tenant": query.tenant}, details={"from": query.from_, "to": query.to})
    return json_response(proof)


@router.get("/checkpoints/keys", auth=None, response={200: dict},
            summary="The public keys that sign checkpoints (retired ones stay listed)")
def checkpoint_keys(request):
    return json_response({"keys": published_keys()})
