"""Making signed checkpoints of the tenants' logs, and keeping a copy outside the database.

A checkpoint is ``{"tenant", "tree_size", "root_hash", "previous", "time", "key_id",
"signature"}``: ``previous`` is the SHA-256 of the previous checkpoint's JCS (null for the
first), and ``signature`` the base64 Ed25519 signature over the JCS of the rest. Each one is
also written to the archive storage (S3 Object Lock on AWS, a directory locally).
"""

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
from ..offline.merkle import verify_consistency
from .log import TenantTree
from .signing import CheckpointSigner, get_checkpoint_signer

__all__ = ["CheckpointRefused", "archive_name", "checkpoint_hash", "make_checkpoint", "make_due_checkpoints", "signed_part"]

log = logging.getLogger(__name__)


def signed_part(document: dict) -> bytes:
    """What a checkpoint's signature covers: the JCS of it without ``signature``."""
    return canonicalize({k: v for k, v in document.items() if k != "signature"})


def checkpoint_hash(document: dict) -> str:
    """What the next checkpoint names as ``previous``: the SHA-256 of this one's JCS."""
    return hashlib.sha256(canonicalize(document)).hexdigest()


def archive_name(document: dict) -> str:
    return f"checkpoints/{document['tenant']}/{document['tree_size']:015d}.json"


class CheckpointRefused(Exception):
    """The database's log does not continue what was signed (a copy held in the archive, or the
    previous checkpoint): signing it would vouch for a rewritten history. Nothing is signed."""


def make_checkpoint(*, tenant: str, signer: CheckpointSigner | None = None,
                    now: datetime | None = None) -> Checkpoint | None:
    """Sign the tenant's log as it stands; None when it holds nothing since the last checkpoint.

    Before signing, the log must continue the newest checkpoint copied to the archive (which
    the database's operator cannot change) and the database's own last one, by a consistency
    proof: ``CheckpointRefused`` otherwise. A copy the database lacks (its commit failed after
    the copy was written) is taken back rather than signed again differently.
    """
    signer, now = signer or get_checkpoint_signer(), now or timezone.now()
    with transaction.atomic():
        size = MerkleLog.objects.select_for_update().filter(tenant=tenant).values_list("size", flat=True).first()
        if not size:
            return None
        tree = TenantTree(tenant)
        last, taken_back = _continue_archive(tenant, tree, size, now)
        if last is not None and last.tree_size >= size:
            return last if taken_back else None
        tree.load_for(roots=[size], consistencies=[(last.tree_size, size)] if last else ())
        root = tree.root(size)
        if last is not None:
            _check_extends(tenant, tree, last.document, size, root)
        body = {
            "tenant": tenant,
            "tree_size": size,
            "root_hash": root.hex(),
            "previous": checkpoint_hash(last.document) if last else None,
            "time": format_timestamp(now),
        }
        document = signer.signed(body)
        checkpoint = Checkpoint.objects.create(tenant=tenant, tree_size=size, root_hash=body["root_hash"],
                                               key_id=document["key_id"], made_at=now, document=document)
        # Written before the commit: a checkpoint without its copy outside is not made at all.
        _write_copy(document)
    log.info("checkpoint %s at %d leaves signed by %s", tenant, size, document["key_id"])
    return checkpoint


def _continue_archive(tenant: str, tree: TenantTree, size: int, now) -> tuple[Checkpoint | None, bool]:
    """The tenant's last checkpoint once the database agrees with the archive's copies, and
    whether it was just taken back from a copy.

    Reads what is bounded whatever the archive's age: the copy of the database's last
    checkpoint, and the copies after it (none, or the one a failed transaction left)."""
    last = Checkpoint.objects.filter(tenant=tenant).order_by("-tree_size").first()
    held = _newest_copy(tenant, after=last.tree_size if last else 0)
    if held is None:
        if last is not None:
            own = _read_copy(archive_name(last.document))
            if own is None:
                raise CheckpointRefused(f"{tenant}: the database holds a checkpoint at {last.tree_size} the archive "
                                        "has no copy of")
            if own != last.document:
                raise CheckpointRefused(f"{tenant}: the database's checkpoint at {last.tree_size} differs from the "
                                        "archive's copy")
        return last, False
    # The archive is ahead: a checkpoint whose transaction failed after its copy was written.
    # It is taken back only if it continues the database's last one and matches the log.
    previous = checkpoint_hash(last.document) if last else None
    if held.get("previous") != previous or held["tree_size"] > size or \
            tree.root(held["tree_size"]).hex() != held.get("root_hash"):
        raise CheckpointRefused(f"{tenant}: the archive's checkpoint at {held['tree_size']} does not match the "
                                "database's log")
    if last is not None:
        _check_extends(tenant, tree, last.document, held["tree_size"], bytes.fromhex(held["root_hash"]))
    log.warning("checkpoint %s at %d: taken back from the archive's copy", tenant, held["tree_size"])
    adopted = Checkpoint.objects.create(tenant=tenant, tree_size=held["tree_size"], root_hash=held["root_hash"],
                                        key_id=held["key_id"], made_at=now, document=held)
    return adopted, True


def _check_extends(tenant: str, tree: TenantTree, signed: dict, size: int, root: bytes) -> None:
    old = signed["tree_size"]
    if not verify_consistency(old, size, bytes.fromhex(signed["root_hash"]), root, tree.consistency(old, size)):
        raise CheckpointRefused(f"{tenant}: the log at {size} events does not extend the checkpoint at {old}: "
                                "its history was changed")


def _newest_copy(tenant: str, *, after: int) -> dict | None:
    """The archive's newest checkpoint of ``tenant`` past ``after`` leaves, if any.

    Names are zero-padded sizes, so their order is the sizes'. On S3 only the names after
    ``after``'s are listed (a tenant signs every few minutes for years); a directory is listed
    whole, which is cheap on one machine."""
    storage, folder = archive_storage(), f"checkpoints/{tenant}"
    sizes = [size for size in _sizes_listed(storage, folder, after) if size > after]
    if not sizes:
        return None
    return _read_copy(f"{folder}/{max(sizes):015d}.json")


def _sizes_listed(storage, folder: str, after: int) -> list[int]:
    if hasattr(storage, "bucket"):  # django-storages' S3Storage
        prefix = storage._normalize_name(f"{folder}/")
        pages = storage.bucket.meta.client.get_paginator("list_objects_v2").paginate(
            Bucket=storage.bucket_name, Prefix=prefix, StartAfter=f"{prefix}{after:015d}.json")
        names = [item["Key"][len(prefix):] for page in pages for item in page.get("Contents", ())]
    else:
        try:
            _, names = storage.listdir(folder)
        except FileNotFoundError:
            return []
    return [int(name[:15]) for name in names if len(name) == 20 and name.endswith(".json") and name[:15].isdigit()]


def _read_copy(name: str) -> dict | None:
    storage = archive_storage()
    try:
        with storage.open(name) as copy:
            return json.loads(copy.read())
    except FileNotFoundError:
        return None


def _write_copy(document: dict) -> None:
    storage, name = archive_storage(), archive_name(document)
    content = json.dumps(document, sort_keys=True, indent=2).encode() + b"\n"
    if storage.exists(name):  # checked against the database before signing: the same one
        with storage.open(name) as existing:
            if existing.read() == content:
                return
        raise CheckpointRefused(f"{document['tenant']}: the archive holds another checkpoint at "
                                f"{document['tree_size']}")
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
        try:  # one tenant's trouble (a refusal, the archive, the key) does not stop the others
            checkpoint = make_checkpoint(tenant=tenant, now=now)
        except Exception:
            log.exception("checkpoint %s: not signed", tenant)
            continue
        if checkpoint is not None:
            made.append(checkpoint)
    return made
