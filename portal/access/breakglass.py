"""Break-glass: bounded, justified, audited emergency access.

A person asks for access to a tenant (or one aggregate) with a written
justification; a policy must allow ``break_glass`` on that target. With
``AUDIT_BREAK_GLASS_APPROVAL`` on, a second person who may manage access to
the tenant approves it first. While active it adds a temporary allow policy
(read actions, personal data included) that lapses by itself; every
activation and every read that needed it is flagged in the access audit and
e-mailed to the administrators.
"""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from audit_events.schema import RESERVED_TENANT_PREFIX

from .audit import record_access
from .engine import decide
from .models import BreakGlassGrant
from .policy import PolicySpec

__all__ = [
    "BreakGlassError",
    "break_glass_decide",
    "break_glass_policies",
    "break_glass_request",
    "break_glass_revoke",
    "notify_admins",
]

READ_ACTIONS = ["search", "view_event", "view_timeline", "replay_state", "export_report", "view_pii"]
MIN_JUSTIFICATION = 20


class BreakGlassError(Exception):
    """A request, approval or revocation that cannot be done, with the reason."""


def _target(grant: BreakGlassGrant) -> dict:
    return {"tenant": grant.tenant, "aggregate_type": grant.aggregate_type, "aggregate_id": grant.aggregate_id,
            "grant": grant.pk}


def break_glass_request(
    *, user, tenant: str, justification: str, minutes: int,
    aggregate_type: str = "", aggregate_id: str = "", request=None,
) -> BreakGlassGrant:
    """Ask for emergency access; active at once unless approval is required."""
    from .selectors import subject_for  # the subject includes existing grants

    justification = (justification or "").strip()
    if len(justification) < MIN_JUSTIFICATION:
        raise BreakGlassError(f"justification: explain the emergency in at least {MIN_JUSTIFICATION} characters")
    limit = settings.AUDIT_BREAK_GLASS_MAX_MINUTES
    if not 1 <= minutes <= limit:
        raise BreakGlassError(f"minutes: must be between 1 and {limit}")
    if not tenant or tenant.startswith(RESERVED_TENANT_PREFIX):
        raise BreakGlassError(f"tenant: {tenant!r} cannot be opened by break-glass")
    if bool(aggregate_type) != bool(aggregate_id):
        raise BreakGlassError("aggregate: give both aggregate_type and aggregate_id, or neither")
    attrs = {"tenant": tenant, "aggregate_type": aggregate_type or None, "aggregate_id": aggregate_id or None}
    if not decide(subject_for(user), "break_glass", attrs, now=timezone.now()).allowed:
        raise BreakGlassError(f"no policy allows you break-glass access to {tenant!r}")
    with transaction.atomic():
        grant = BreakGlassGrant.objects.create(
            user=user, tenant=tenant, aggregate_type=aggregate_type, aggregate_id=aggregate_id,
            justification=justification, minutes=minutes,
        )
        record_access("BreakGlassRequested", user=user, request=request, target=_target(grant),
                      details={"justification": justification, "minutes": minutes}, break_glass=True)
        if not settings.AUDIT_BREAK_GLASS_APPROVAL:
            _activate(grant, decided_by=None, request=request)
    if grant.status == BreakGlassGrant.PENDING:
        notify_admins(f"Break-glass request #{grant.pk} awaits approval",
                      f"{user} asks for {minutes} minutes of emergency access to {_scope(grant)}.\n\n{justification}")
    return grant


def break_glass_decide(*, grant: BreakGlassGrant, approver, approve: bool, request=None) -> BreakGlassGrant:
    """A second person approves or rejects a pending request."""
    from .selectors import may_manage_access, subject_for

    if grant.status != BreakGlassGrant.PENDING:
        raise BreakGlassError(f"request #{grant.pk} is {grant.state}, not pending")
    if approver.pk == grant.user_id:
        raise BreakGlassError("a second person must decide: you cannot approve your own request")
    if not may_manage_access(approver, tenant=grant.tenant):
        raise BreakGlassError(f"you may not manage access to {grant.tenant!r}")
    if approve and not decide(
        subject_for(grant.user), "break_glass",
        {"tenant": grant.tenant, "aggregate_type": grant.aggregate_type or None,
         "aggregate_id": grant.aggregate_id or None},
        now=timezone.now(),
    ).allowed:
        raise BreakGlassError(f"{grant.user} is no longer allowed break-glass access to {grant.tenant!r}")
    with transaction.atomic():
        if approve:
            _activate(grant, decided_by=approver, request=request)
        else:
            grant.status, grant.decided_by = BreakGlassGrant.REJECTED, approver
            grant.save(update_fields=["status", "decided_by"])
            record_access("BreakGlassRejected", user=approver, request=request, target=_target(grant),
                          break_glass=True)
    return grant


def break_glass_revoke(*, grant: BreakGlassGrant, by, request=None) -> BreakGlassGrant:
    """End a grant early (its holder or an administrator)."""
    if grant.state not in (BreakGlassGrant.ACTIVE, BreakGlassGrant.PENDING):
        raise BreakGlassError(f"request #{grant.pk} is {grant.state}")
    grant.status = BreakGlassGrant.REVOKED
    grant.save(update_fields=["status"])
    record_access("BreakGlassRevoked", user=by, request=request, target=_target(grant), break_glass=True)
    return grant


def _activate(grant: BreakGlassGrant, *, decided_by, request) -> None:
    now = timezone.now()
    grant.status, grant.decided_by = BreakGlassGrant.ACTIVE, decided_by
    grant.starts_at, grant.expires_at = now, now + timedelta(minutes=grant.minutes)
    grant.save(update_fields=["status", "decided_by", "starts_at", "expires_at"])
    record_access(
        "BreakGlassActivated", user=grant.user, request=request, target=_target(grant),
        details={"justification": grant.justification, "expires_at": grant.expires_at.isoformat(),
                 "approved_by": decided_by.get_username() if decided_by else None},
        break_glass=True,
    )
    transaction.on_commit(lambda: notify_admins(
        f"Break-glass access #{grant.pk} activated by {grant.user}",
        f"{grant.user} has emergency access to {_scope(grant)} until {grant.expires_at:%Y-%m-%d %H:%M} UTC.\n\n"
        f"Justification: {grant.justification}",
    ))


def break_glass_policies(user, *, now) -> tuple[PolicySpec, ...]:
    """The temporary allow policies of the user's active grants."""
    grants = BreakGlassGrant.objects.filter(
        user=user, status=BreakGlassGrant.ACTIVE, starts_at__lte=now, expires_at__gt=now
    )
    policies = []
    for grant in grants:
        conditions = [{"attr": "tenant", "op": "eq", "value": grant.tenant}]
        if grant.aggregate_id:
            conditions += [
                {"attr": "aggregate_type", "op": "eq", "value": grant.aggregate_type},
                {"attr": "aggregate_id", "op": "eq", "value": grant.aggregate_id},
            ]
        policies.append(PolicySpec(
            effect="allow", actions=READ_ACTIONS, conditions=conditions,
            valid_from=grant.starts_at, valid_until=grant.expires_at,
            label=f"break-glass #{grant.pk}", break_glass=True,
        ))
    return tuple(policies)


def notify_admins(subject: str, body: str) -> None:
    """E-mail every active superuser that has an address (never fails the caller)."""
    recipients = list(
        get_user_model().objects.filter(is_superuser=True, is_active=True).exclude(email="")
        .values_list("email", flat=True)
    )
    if recipients:
        send_mail(f"[compliance portal] {subject}", body, None, recipients, fail_silently=True)


def _scope(grant: BreakGlassGrant) -> str:
    return grant.tenant + (f" / {grant.aggregate_type} {grant.aggregate_id}" if grant.aggregate_id else "")
