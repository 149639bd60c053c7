"""Admin for roles, policies, people's attributes and tokens, and the policy simulator.

Every change made here is also an ``AccessChanged`` event in the access audit:
the admin's own log (``LogEntry``) lives in a mutable table, the audit does not.
"""

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html

from audit_events.admin import AggregateStateAdmin, PublisherKeyAdmin, ServiceCreatesAdmin, StoredEventAdmin
from audit_events.models import AggregateState, PublisherKey, StoredEvent
from audit_events.selectors import aggregate_classification
from audit_events.store import StoredEvent as PortStoredEvent
from audit_events.store import get_event_store

from .audit import record_access
from .breakglass import BreakGlassError, break_glass_decide, break_glass_request, break_glass_revoke
from .engine import decide, event_attributes, q_filter
from .readers import UserReader
from .models import BreakGlassGrant, Policy, Role, SubjectAttributes, UserToken
from .policy import ACTIONS
from .selectors import may_manage_access, subject_for


class AuditedAdminMixin:
    """Mirror the admin's change log into the access audit."""

    def _audit(self, request, obj, action, message=""):
        record_access(
            "AccessChanged",
            user=request.user,
            request=request,
            target={"model": obj._meta.label, "object": str(obj), "pk": str(obj.pk)},
            details={"action": action, "change": _message_text(message)},
        )

    def log_addition(self, request, obj, message):
        self._audit(request, obj, "added", message)
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        self._audit(request, obj, "changed", message)
        return super().log_change(request, obj, message)

    def log_deletions(self, request, queryset):
        for obj in queryset:
            self._audit(request, obj, "deleted")
        return super().log_deletions(request, queryset)


def _message_text(message) -> str:
    if isinstance(message, list):
        return json.dumps(message)
    return str(message or "")


class PolicyInline(admin.StackedInline):
    model = Policy
    extra = 0
    fields = ["effect", "actions", "conditions", "valid_from", "valid_until", "description"]


class ManageAccessGate:
    """Access administration needs ``manage_access`` on ``_portal`` as well as the
    Django permission: the model permission alone would let a clerk grant themselves anything."""

    def _gate(self, request) -> bool:
        return may_manage_access(request.user)

    def has_module_permission(self, request):
        return super().has_module_permission(request) and self._gate(request)

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) and self._gate(request)

    def has_add_permission(self, request, *args):
        return super().has_add_permission(request, *args) and self._gate(request)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._gate(request)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._gate(request)


@admin.register(Role)
class RoleAdmin(AuditedAdminMixin, ManageAccessGate, admin.ModelAdmin):
    list_display = ["name", "description", "member_count", "policy_count"]
    search_fields = ["name"]
    filter_horizontal = ["members"]
    inlines = [PolicyInline]

    @admin.display(description="members")
    def member_count(self, obj):
        return obj.members.count()

    @admin.display(description="policies")
    def policy_count(self, obj):
        return obj.policies.count()

    def get_urls(self):
        urls = [
            path("simulate/", self.admin_site.admin_view(self.simulator_view), name="access_role_simulate"),
        ]
        return urls + super().get_urls()

    def simulator_view(self, request):
        """Pick a user and an event (by id, or pasted): see the decision and why."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = SimulatorForm(request.POST or None, operator=request.user)
        results = None
        if request.method == "POST" and form.is_valid():
            user, attrs, actions = form.cleaned_data["user"], form.event_attrs, form.cleaned_data["actions"]
            subject = subject_for(user)
            now = timezone.now()
            results = [
                {"action": action, "decision": decide(subject, action, attrs, now=now)} for action in actions
            ]
            pii = decide(subject, "view_pii", attrs, now=now).allowed and subject.pii
            results.append({"action": "personal data shown", "decision": None, "pii": pii, "attribute": subject.pii})
            record_access(
                "PolicySimulated", user=request.user, request=request,
                target={"user": user.get_username(), **attrs}, details={"actions": actions},
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Policy simulator",
            "form": form,
            "results": results,
        }
        return TemplateResponse(request, "admin/access/role/simulate.html", context)


class SimulatorForm(forms.Form):
    user = forms.ModelChoiceField(queryset=get_user_model().objects.order_by("username"))
    event_id = forms.UUIDField(required=False, help_text="A stored event…")
    event_json = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 8, "cols": 80}),
        help_text="…or paste an event (its tenant, aggregate_type, aggregate_id, event_type, classification and actor are used).",
    )
    actions = forms.MultipleChoiceField(
        choices=[(a, a) for a in ACTIONS], initial=["view_event"], widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, operator, **kwargs):
        super().__init__(*args, **kwargs)
        self.operator = operator

    def clean(self):
        data = super().clean()
        event_id, text = data.get("event_id"), (data.get("event_json") or "").strip()
        if bool(event_id) == bool(text):
            raise forms.ValidationError("Give either an event id or a pasted event, not both.")
        if event_id:
            stored = get_event_store().get(str(event_id))
            # An id the operator may not view reads like an unknown one: the
            # reasons would otherwise echo the event's attributes.
            if stored is None or not UserReader(self.operator).may_read("view_event", stored):
                raise forms.ValidationError({"event_id": "No stored event you may view has this id."})
            record = stored.record
        else:
            try:
                record = json.loads(text)
            except ValueError as exc:
                raise forms.ValidationError({"event_json": f"Not valid JSON: {exc}"})
            if not isinstance(record, dict):
                raise forms.ValidationError({"event_json": "Paste a JSON object."})
        self.event_attrs = {k: v for k, v in event_attributes(record).items()}
        missing = [k for k, v in self.event_attrs.items() if not isinstance(v, str)]
        if missing:
            raise forms.ValidationError({"event_json": f"The event lacks: {', '.join(missing)}."})
        return data


class SubjectAttributesInline(admin.StackedInline):
    model = SubjectAttributes
    can_delete = False
    fields = ["tenants", "clearance", "departments", "pii", "extra"]
    verbose_name_plural = "access attributes"


class RoleMembershipInline(admin.TabularInline):
    model = Role.members.through
    extra = 0
    verbose_name = "role"
    verbose_name_plural = "roles"


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class PortalUserAdmin(AuditedAdminMixin, ManageAccessGate, UserAdmin):
    inlines = [SubjectAttributesInline, RoleMembershipInline]
    list_display = ["username", "email", "is_staff", "is_active", "tenant_list", "clearance", "pii"]

    @admin.display(description="tenants")
    def tenant_list(self, obj):
        attributes = getattr(obj, "access_attributes", None)
        return ", ".join(attributes.tenants) if attributes else ""

    @admin.display(description="clearance")
    def clearance(self, obj):
        attributes = getattr(obj, "access_attributes", None)
        return attributes.clearance if attributes else "public"

    @admin.display(description="personal data", boolean=True)
    def pii(self, obj):
        attributes = getattr(obj, "access_attributes", None)
        return bool(attributes and attributes.pii)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("access_attributes")

    def has_change_permission(self, request, obj=None):
        if obj is not None and not request.user.is_superuser:
            # Nobody raises their own access, and only superusers touch superusers.
            if obj.pk == request.user.pk or obj.is_superuser:
                return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and not request.user.is_superuser and (obj.pk == request.user.pk or obj.is_superuser):
            return False
        return super().has_delete_permission(request, obj)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += ["is_superuser", "user_permissions", "groups"]
        return fields


@admin.register(UserToken)
class UserTokenAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """People manage their own tokens; superusers see everyone's."""

    list_display = ["name", "user", "key_id", "created_at", "last_used_at", "revoked_at"]
    fields = ["name"]
    actions = ["revoke"]

    def get_queryset(self, request):
        tokens = super().get_queryset(request).select_related("user")
        return tokens if request.user.is_superuser else tokens.filter(user=request.user)

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request) and (obj is None or obj.user_id == request.user.pk or request.user.is_superuser)

    def has_add_permission(self, request):
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # revoke: the token's id stays meaningful in the audit

    def save_model(self, request, obj, form, change):
        obj.user = request.user
        obj._new_secret = obj.issue_secret()
        super().save_model(request, obj, form, change)

    def response_add(self, request, obj, post_url_continue=None):
        context = {**self.admin_site.each_context(request), "opts": self.opts, "token": obj,
                   "secret": obj._new_secret, "title": "Personal API token created"}
        response = TemplateResponse(request, "admin/access/usertoken/secret.html", context)
        add_never_cache_headers(response)
        return response

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        for token in queryset.filter(revoked_at__isnull=True):
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            self._audit(request, token, "revoked")
        self.message_user(request, "Revoked.", messages.SUCCESS)


# Publisher keys are access data too: audit their changes the same way.
admin.site.unregister(PublisherKey)


@admin.register(PublisherKey)
class AuditedPublisherKeyAdmin(AuditedAdminMixin, PublisherKeyAdmin):
    pass


class BreakGlassForm(forms.ModelForm):
    class Meta:
        model = BreakGlassGrant
        fields = ["tenant", "aggregate_type", "aggregate_id", "justification", "minutes"]
        help_texts = {
            "aggregate_type": "Optional: narrow the access to one aggregate.",
            "justification": "Why this emergency needs access now (kept in the access audit).",
            "minutes": "How long the access lasts; it ends by itself.",
        }


@admin.register(BreakGlassGrant)
class BreakGlassGrantAdmin(ServiceCreatesAdmin):
    """Request emergency access (for yourself); administrators approve, reject or revoke."""

    form = BreakGlassForm
    refused_title = "Break-glass refused"
    list_display = ["pk", "user", "tenant", "aggregate_id", "state", "requested_at", "expires_at", "decided_by"]
    list_filter = ["status", "tenant"]
    actions = ["approve", "reject", "revoke"]

    def get_queryset(self, request):
        grants = super().get_queryset(request).select_related("user", "decided_by")
        if request.user.is_superuser:
            return grants
        # One's own, and the pending requests of tenants one may decide for.
        decidable = [
            g.pk for g in grants.filter(status=BreakGlassGrant.PENDING).exclude(user=request.user)
            if may_manage_access(request.user, tenant=g.tenant)
        ]
        return grants.filter(Q(user=request.user) | Q(pk__in=decidable))

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_add_permission(self, request):
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_form(self, request, form, change):
        return form.save(commit=False)

    def save_model(self, request, obj, form, change):
        # The service decides, creates and audits; the form only collects.
        try:
            granted = break_glass_request(
                user=request.user, tenant=obj.tenant, aggregate_type=obj.aggregate_type,
                aggregate_id=obj.aggregate_id, justification=obj.justification, minutes=obj.minutes,
                request=request,
            )
        except BreakGlassError as exc:
            raise self.Refused(str(exc)) from None
        self.adopt(obj, granted)  # the service wrote BreakGlassRequested/Activated to the access audit

    def _decide(self, request, queryset, approve):
        for grant in queryset:
            try:
                break_glass_decide(grant=grant, approver=request.user, approve=approve, request=request)
            except BreakGlassError as exc:
                self.message_user(request, f"#{grant.pk}: {exc}", messages.ERROR)

    @admin.action(description="Approve selected requests")
    def approve(self, request, queryset):
        self._decide(request, queryset, True)

    @admin.action(description="Reject selected requests")
    def reject(self, request, queryset):
        self._decide(request, queryset, False)

    @admin.action(description="Revoke selected grants")
    def revoke(self, request, queryset):
        for grant in queryset:
            try:
                break_glass_revoke(grant=grant, by=request.user, request=request)
            except BreakGlassError as exc:
                self.message_user(request, f"#{grant.pk}: {exc}", messages.ERROR)


# The admin's event list and detail follow the same policies as the API:
# rows by the compiled filter, the record masked by the reader, reads audited.
admin.site.unregister(StoredEvent)


@admin.register(StoredEvent)
class PolicyStoredEventAdmin(StoredEventAdmin):
    fields = ["event_id", "tenant", "aggregate_type", "aggregate_id", "sequence", "event_type",
              "occurred_at", "recorded_at", "actor_id", "actor_type", "classification", "trace_id",
              "hash", "record_as_seen"]
    readonly_fields = fields

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def get_queryset(self, request):
        subject = subject_for(request.user)
        return super().get_queryset(request).filter(q_filter(subject, "view_event", now=timezone.now()))

    def get_object(self, request, object_id, from_field=None):
        row = super().get_object(request, object_id, from_field)  # None outside the policy: 404
        if row is not None:
            event = PortStoredEvent(row.position, row.tenant, row.aggregate_type, row.aggregate_id,
                                    row.sequence, row.record, row.hash)
            reader = UserReader(request.user, request, via="admin")
            reader.may_read("view_event", event)  # flags a read that only break-glass allows
            row.seen_json = json.dumps(json.loads(reader.render(event)), indent=2, ensure_ascii=False)
            reader.audit("EventViewed", target={"tenant": row.tenant, "aggregate_type": row.aggregate_type,
                                                "aggregate_id": row.aggregate_id, "sequence": row.sequence,
                                                "event_id": str(row.event_id),
                                                "classification": event.record["classification"]})
        return row

    @admin.display(description="record (as you may see it)")
    def record_as_seen(self, obj):
        return format_html("<pre>{}</pre>", getattr(obj, "seen_json", ""))

    def lookup_allowed(self, lookup, value, request=None):
        # Only the offered filters: a lookup on `record` (e.g. record__contains)
        # would be an oracle for masked personal data.
        return lookup.split("__")[0] in {"tenant", "classification", "actor_type", "aggregate_type"} and (
            lookup.count("__") <= 1
        )

    def changelist_view(self, request, extra_context=None):
        reader = UserReader(request.user, request, via="admin")
        record_access("SearchPerformed", user=request.user, request=request,
                      details={"query": request.GET.dict(), "via": "admin"},
                      pii=["/details/query"], break_glass=reader.holds_break_glass)
        return super().changelist_view(request, extra_context)


admin.site.unregister(AggregateState)


@admin.register(AggregateState)
class SuperuserAggregateStateAdmin(AggregateStateAdmin):
    """Latest states hold unmasked personal data: superusers only, until replay views exist."""

    def has_module_permission(self, request):
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser

    def changelist_view(self, request, extra_context=None):
        record_access("SearchPerformed", user=request.user, request=request, pii=["/details/query"],
                      details={"query": request.GET.dict(), "via": "admin", "model": "latest states"})
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        state = self.get_object(request, object_id)
        if state is not None:
            target = {"tenant": state.tenant, "aggregate_type": state.aggregate_type,
                      "aggregate_id": state.aggregate_id, "sequence": state.sequence}
            classification = aggregate_classification(state.tenant, state.aggregate_type, state.aggregate_id)
            record_access("StateViewed", user=request.user, request=request, details={"via": "admin"},
                          target=target | ({"classification": classification} if classification else {}))
        return super().change_view(request, object_id, form_url, extra_context)
