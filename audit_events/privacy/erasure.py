"""Erasing a data subject by crypto-shredding: their key is destroyed, so every value sealed
under it reads as erased on every surface, while every hash and checkpoint stays valid.

Refused while a legal hold covers the subject. Issues a receipt signed with the checkpoint key
(kept in the archive storage beside the checkpoints) and is itself an audit event.
"""

import base64
import hashlib
import json
import logging

from django.core.files.base import ContentFile
from django.db import transaction

from ..archive import archive_storage
from ..jcs import canonicalize
from ..models import SubjectKey
from ..schema import format_timestamp
from ..store import get_event_store
from .holds import check_not_held
from .keys import destroy_subject_key
from .sealing import subject_of

__all__ = ["ErasureError", "erase_subject"]

log = logging.getLogger(__name__)


class ErasureError(ValueError):
    """An erasure that cannot be done as asked; the message says why."""


def erase_subject(*, tenant: str, subject: str, reason: str, actor: str, request=None, user=None) -> dict:
    """Destroy ``subject``'s key in ``tenant``; the signed receipt.

    ``actor`` names who erased (``command:erase_subject``, or a user's id with ``user``).
    """
    from portal.access.audit import record_access

    from ..checkpoints.signing import get_checkpoint_signer

    reason = (reason or "").strip()
    if not reason:
        raise ErasureError("--reason: say why (e.g. the data subject's request and its reference)")
    store = get_event_store()
    events = [e for e in store.iter_events(tenant=tenant) if subject_of(e.record) == subject]
    aggregates = {f"{e.aggregate_type}:{e.aggregate_id}" for e in events}
    check_not_held(tenant=tenant, subject=subject, aggregates=aggregates)
    with transaction.atomic():
        existing = SubjectKey.objects.select_for_update().filter(tenant=tenant, subject=subject).first()
        if existing is None:
            raise ErasureError(f"{subject} of {tenant} has no personal data sealed under a key of their own: "
                               "nothing to erase")
        if existing.destroyed_at is not None:
            raise ErasureError(f"{subject} of {tenant} was erased already, on {existing.destroyed_at:%Y-%m-%d}: "
                               "nothing to erase")
        key = destroy_subject_key(tenant=tenant, subject=subject)
        signer = get_checkpoint_signer()
        body = {"kind": "erasure", "tenant": tenant, "subject": subject, "key_id": key.key_id,
                "erased_at": format_timestamp(key.destroyed_at), "events": len(events),
                "reason_sha256": hashlib.sha256(reason.encode()).hexdigest(), "signed_by": signer.key_id}
        receipt = body | {"signature": base64.b64encode(signer.sign(canonicalize(body))).decode()}
        archive_storage().save(f"erasures/{tenant}/{key.key_id}.json",
                               ContentFile(json.dumps(receipt, sort_keys=True, indent=2).encode() + b"\n"))
        record_access("SubjectErased", user=user, request=request, actor=None if user else actor,
                      actor_type="user" if user else "system",
                      target={"tenant": tenant, "subject": subject},
                      details={"key_id": key.key_id, "events": len(events), "reason": reason,
                               "receipt": hashlib.sha256(canonicalize(receipt)).hexdigest()},
                      pii=["/target/subject", "/details/reason"])
    _reindex(events)
    log.info("erased a subject of %s: key %s, %d events", tenant, key.key_id, len(events))
    return receipt


def _reindex(events) -> None:
    """The search index forgets the erased words (its documents are made again, the values
    now reading as erased); a failure is logged, and a rebuild of the index does the same."""
    from ..search import get_search_index

    try:
        index = get_search_index()
        for start in range(0, len(events), 500):
            index.index(events[start:start + 500])
    except Exception:
        log.exception("the search index still holds erased words: run manage.py rebuild_search_index")
