"""Legal holds: placing and releasing them (each an access-audit event), and the guard that
erasure must pass.

A hold covers a whole tenant, one aggregate (``TYPE:ID``) or one data subject. Erasing a data
subject is refused while any active hold covers their tenant, the subject, or an aggregate that
holds their events (the subject of an event without ``data_subject`` is its aggregate).
"""

import hashlib
import re
from typing import Iterable

from django.db import connections, transaction
from django.utils import timezone

from ..models import LegalHold
from ..schema import TENANT_PATTERN

__all__ = ["LegalHoldError", "check_hold", "check_not_held", "holds_covering", "lock_holds", "place_hold",
           "release_hold"]

_AGGREGATE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}:[^\s]{1,200}$")


class LegalHoldError(ValueError):
    """A hold refused an action, or a hold cannot be placed/released as asked; the message
    says which and why (``field`` names the input at fault, when one is)."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


def place_hold(*, tenant: str, scope: str, target: str = "", reason: str, owner, placed_by,
               request=None) -> LegalHold:
    """Put data under a legal hold; recorded as ``LegalHoldPlaced``."""
    from portal.access.audit import record_access

    target, reason = (target or "").strip(), (reason or "").strip()
    check_hold(tenant=tenant, scope=scope, target=target, reason=reason)
    with transaction.atomic():
        lock_holds(tenant)
        hold = LegalHold.objects.create(tenant=tenant, scope=scope, target=target, reason=reason,
                                        owner=owner, placed_by=placed_by)
        record_access("LegalHoldPlaced", user=placed_by, request=request, target=_target(hold),
                      details={"reason": reason, "owner": owner.get_username()}, pii=_personal(hold))
    return hold


def lock_holds(tenant: str, using: str = "default") -> None:
    """Within a transaction: holds of ``tenant`` are placed, and erasures checked against them,
    one at a time, so a hold placed while an erasure runs either stops it or comes after it.
    PostgreSQL: an advisory lock until the transaction ends. SQLite writes one at a time anyway."""
    if connections[using].vendor == "postgresql":
        with connections[using].cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [hold_lock_number(tenant)])


def hold_lock_number(tenant: str) -> int:
    return int.from_bytes(hashlib.sha256(f"legal-hold\0{tenant}".encode()).digest()[:8], "big", signed=True)


def check_hold(*, tenant: str, scope: str, target: str, reason: str) -> None:
    """Refuse (``LegalHoldError`` naming the field) a hold that says too little to be placed."""
    if scope not in dict(LegalHold.SCOPES):
        raise LegalHoldError("scope: must be tenant, aggregate or subject", field="scope")
    if not tenant or not re.fullmatch(rf"_?{TENANT_PATTERN}", tenant):
        raise LegalHoldError("tenant: name the tenant the hold is on, as events name it (e.g. acme-bank)",
                             field="tenant")
    if len(target) > 300:
        raise LegalHoldError("target: at most 300 characters", field="target")
    if scope == "tenant" and target:
        raise LegalHoldError("target: a hold on a whole tenant names no target", field="target")
    if scope == "aggregate" and not _AGGREGATE.match(target):
        raise LegalHoldError("target: an aggregate is written TYPE:ID (e.g. Patient:pat-00042)", field="target")
    if scope == "subject" and not target:
        raise LegalHoldError("target: name the data subject (their id, as events give it)", field="target")
    if not reason:
        raise LegalHoldError("reason: say why the data must be kept (the matter and its reference)", field="reason")


def release_hold(*, hold_id: int, released_by, reason: str, request=None) -> LegalHold:
    """Lift a hold, saying why; recorded as ``LegalHoldReleased``."""
    from portal.access.audit import record_access

    reason = (reason or "").strip()
    if not reason:
        raise LegalHoldError("release_reason: say why the hold ends (e.g. the matter closed)", field="release_reason")
    with transaction.atomic():
        hold = LegalHold.objects.select_for_update().get(pk=hold_id)
        if hold.released_at is not None:
            raise LegalHoldError(f"hold #{hold.pk} was released already, on {hold.released_at:%Y-%m-%d}")
        hold.released_by, hold.released_at, hold.release_reason = released_by, timezone.now(), reason
        hold.save(update_fields=["released_by", "released_at", "release_reason"])
        record_access("LegalHoldReleased", user=released_by, request=request, target=_target(hold),
                      details={"reason": reason}, pii=_personal(hold))
    return hold


def holds_covering(*, tenant: str, subject: str, aggregates: Iterable[str] = ()) -> list[LegalHold]:
    """The active holds that cover ``subject`` of ``tenant`` (or an aggregate of theirs)."""
    aggregates = set(aggregates) | ({subject} if _AGGREGATE.match(subject) else set())
    active = LegalHold.objects.filter(tenant=tenant, released_at__isnull=True)
    return [hold for hold in active.select_related("owner").order_by("placed_at")
            if hold.scope == "tenant"
            or (hold.scope == "subject" and hold.target == subject)
            or (hold.scope == "aggregate" and hold.target in aggregates)]


def check_not_held(*, tenant: str, subject: str, aggregates: Iterable[str] = ()) -> None:
    """Refuse (``LegalHoldError``) when an active hold covers the subject: erasure must wait."""
    holds = holds_covering(tenant=tenant, subject=subject, aggregates=aggregates)
    if holds:
        # The holds' reasons may name people: only their numbers and owners are said here.
        named = "; ".join(f"#{h.pk} on {h.tenant if h.scope == 'tenant' else h.target} "
                          f"(owner {h.owner.get_username()})" for h in holds)
        raise LegalHoldError(f"{subject} of {tenant} is under legal hold, so it cannot be erased: {named}. "
                             "The hold's owner must release it first.")


def _target(hold: LegalHold) -> dict:
    return {"hold_id": hold.pk, "tenant": hold.tenant, "scope": hold.scope, "target": hold.target}


def _personal(hold: LegalHold) -> list[str]:
    """A data subject's id is personal data; so is the free-text reason."""
    return (["/target/target"] if hold.scope == "subject" else []) + ["/details/reason"]
