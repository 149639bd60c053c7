"""Admin for report schedules (access administrators) and the job list (superusers)."""

import json

from django import forms
from django.contrib import admin

from audit_events.admin import ReadOnlyAdmin
from portal.access.admin import AuditedAdminMixin, ManageAccessGate

from .formats import FORMATS
from .models import ReportJob, ReportSchedule
from .types import REPORT_TYPES, ParamsError, report_type


class ReportScheduleForm(forms.ModelForm):
    type = forms.ChoiceField(choices=[(k, t.label) for k, t in REPORT_TYPES.items()])
    format = forms.ChoiceField(choices=[(k, k) for k in FORMATS])

    class Meta:
        model = ReportSchedule
        fields = ["name", "owner", "type", "format", "params", "every", "next_run_at", "active"]

    def clean(self):
        data = super().clean()
        if "params" in data and not isinstance(data["params"], dict):
            self.add_error("params", 'Give an object, e.g. {"tenant": "acme-bank"}.')
        elif data.get("type"):
            try:
                report_type(data["type"]).validate(data["params"])
            except ParamsError as exc:
                self.add_error("params", "; ".join(f"{e['field']}: {e['message']}" for e in exc.errors))
        return data


@admin.register(ReportSchedule)
class ReportScheduleAdmin(AuditedAdminMixin, ManageAccessGate, admin.ModelAdmin):
    """Recurring reports run as their owner: only access administrators set them up
    (the access admin's gate), and every change is in the access audit (``AccessChanged``)."""

    form = ReportScheduleForm
    list_display = ["name", "owner", "type", "format", "every", "next_run_at", "last_run_at", "active"]
    list_filter = ["type", "every", "active"]


@admin.register(ReportJob)
class ReportJobAdmin(ReadOnlyAdmin):
    """Every job, for operators: status and errors, never the files (those are their requesters')."""

    list_display = ["created_at", "requested_by", "type", "format", "status", "rows", "size", "expires_at"]
    list_filter = ["status", "type", "format"]
    readonly_fields = ["id", "requested_by", "type", "format", "params_text", "status", "progress", "rows", "size",
                       "error", "scope", "schedule", "created_at", "started_at", "finished_at", "expires_at"]
    fields = readonly_fields

    @admin.display(description="params")
    def params_text(self, obj):
        return json.dumps(obj.params, indent=2, ensure_ascii=False)

    def has_module_permission(self, request):
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser
