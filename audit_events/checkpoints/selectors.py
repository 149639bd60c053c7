"""Reads of the logs and checkpoints: proofs for an event a reader may see, checkpoints of the
tenants they may read, consistency between two sizes, and the published keys."""

import base64

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..models import Checkpoint, MerkleLeaf, SigningKey
from ..readers import Reader
from ..selectors import event_for
from ..store import StoredEvent
from .log import TenantTree
from .services import signed_part

__all__ = [
    "ProofUnavailable", "checkpoints_of", "consistency_of", "inclusion_proof_for",
    "published_keys", "signature_valid", "tenant_readable",
]


class ProofUnavailable(LookupError):
    """The event is one the reader may see, but no checkpoint covers it yet."""


def tenant_readable(reader: Reader, tenant: str) -> bool:
    """Whether ``reader`` may search at least one event of ``tenant`` (its checkpoints say how
    many events it has): decided by the access filter itself, deny policies and all, so a
    tenant outside their scope reads like one that does not exist."""
    from ..search import SearchQuery, get_search_index

    scope = reader.tenant_scope("search")
    if scope is not None and tenant not in scope:
        return False  # the upper bound already excludes it: no search needed
    found = get_search_index().search(SearchQuery(tenant=tenant, limit=1), reader=reader)
    return bool(found.total)


def inclusion_proof_for(*, reader: Reader, event_id: str) -> dict | None:
    """The event's inclusion proof against the newest checkpoint that covers it; ``None`` when
    the reader may not see the event (404), ``ProofUnavailable`` while no checkpoint covers it."""
    event = event_for(reader=reader, event_id=event_id)
    if event is None:
        return None
    leaf, checkpoint = _covering(event)
    if checkpoint is None:
        raise ProofUnavailable(f"event {event_id} is not covered by a checkpoint yet; the next one will")
    signed = checkpoint.document  # what the signature covers, not the columns beside it
    tree = TenantTree(leaf.tenant)
    tree.load_for(inclusions=[(leaf.leaf_index, signed["tree_size"])])
    path = tree.inclusion(leaf.leaf_index, signed["tree_size"])
    return {"tenant": leaf.tenant, "leaf_index": leaf.leaf_index, "tree_size": signed["tree_size"],
            "root_hash": signed["root_hash"], "audit_path": [node.hex() for node in path], "checkpoint": signed}


def _covering(event: StoredEvent) -> tuple[MerkleLeaf | None, Checkpoint | None]:
    leaf = MerkleLeaf.objects.filter(event_id=event.record["event_id"]).first()
    if leaf is None:
        return None, None
    checkpoint = (Checkpoint.objects.filter(tenant=leaf.tenant, tree_size__gt=leaf.leaf_index)
                  .order_by("-tree_size").first())
    return leaf, checkpoint


def signature_valid(document: dict) -> bool:
    """Whether the checkpoint's signature verifies with the published key it names."""
    key = SigningKey.objects.filter(key_id=document.get("key_id")).values_list("public_key", flat=True).first()
    if key is None:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(key)).verify(
            base64.b64decode(document.get("signature", "")), signed_part(document))
    except (InvalidSignature, ValueError):
        return False
    return True


def checkpoints_of(*, tenant: str, after_size: int = 0, limit: int = 100) -> list[dict]:
    """The tenant's checkpoints, oldest first, from the first above ``after_size``."""
    rows = Checkpoint.objects.filter(tenant=tenant, tree_size__gt=after_size).order_by("tree_size")[:limit]
    return [row.document for row in rows]


def consistency_of(*, tenant: str, old_size: int, new_size: int) -> dict:
    """The RFC 6962 consistency proof between two signed checkpoints of the tenant's log, with
    both roots. ``ValueError`` names a size no checkpoint of the tenant has (the live, unsigned
    size of the log is not told)."""
    if not 1 <= old_size <= new_size:
        raise ValueError("from: must be at least 1 and at most to")
    signed = set(Checkpoint.objects.filter(tenant=tenant, tree_size__in=(old_size, new_size))
                 .values_list("tree_size", flat=True))
    for name, size in (("from", old_size), ("to", new_size)):
        if size not in signed:
            raise ValueError(f"{name}: no checkpoint of {tenant} has size {size} (GET /api/v1/checkpoints lists them)")
    tree = TenantTree(tenant)
    tree.load_for(roots=(old_size, new_size), consistencies=[(old_size, new_size)])
    return {"tenant": tenant, "from": old_size, "to": new_size, "from_root": tree.root(old_size).hex(),
            "to_root": tree.root(new_size).hex(), "proof": [node.hex() for node in tree.consistency(old_size, new_size)]}


def published_keys() -> list[dict]:
    """Every key that signed checkpoints, the retired ones too."""
    return [{"key_id": key.key_id, "algorithm": key.algorithm, "public_key": key.public_key,
             "created_at": key.created_at.isoformat(), "retired_at": key.retired_at.isoformat() if key.retired_at else None}
            for key in SigningKey.objects.order_by("created_at")]
