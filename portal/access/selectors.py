"""Reads of access data: the subject a user is."""

import logging

from django.utils import timezone
from pydantic import ValidationError

from .breakglass import break_glass_policies
from .models import Policy, SubjectAttributes
from .policy import PolicySpec, Subject

log = logging.getLogger(__name__)

__all__ = ["may_erase", "may_manage_access", "subject_for"]


def subject_for(user) -> Subject:
    """The ``Subject`` for a Django user: attributes and role policies (none if anonymous)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return Subject(username="")
    attributes = SubjectAttributes.objects.filter(user=user).first()
    policies = tuple(
        _spec_or_deny_all(policy)
        for policy in Policy.objects.filter(role__members=user).select_related("role").order_by("pk")
    ) + break_glass_policies(user, now=timezone.now())
    if attributes is None:
        return Subject(username=user.get_username(), policies=policies)
    return Subject(
        username=user.get_username(),
        tenants=tuple(attributes.tenants),
        clearance=attributes.clearance,
        departments=tuple(attributes.departments),
        pii=attributes.pii,
        extra=dict(attributes.extra),
        policies=policies,
    )


def _spec_or_deny_all(policy: Policy) -> PolicySpec:
    # A stored policy that no longer validates (edited outside the admin) must
    # not widen access by being skipped: it denies everything until fixed.
    try:
        return policy.spec()
    except ValidationError as exc:
        log.error("policy %s of role %s is invalid and denies everything: %s", policy.pk, policy.role, exc)
        return PolicySpec(
            effect="deny", actions=["*"], label=f"{policy.role.name}#{policy.pk} (invalid: denies all)"
        )


def may_manage_access(user, *, tenant: str = "_portal") -> bool:
    """Whether ``user`` administers access: for ``_portal`` (roles and people) or a tenant.

    Superusers always may; anyone else needs a policy allowing ``manage_access``
    on that tenant (``_portal`` meaning the portal's own roles and people).
    """
    return _may_on_tenant(user, "manage_access", tenant)


def may_erase(user, *, tenant: str) -> bool:
    """Whether ``user``'s policies let them ask for, or approve, erasing a data subject of
    ``tenant`` (superusers always; the Django permissions and the four-eyes rule come on top)."""
    return _may_on_tenant(user, "erase_subject", tenant)


def _may_on_tenant(user, action: str, tenant: str) -> bool:
    """An administrative action, judged on the tenant alone: superusers always may."""
    from .engine import decide

    if user is None or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return decide(subject_for(user), action, {"tenant": tenant}, now=timezone.now()).allowed
