"""Admin for publisher keys, projections, alert rules, legal holds and erasure requests, and a
read-only view of stored events."""

import logging

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils import timezone
from django.utils.cache import add_never_cache_headers

from .models import (
    AggregateState, AlertRule, ErasureRequest, FailedProjection, LegalHold, ProjectionCheckpoint, PublisherKey,
    StoredEvent,
)
from .services import check_tenant_names

log = logging.getLogger(__name__)


class PublisherKeyForm(forms.ModelForm):
    tenants = forms.CharField(
        help_text="Tenants this key may write, separated by commas.",
        widget=forms.TextInput(attrs={"size": 60}),
    )

    class Meta:
        model = PublisherKey
        fields = ["name", "tenants", "revoked_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["tenants"] = ", ".join(self.instance.tenants)

    def clean_tenants(self):
        tenants = [t.strip() for t in self.cleaned_data["tenants"].split(",") if t.strip()]
        try:
            check_tenant_names(tenants)
        except ValueError as exc:
            raise forms.ValidationError(str(exc))
        return list(dict.fromkeys(tenants))


@admin.register(PublisherKey)
class PublisherKeyAdmin(admin.ModelAdmin):
    form = PublisherKeyForm
    list_display = ["name", "key_id", "tenant_list", "created_at", "last_used_at", "revoked_at"]
    search_fields = ["name", "key_id"]
    readonly_fields = ["key_id", "created_at", "last_used_at"]
    actions = ["revoke"]

    @admin.display(description="tenants")
    def tenant_list(self, obj):
        return ", ".join(obj.tenants)

    def save_model(self, request, obj, form, change):
        if not change:
            obj._new_secret = obj.issue_secret()
        super().save_model(request, obj, form, change)

    def response_add(self, request, obj, post_url_continue=None):
        # The secret is shown on this one page, never in a message: messages
        # travel in a cookie or the session store.
        secret = getattr(obj, "_new_secret", None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "key": obj,
            "secret": secret,
            "title": "Publisher key created",
        }
        response = TemplateResponse(
            request, "admin/audit_events/publisherkey/secret.html", context
        )
        add_never_cache_headers(response)
        return response

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the key's name stays in the audit trail

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} key(s).")


class ServiceCreatesAdmin(admin.ModelAdmin):
    """An admin whose add form hands over to a service that creates and audits the object.
    The service may still refuse after the form passed (someone else acted meanwhile): it says
    why on the same page. The admin's own addition log is skipped: the service audited it."""

    refused_title = "Refused"

    class Refused(Exception):
        pass

    def adopt(self, obj, made) -> None:
        for field in made._meta.concrete_fields:  # the admin's messages describe obj
            setattr(obj, field.attname, getattr(made, field.attname))

    def add_view(self, request, form_url="", extra_context=None):
        try:
            return super().add_view(request, form_url, extra_context)
        except ServiceCreatesAdmin.Refused as refused:
            self.message_user(request, f"{self.refused_title}: {refused}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def log_addition(self, request, obj, message):
        pass


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(StoredEvent)
class StoredEventAdmin(ReadOnlyAdmin):
    list_display = ["recorded_at", "tenant", "aggregate_type", "aggregate_id", "sequence", "event_type", "actor_id", "classification"]
    list_filter = ["tenant", "classification", "actor_type", "aggregate_type"]
    search_fields = ["=event_id", "=aggregate_id", "=actor_id", "event_type"]
    ordering = ["-position"]
    show_full_result_count = False


@admin.register(AggregateState)
class AggregateStateAdmin(ReadOnlyAdmin):
    list_display = ["tenant", "aggregate_type", "aggregate_id", "sequence", "last_occurred_at"]
    list_filter = ["tenant", "aggregate_type"]
    search_fields = ["=aggregate_id"]


@admin.register(ProjectionCheckpoint)
class ProjectionCheckpointAdmin(ReadOnlyAdmin):
    list_display = ["name", "position", "updated_at"]


class OpenFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", "open"), ("resolved", "resolved")]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


@admin.register(FailedProjection)
class FailedProjectionAdmin(ReadOnlyAdmin):
    """Events a projection could not apply, and those held behind them; retried from here."""

    list_display = ["position", "projection", "tenant", "aggregate_type", "aggregate_id", "sequence", "attempts",
                    "short_error", "last_failed_at", "resolved_at"]
    list_filter = [OpenFilter, "projection", "tenant"]
    search_fields = ["=event_id", "=aggregate_id"]
    ordering = ["position"]
    actions = ["retry"]

    @admin.display(description="error")
    def short_error(self, row):
        return row.error if len(row.error) <= 120 else row.error[:119] + "…"

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in FailedProjection._meta.fields]

    @admin.action(description="Retry the selected failures (and what waits behind them)", permissions=["change"])
    def retry(self, request, queryset):
        from .projections import configured_projections
        from .projector import retry_failed

        chosen = {name for name in queryset.values_list("projection", flat=True)}
        projections = [p for p in configured_projections() if p.name in chosen]
        resolved = retry_failed(projections=projections, positions=list(queryset.values_list("position", flat=True)))
        still = FailedProjection.objects.filter(pk__in=queryset.values("pk"), resolved_at__isnull=True).count()
        self.message_user(request, f"{sum(resolved.values())} applied; {still} of the selected still fail.")

    def has_change_permission(self, request, obj=None):  # the action needs it; the form stays read-only
        return request.user.has_perm("audit_events.change_failedprojection")


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    """Rules are typed: a spec that does not validate is refused, naming the field and the problem."""

    list_display = ["name", "kind", "tenant_or_all", "severity", "enabled", "builtin", "updated_at"]
    list_filter = ["enabled", "severity", "builtin"]
    search_fields = ["name", "description"]
    readonly_fields = ["builtin", "created_at", "updated_at"]

    @admin.display(description="kind")
    def kind(self, rule):
        return (rule.spec or {}).get("kind", "?")

    @admin.display(description="tenant")
    def tenant_or_all(self, rule):
        return rule.tenant or "every tenant"

    def has_delete_permission(self, request, obj=None):  # a shipped rule is disabled, not deleted
        return super().has_delete_permission(request, obj) and not (obj and obj.builtin)


class LegalHoldForm(forms.ModelForm):
    """Placing a hold is checked by the service's own rules, each problem on its field."""

    class Meta:
        model = LegalHold
        fields = ["tenant", "scope", "target", "reason", "owner"]

    def clean(self):
        from .privacy.holds import LegalHoldError, check_hold

        data = super().clean()
        try:
            check_hold(tenant=data.get("tenant", ""), scope=data.get("scope", ""),
                       target=(data.get("target") or "").strip(), reason=(data.get("reason") or "").strip())
        except LegalHoldError as error:
            self.add_error(error.field, str(error).partition(": ")[2])
        return data


class ReleaseForm(forms.ModelForm):
    class Meta:
        model = LegalHold
        fields = ["release_reason"]

    def clean_release_reason(self):
        reason = self.cleaned_data["release_reason"].strip()
        if not reason:
            raise forms.ValidationError("Say why the hold ends (e.g. the matter closed).")
        return reason


@admin.register(LegalHold)
class LegalHoldAdmin(admin.ModelAdmin):
    """Holds are placed and released here, never edited or deleted: both are audit events."""

    list_display = ["__str__", "tenant", "scope", "target", "owner", "placed_by", "placed_at", "status"]
    list_filter = ["tenant", "scope", ("released_at", admin.EmptyFieldListFilter)]
    search_fields = ["=tenant", "target", "reason"]

    @admin.display(description="status")
    def status(self, hold):
        return "active" if hold.active else f"released {hold.released_at:%Y-%m-%d}"

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = ReleaseForm if obj is not None else LegalHoldForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["tenant", "scope", "target", "reason", "owner"]
        return ["tenant", "scope", "target", "reason", "owner", "placed_by", "placed_at", "released_by",
                "released_at", "release_reason"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        fixed = ["tenant", "scope", "target", "reason", "owner", "placed_by", "placed_at", "released_by", "released_at"]
        return fixed + (["release_reason"] if not obj.active else [])

    def save_model(self, request, obj, form, change):
        from .privacy.holds import place_hold, release_hold

        if not change:
            placed = place_hold(tenant=obj.tenant, scope=obj.scope, target=obj.target, reason=obj.reason,
                                owner=obj.owner, placed_by=request.user, request=request)
            obj.pk = placed.pk
        elif obj.released_at is None and obj.release_reason:
            release_hold(hold_id=obj.pk, released_by=request.user, reason=obj.release_reason, request=request)

    def has_delete_permission(self, request, obj=None):
        return False



class ErasureRequestForm(forms.ModelForm):
    """Asking is checked by the service (the key, holds, a request already waiting, the
    asker's own rights), each problem on its field, before anyone is asked to approve."""

    user = None  # set per request by ErasureRequestAdmin.get_form

    class Meta:
        model = ErasureRequest
        fields = ["tenant", "subject", "reason"]

    def clean(self):
        from .privacy.erasure import ErasureError, check_erasure_request

        data = super().clean()
        if self.errors:
            return data
        try:
            check_erasure_request(tenant=data["tenant"].strip(), subject=data["subject"].strip(),
                                  reason=data["reason"].strip(), user=self.user)
        except ErasureError as error:
            self.add_error(error.field, str(error).partition(": ")[2])
        return data


class ErasureDecisionForm(forms.Form):
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
                           label="Why the request is turned down")

    def __init__(self, *args, approve: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.approve = approve
        if approve:
            del self.fields["note"]
        else:
            self.fields["note"].required = True


@admin.register(ErasureRequest)
class ErasureRequestAdmin(ServiceCreatesAdmin):
    """One admin asks to erase a data subject; a second one approves (the key is destroyed,
    the signed receipt kept here) or rejects. Requests are never edited or deleted."""

    form = ErasureRequestForm
    refused_title = "Not asked"
    list_display = ["__str__", "tenant", "subject", "requested_by", "requested_at", "status", "decided_by",
                    "decided_at"]
    list_filter = ["status", "tenant"]
    search_fields = ["=tenant", "=subject"]
    actions = ["approve", "reject"]
    fields = ["tenant", "subject", "reason", "requested_by", "requested_at", "status", "decided_by", "decided_at",
              "decision_note", "signed_receipt"]

    def get_queryset(self, request):
        """One's own requests, and those of the tenants one may erase in."""
        from django.db.models import Q

        from portal.access.selectors import may_erase

        requests = super().get_queryset(request).select_related("requested_by", "decided_by")
        if request.user.is_superuser:
            return requests
        tenants = [t for t in requests.values_list("tenant", flat=True).distinct()
                   if may_erase(request.user, tenant=t)]
        return requests.filter(Q(tenant__in=tenants) | Q(requested_by=request.user))

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.user = request.user  # a class made for this request
        return form

    def get_fields(self, request, obj=None):
        return ["tenant", "subject", "reason"] if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.fields

    @admin.display(description="signed receipt")
    def signed_receipt(self, erasure):
        import json

        if not erasure.receipt:
            return "—"
        return format_html("<pre>{}</pre>", json.dumps(erasure.receipt, indent=2, sort_keys=True))

    def save_model(self, request, obj, form, change):
        from .privacy.erasure import ErasureError, request_erasure

        try:
            asked = request_erasure(tenant=obj.tenant, subject=obj.subject, reason=obj.reason,
                                    requested_by=request.user, request=request)
        except ErasureError as refused:  # e.g. another admin asked since the form was checked
            raise self.Refused(str(refused)) from None
        self.adopt(obj, asked)  # the service wrote ErasureRequested to the access audit

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_approve_permission(self, request):
        return request.user.has_perm("audit_events.approve_erasurerequest")

    def has_decide_permission(self, request):  # rejecting; the person who asked may withdraw
        return self.has_approve_permission(request) or request.user.has_perm("audit_events.add_erasurerequest")

    @admin.action(description="Approve: erase the selected data subjects", permissions=["approve"])
    def approve(self, request, queryset):
        return self._decide(request, queryset, approve=True)

    @admin.action(description="Reject the selected requests", permissions=["decide"])
    def reject(self, request, queryset):
        return self._decide(request, queryset, approve=False)

    def _decide(self, request, queryset, *, approve: bool):
        """A confirmation page first (destroying a key cannot be undone), then the service
        decides each request; a refusal is reported and leaves that request waiting."""
        from .privacy.erasure import ErasureError, approve_erasure, reject_erasure
        from .privacy.holds import LegalHoldError

        waiting = list(queryset.filter(status=ErasureRequest.PENDING))
        if not waiting:
            self.message_user(request, "None of the selected requests is waiting for approval.", messages.WARNING)
            return None
        confirmed = request.POST.get("confirm") == "yes"
        form = ErasureDecisionForm(request.POST if confirmed else None, approve=approve)
        if confirmed and form.is_valid():
            for erasure in waiting:
                try:
                    if approve:
                        done = approve_erasure(erasure=erasure, approver=request.user, request=request)
                        self.message_user(request, f"Erased request #{done.pk}: {done.receipt['events']} event(s) "
                                                   f"now read as erased; key {done.receipt['key_id']} destroyed.")
                    else:
                        reject_erasure(erasure=erasure, by=request.user, note=form.cleaned_data["note"],
                                       request=request)
                        self.message_user(request, f"Rejected request #{erasure.pk}.")
                except (ErasureError, LegalHoldError) as refused:
                    self.message_user(request, f"Request #{erasure.pk}: {refused}", messages.ERROR)
                except Exception:  # e.g. KMS or the archive unreachable: nothing of it was kept
                    log.exception("erasure request #%s could not be decided", erasure.pk)
                    self.message_user(request, f"Request #{erasure.pk}: could not be carried out (the error is "
                                               "logged); it is still waiting.", messages.ERROR)
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Approve erasure" if approve else "Reject erasure requests",
            "approve": approve,
            "requests": waiting,
            "form": form,
            "action": request.POST.get("action"),
            "selected": [e.pk for e in waiting],
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/audit_events/erasurerequest/decide.html", context)
