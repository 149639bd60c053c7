"""The portal is the Django admin: one site for everyone, with the audit views added.

The audit views (search, event, timeline, actor activity, trace, reports,
alerts) come in through ``get_urls()`` wrapped in ``admin_view()``, so they get
the admin's sign-in, ``never_cache`` and CSRF handling; what each person sees inside them
follows their access policies (``portal.access``). The sidebar and the index
list them as an "Audit trail" section beside the registered models.
"""

from django.contrib import admin
from django.urls import path, reverse

from portal.access.signin import TOTPAdminSiteMixin

__all__ = ["PortalAdminSite"]


class PortalAdminSite(TOTPAdminSiteMixin, admin.AdminSite):
    site_header = "Compliance portal"
    site_title = "Compliance portal"
    index_title = "Dashboard"
    index_template = "admin/portal/dashboard.html"

    def get_urls(self):
        from .views import activity, alerts, events, reports, search, tenancy, timeline

        audit = [
            path("audit/search/", self.admin_view(search.search_view), name="audit_search"),
            path("audit/events/<str:event_id>/", self.admin_view(events.event_view), name="audit_event"),
            path(
                "audit/timeline/<str:tenant>/<str:aggregate_type>/<str:aggregate_id>/",
                self.admin_view(timeline.timeline_view),
                name="audit_timeline",
            ),
            # Actor ids may hold "/" (service paths): the rest of the path is the id.
            path("audit/actors/<path:actor_id>/", self.admin_view(activity.actor_view), name="audit_actor"),
            path("audit/traces/<str:trace_id>/", self.admin_view(activity.trace_view), name="audit_trace"),
            path("audit/tenant/", self.admin_view(tenancy.switch_tenant_view), name="audit_switch_tenant"),
            path("audit/reports/", self.admin_view(reports.reports_view), name="audit_reports"),
            path("audit/reports/<str:report_id>/", self.admin_view(reports.report_view), name="audit_report"),
            path("audit/reports/<str:report_id>/download/", self.admin_view(reports.report_download_view),
                 name="audit_report_download"),
            path("audit/alerts/", self.admin_view(alerts.alerts_view), name="audit_alerts"),
            path("audit/alerts/<int:alert_id>/", self.admin_view(alerts.alert_view), name="audit_alert"),
        ]
        return audit + super().get_urls()

    def index(self, request, extra_context=None):
        from .views.dashboard import dashboard_context

        return super().index(request, {**dashboard_context(request), **(extra_context or {})})

    def each_context(self, request):
        from .views.tenancy import tenant_switcher_context

        context = super().each_context(request)
        if getattr(request, "user", None) is not None and request.user.is_authenticated:
            context.update(tenant_switcher_context(request))
        return context

    def get_app_list(self, request, app_label=None):
        apps = super().get_app_list(request, app_label)
        if app_label is None and self.has_permission(request):
            apps.insert(0, _audit_section(request))
        return apps


def _audit_section(request) -> dict:
    """The audit views as an app in the admin's app list (sidebar and index)."""
    from .views.alerts import open_alerts

    def entry(name, url_name):
        url = reverse(f"admin:{url_name}")
        return {"name": name, "object_name": url_name, "admin_url": url, "add_url": None,
                "view_only": True, "perms": {"view": True}}

    return {
        "name": "Audit trail",
        "app_label": "audit",
        "app_url": reverse("admin:audit_search"),
        "has_module_perms": True,
        "models": [entry("Search events", "audit_search"), entry("Reports", "audit_reports"),
                   entry(_alerts_label(open_alerts(request)["total"]), "audit_alerts")],
    }


def _alerts_label(open_count: int) -> str:
    return f"Alerts ({open_count} open)" if open_count else "Alerts"
