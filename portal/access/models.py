"""Roles, their policies, and the attributes of each user (the subject)."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from pydantic import ValidationError as SpecError

from audit_events.models import BearerSecret
from audit_events.schemas import validation_messages

from .policy import CLASSIFICATIONS, PolicySpec

__all__ = ["Policy", "Role", "SubjectAttributes", "UserToken"]


class Role(models.Model):
    """A named set of policies, given to users by admins."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="access_roles", blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Policy(models.Model):
    """One allow or deny rule of a role (validated as a ``PolicySpec``)."""

    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="policies")
    effect = models.CharField(max_length=5, choices=[("allow", "allow"), ("deny", "deny")])
    actions = models.JSONField(help_text='e.g. ["search", "view_event"] or ["*"]')
    conditions = models.JSONField(
        default=list, blank=True,
        help_text='e.g. [{"attr": "tenant", "op": "in", "value": "subject.tenants"}]',
    )
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name_plural = "policies"
        ordering = ["role__name", "pk"]

    def __str__(self):
        return f"{self.role}: {self.effect} {', '.join(self.actions or [])}"

    def spec(self) -> PolicySpec:
        """The policy as the engine reads it (raises pydantic's error if invalid)."""
        return PolicySpec(
            effect=self.effect,
            actions=self.actions,
            conditions=self.conditions or [],
            valid_from=self.valid_from,
            valid_until=self.valid_until,
            label=f"{self.role.name}#{self.pk}" + (f" {self.description}" if self.description else ""),
        )

    def clean(self):
        try:
            PolicySpec(
                effect=self.effect, actions=self.actions, conditions=self.conditions or [],
                valid_from=self.valid_from, valid_until=self.valid_until,
            )
        except SpecError as exc:
            raise ValidationError("; ".join(validation_messages(exc, "policy"))) from None


class SubjectAttributes(models.Model):
    """What a user is, for policies: tenants, clearance, departments, PII entitlement."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_attributes")
    tenants = models.JSONField(default=list, blank=True)
    clearance = models.CharField(
        max_length=16, choices=[(c, c) for c in CLASSIFICATIONS], default="public"
    )
    departments = models.JSONField(default=list, blank=True)
    pii = models.BooleanField("personal data access", default=False)
    extra = models.JSONField(default=dict, blank=True, help_text="Free-form attributes, e.g. {\"region\": \"eu\"}")

    class Meta:
        verbose_name = "subject attributes"
        verbose_name_plural = "subject attributes"

    def __str__(self):
        return f"attributes of {self.user}"

    def clean(self):
        for name in ("tenants", "departments"):
            value = getattr(self, name)
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValidationError({name: "must be a list of strings"})
        if not isinstance(self.extra, dict):
            raise ValidationError({"extra": "must be a JSON object"})


class UserToken(BearerSecret):
    """A personal API token: reads with its user's own access, nothing more."""

    PREFIX = "ut"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. 'reporting script'.")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.user}: {self.name}"


class BreakGlassGrant(models.Model):
    """Emergency access to one tenant (or one aggregate) for a bounded time.

    Granted only where a policy allows ``break_glass`` for the target; with
    ``AUDIT_BREAK_GLASS_APPROVAL`` on, a second person must approve it first.
    It lapses by itself at ``expires_at``.
    """

    PENDING, ACTIVE, REJECTED, REVOKED = "pending", "active", "rejected", "revoked"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="break_glass_grants")
    tenant = models.CharField(max_length=64)
    aggregate_type = models.CharField(max_length=64, blank=True)
    aggregate_id = models.CharField(max_length=200, blank=True)
    justification = models.TextField()
    minutes = models.PositiveIntegerField()
    status = models.CharField(
        max_length=10,
        choices=[(s, s) for s in (PENDING, ACTIVE, REJECTED, REVOKED)],
        default=PENDING,
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    starts_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-requested_at"]
        indexes = [models.Index(fields=["user", "status", "expires_at"], name="access_bg_active")]

    def __str__(self):
        scope = self.tenant + (f"/{self.aggregate_type}/{self.aggregate_id}" if self.aggregate_id else "")
        return f"break-glass #{self.pk} {self.user} → {scope} ({self.state})"

    @property
    def state(self) -> str:
        from django.utils import timezone

        if self.status == self.ACTIVE and self.expires_at and self.expires_at <= timezone.now():
            return "expired"
        return self.status


class RecordAccess(models.Model):
    """One access-audit event about one record: "who viewed this record", by exact key.

    Derived from the ``_portal`` tenant by ``AccessLogProjection``; dropped and
    rebuilt with the other projections.
    """

    position = models.BigIntegerField(unique=True)  # the access-audit event's place in the log
    event_id = models.CharField(max_length=36)
    tenant = models.CharField(max_length=64)
    aggregate_type = models.CharField(max_length=64)
    aggregate_id = models.CharField(max_length=200)
    kind = models.CharField(max_length=100)  # the access-audit event type (TimelineViewed…)
    actor_id = models.CharField(max_length=200)
    recorded_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["tenant", "aggregate_type", "aggregate_id", "-position"],
                                name="access_record_key")]

    def __str__(self):
        return f"{self.actor_id} {self.kind} {self.tenant}/{self.aggregate_type}/{self.aggregate_id}"
