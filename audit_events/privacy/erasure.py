"""Erasing a data subject by crypto-shredding: their key is destroyed, so every value sealed
under it reads as erased on every surface, while every hash and checkpoint stays valid.

Refused while a legal hold covers the subject. Issues a receipt signed with the checkpoint key
(kept in the archive storage beside the checkpoints) and is itself an audit event.

From the portal, erasure takes two people: one admin asks (``request_erasure``), another approves
(``approve_erasure``), and only then is the key destroyed. The command line (``erase_subject``)
is the operator's own, already behind their access to the servers.
"""

import hashlib
import json
import logging
import re

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from ..archive import archive_storage
from ..jcs import canonicalize
from ..models import ErasureRequest, SubjectKey
from ..schema import TENANT_PATTERN, format_timestamp
from ..store import get_event_store
from .holds import LegalHoldError, check_not_held, lock_holds
from .keys import destroy_subject_key
from .sealing import subject_of

__all__ = ["ErasureError", "approve_erasure", "check_erasure_request", "erase_subject", "reject_erasure",
           "request_erasure"]

log = logging.getLogger(__name__)


class ErasureError(ValueError):
    """An erasure that cannot be done as asked; the message says why (``field`` names the
    input at fault, when one is)."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


def erase_subject(*, tenant: str, subject: str, reason: str, actor: str | None = None, request=None, user=None,
                  approval: dict | None = None) -> dict:
    """Destroy ``subject``'s key in ``tenant``; the signed receipt.

    ``actor`` names who erased (``command:erase_subject``), or ``user`` does. ``approval``
    (``{"request", "requested_by", "approved_by"}``) is signed into the receipt when two people did it.
    """
    from portal.access.audit import record_access

    from ..checkpoints.signing import get_checkpoint_signer

    reason = (reason or "").strip()
    if not reason:
        raise ErasureError("--reason: say why (e.g. the data subject's request and its reference)")
    events = _events_of(tenant, subject)
    with transaction.atomic():
        _check_key(SubjectKey.objects.select_for_update().filter(tenant=tenant, subject=subject).first(),
                   tenant=tenant, subject=subject)
        lock_holds(tenant)  # a hold placed meanwhile waits for this erasure, or stops it
        check_not_held(tenant=tenant, subject=subject, aggregates=_aggregates(events))
        key = destroy_subject_key(tenant=tenant, subject=subject)
        receipt = get_checkpoint_signer().signed(
            {"kind": "erasure", "tenant": tenant, "subject": subject, "key_id": key.key_id,
             "erased_at": format_timestamp(key.destroyed_at), "events": len(events),
             "reason_sha256": hashlib.sha256(reason.encode()).hexdigest(),
             **({"approval": approval} if approval else {})}, key_field="signed_by")
        record_access("SubjectErased", user=user, request=request, actor=None if user else actor,
                      actor_type="user" if user else "system",
                      target={"tenant": tenant, "subject": subject},
                      details={"key_id": key.key_id, "events": len(events), "reason": reason,
                               "receipt": hashlib.sha256(canonicalize(receipt)).hexdigest(),
                               **({"approval": approval} if approval else {})},
                      pii=["/target/subject", "/details/reason"])
        # A request still waiting for this subject (erased from the command line) is done too.
        ErasureRequest.objects.filter(tenant=tenant, subject=subject, status=ErasureRequest.PENDING).update(
            status=ErasureRequest.ERASED, decided_at=key.destroyed_at, receipt=receipt,
            decision_note=f"erased by {actor or user.get_username()} without this request's approval")
        # Outside the database only once it holds the erasure: a rolled-back erasure leaves no
        # signed receipt in the (locked) archive, and the search index no early erased words.
        transaction.on_commit(lambda: _archive_receipt(receipt))
        transaction.on_commit(lambda: _reindex(events))
    log.info("erased a subject of %s: key %s, %d events", tenant, key.key_id, len(events))
    return receipt


def _archive_receipt(receipt: dict) -> None:
    name = f"erasures/{receipt['tenant']}/{receipt['key_id']}.json"
    try:
        archive_storage().save(name, ContentFile(json.dumps(receipt, sort_keys=True, indent=2).encode() + b"\n"))
    except Exception:
        # The erasure stands; its receipt is in SubjectErased (by hash), the request, the output.
        log.exception("the archive has no copy of the erasure receipt %s: write it from the request or the "
                      "command's output", name)


def check_erasure_request(*, tenant: str, subject: str, reason: str, user) -> None:
    """Refuse (``ErasureError`` naming the field) a request that could not be carried out, or
    that ``user`` may not make: said when asking, not only when the approver acts."""
    from portal.access.selectors import may_erase

    if not re.fullmatch(TENANT_PATTERN, tenant or ""):
        raise ErasureError("tenant: name the tenant, as events name it (e.g. acme-bank); the portal's own "
                           "tenants hold no sealed personal data", field="tenant")
    if not subject or len(subject) > 300:
        raise ErasureError("subject: name the data subject (their id as events give it, or TYPE:ID), "
                           "at most 300 characters", field="subject")
    if not reason:
        raise ErasureError("reason: say why (e.g. the data subject's request and its reference)", field="reason")
    if not (user.has_perm("audit_events.add_erasurerequest") and may_erase(user, tenant=tenant)):
        raise ErasureError(f"tenant: you may not ask to erase data subjects of {tenant}", field="tenant")
    _check_key(SubjectKey.objects.filter(tenant=tenant, subject=subject).first(), tenant=tenant, subject=subject)
    waiting = ErasureRequest.objects.filter(tenant=tenant, subject=subject, status=ErasureRequest.PENDING).first()
    if waiting is not None:
        raise ErasureError(f"subject: erasing {subject} of {tenant} is already waiting for approval "
                           f"(request #{waiting.pk})", field="subject")
    try:
        check_not_held(tenant=tenant, subject=subject, aggregates=_held_aggregates(tenant, subject))
    except LegalHoldError as held:
        raise ErasureError(f"subject: {held}", field="subject") from None


def request_erasure(*, tenant: str, subject: str, reason: str, requested_by, request=None) -> ErasureRequest:
    """Ask for a data subject to be erased; nothing is destroyed until a second admin approves.
    Recorded as ``ErasureRequested``."""
    from portal.access.audit import record_access

    tenant, subject, reason = (tenant or "").strip(), (subject or "").strip(), (reason or "").strip()
    check_erasure_request(tenant=tenant, subject=subject, reason=reason, user=requested_by)
    try:
        with transaction.atomic():
            asked = ErasureRequest.objects.create(tenant=tenant, subject=subject, reason=reason,
                                                  requested_by=requested_by)
            record_access("ErasureRequested", user=requested_by, request=request, target=_target(asked),
                          details={"reason": reason}, pii=["/target/subject", "/details/reason"])
    except IntegrityError:  # another admin asked at the same moment
        raise ErasureError(f"subject: erasing {subject} of {tenant} is already waiting for approval",
                           field="subject") from None
    return asked


def approve_erasure(*, erasure: ErasureRequest, approver, request=None) -> ErasureRequest:
    """A second admin approves: the subject's key is destroyed (``erase_subject``, which
    audits it and signs the receipt, naming both people). Refused to the person who asked.

    The request is claimed (pending → erased) and the key destroyed in one transaction: a
    rejection or withdrawal at the same moment either wins, and nothing is erased, or finds the
    request decided; a failure on the way leaves both the key and the request as they were."""
    from portal.access.selectors import may_erase

    _check_pending(erasure)
    asker = erasure.requested_by
    if approver.pk == asker.pk:
        raise ErasureError("a second admin must approve: you cannot approve your own request")
    if not (approver.has_perm("audit_events.approve_erasurerequest") and may_erase(approver, tenant=erasure.tenant)):
        raise ErasureError(f"you may not approve erasures in {erasure.tenant}")
    if not (asker.is_active and asker.has_perm("audit_events.add_erasurerequest")
            and may_erase(asker, tenant=erasure.tenant)):
        raise ErasureError(f"{asker.get_username()}, who asked, may no longer ask for erasures in {erasure.tenant}: "
                           "reject the request (someone who may can ask again)")
    approval = {"request": erasure.pk, "requested_by": asker.get_username(), "approved_by": approver.get_username()}
    with transaction.atomic():
        claimed = ErasureRequest.objects.filter(pk=erasure.pk, status=ErasureRequest.PENDING).update(
            status=ErasureRequest.ERASED, decided_by=approver, decided_at=timezone.now())
        if not claimed:
            raise ErasureError(f"request #{erasure.pk} was decided meanwhile")
        receipt = erase_subject(tenant=erasure.tenant, subject=erasure.subject, reason=erasure.reason,
                                user=approver, request=request, approval=approval)
        ErasureRequest.objects.filter(pk=erasure.pk).update(receipt=receipt)
    erasure.refresh_from_db()
    return erasure


def reject_erasure(*, erasure: ErasureRequest, by, note: str, request=None) -> ErasureRequest:
    """Turn a request down (or, by the person who asked, withdraw it), saying why; recorded
    as ``ErasureRejected``."""
    from portal.access.audit import record_access
    from portal.access.selectors import may_erase

    note = (note or "").strip()
    if not note:
        raise ErasureError("note: say why the request is turned down", field="note")
    _check_pending(erasure)
    if by.pk != erasure.requested_by_id and not (
            by.has_perm("audit_events.approve_erasurerequest") and may_erase(by, tenant=erasure.tenant)):
        raise ErasureError(f"you may not decide erasures in {erasure.tenant}")
    with transaction.atomic():
        decided = ErasureRequest.objects.filter(pk=erasure.pk, status=ErasureRequest.PENDING).update(
            status=ErasureRequest.REJECTED, decided_by=by, decided_at=timezone.now(), decision_note=note)
        if not decided:
            raise ErasureError(f"request #{erasure.pk} was decided meanwhile")
        record_access("ErasureRejected", user=by, request=request, target=_target(erasure),
                      details={"note": note}, pii=["/target/subject", "/details/note"])
    erasure.refresh_from_db()
    return erasure


def _check_pending(erasure: ErasureRequest) -> None:
    erasure.refresh_from_db()
    if erasure.status != ErasureRequest.PENDING:
        raise ErasureError(f"request #{erasure.pk} is {erasure.get_status_display()}, not waiting for approval")


def _check_key(key: SubjectKey | None, *, tenant: str, subject: str) -> None:
    if key is None:
        raise ErasureError(f"subject: {subject} of {tenant} has no personal data sealed under a key of their own: "
                           "nothing to erase", field="subject")
    if key.destroyed_at is not None:
        raise ErasureError(f"subject: {subject} of {tenant} was erased already, on {key.destroyed_at:%Y-%m-%d}: "
                           "nothing to erase", field="subject")


def _events_of(tenant: str, subject: str) -> list:
    return [e for e in get_event_store().iter_events(tenant=tenant) if subject_of(e.record) == subject]


def _held_aggregates(tenant: str, subject: str) -> set[str]:
    """The subject's aggregates, where a hold on an aggregate could cover them: the tenant's
    events are read only when such a hold is active."""
    from ..models import LegalHold

    if not LegalHold.objects.filter(tenant=tenant, scope="aggregate", released_at__isnull=True).exists():
        return set()
    return _aggregates(_events_of(tenant, subject))


def _aggregates(events) -> set[str]:
    return {f"{e.aggregate_type}:{e.aggregate_id}" for e in events}


def _target(erasure: ErasureRequest) -> dict:
    return {"tenant": erasure.tenant, "subject": erasure.subject, "request_id": erasure.pk}


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
