"""Making signed checkpoints of the tenants' logs, and keeping a copy outside the database.

A checkpoint is ``{"tenant", "tree_size", "root_hash", "previous", "time", "key_id",
"signature"}``: ``previous`` is the SHA-256 of the previous checkpoint's JCS (null for the
first), and ``signature`` the base64 Ed25519 signature over the JCS of the rest. Each one is
also written to the archive storage (S3 Object Lock on AWS, a directory locally).
"""

import base64
import hashlib
import json
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from ..archive import archive_storage
from ..jcs import canonicalize
from ..models import Checkpoint, MerkleLog
from ..schema import format_timestamp
from .log import TenantTree
from .signing import CheckpointSigner, get_checkpoint_signer

__all__ = ["archive_name", "make_checkpoint", "make_due_checkpoints", "signed_part"]

log = logging.getLogger(__name__)


def signed_part(document: dict) -> bytes:
    """What a checkpoint's signature covers: the JCS of it without ``signature``."""
    return canonicalize({k: v for k, v in document.items() if k != "signature"})


def archive_name(document: dict) -> str:
    return f"checkpoints/{document['tenant']}/{document['tree_size']:015d}.json"


def make_checkpoint(*, tenant: str, signer: CheckpointSigner | None = None,
                    now: datetime | None = None) -> Checkpoint | None:
    """Sign the tenant's log as it stands; None when it holds nothing since the last checkpoint."""
    signer = signer or get_checkpoint_signer()
    with transaction.atomic():
        size = MerkleLog.objects.select_for_update().filter(tenant=tenant).values_list("size", flat=True).first()
        last = Checkpoint.objects.filter(tenant=tenant).order_by("-tree_size").first()
        if not size or (last is not None and last.tree_size >= size):
            return None
        body = {
            "tenant": tenant,
            "tree_size": size,
            "root_hash": TenantTree(tenant).root(size).hex(),
            "previous": hashlib.sha256(canonicalize(last.document)).hexdigest() if last else None,
            "time": format_timestamp(now or timezone.now()),
            "key_id": signer.key_id,
        }
        document = body | {"signature": base64.b64encode(signer.sign(signed_part(body))).decode()}
        checkpoint = Checkpoint.objects.create(tenant=tenant, tree_size=size, root_hash=body["root_hash"],
                                               key_id=body["key_id"], made_at=now or timezone.now(),
                                               document=document)
        # Written before the commit: a checkpoint without its copy outside is not made at all.
        _write_copy(document)
    log.info("checkpoint %s at %d leaves signed by %s", tenant, size, body["key_id"])
    return checkpoint


def _write_copy(document: dict) -> None:
    storage, name = archive_storage(), archive_name(document)
    content = json.dumps(document, sort_keys=True, indent=2).encode() + b"\n"
    if storage.exists(name):  # a copy left by a commit that failed after writing it
        with storage.open(name) as existing:
            if existing.read() == content:
                return
        name = name.replace(".json", f"-{document['time']}.json")
    storage.save(name, ContentFile(content))


def make_due_checkpoints(*, now: datetime | None = None) -> list[Checkpoint]:
    """A checkpoint for each tenant whose log grew by ``AUDIT_CHECKPOINT_EVERY_EVENTS`` leaves,
    or grew at all and was last signed ``AUDIT_CHECKPOINT_EVERY_MINUTES`` ago (or never)."""
    now = now or timezone.now()
    every = settings.AUDIT_CHECKPOINT_EVERY_EVENTS
    stale = now - timedelta(minutes=settings.AUDIT_CHECKPOINT_EVERY_MINUTES)
    made = []
    for tenant, size in MerkleLog.objects.filter(size__gt=0).values_list("tenant", "size"):
        last = Checkpoint.objects.filter(tenant=tenant).order_by("-tree_size").values_list(
            "tree_size", "made_at").first()
        if last is not None and not (size - last[0] >= every or (size > last[0] and last[1] <= stale)):
            continue
        checkpoint = make_checkpoint(tenant=tenant, now=now)
        if checkpoint is not None:
            made.append(checkpoint)
    return made
