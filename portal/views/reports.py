"""The reports page: request a report, watch it being made, download it."""

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from reports.downloads import download_problem, download_response
from reports.formats import FORMATS
from reports.models import ReportJob
from reports.selectors import report_of, reports_of
from reports.services import ParamsError, may_export, report_request
from reports.types import REPORT_TYPES

from .common import page, utc_times

__all__ = ["report_download_view", "report_view", "reports_view"]

#: the form's parameter inputs: (name, label, help)
PARAMETERS = [
    ("tenant", "Tenant", ""),
    ("aggregate_type", "Aggregate type", "e.g. Account"),
    ("aggregate_id", "Aggregate id", "e.g. acc-000001"),
    ("actor_id", "Actor", "e.g. u-jsmith or user:auditor-bank"),
    ("reader", "Reader", "who viewed: e.g. user:auditor-bank"),
    ("q", "Words", "free text, as in search"),
    ("event_type", "Event type", ""),
    ("classification", "Classification", "public, internal, confidential or restricted"),
    ("from", "From", "inclusive; your time zone"),
    ("to", "Until", "exclusive; your time zone"),
]
SEARCH_PARAMETERS = {"tenant", "aggregate_type", "aggregate_id", "actor_id", "q", "event_type", "classification",
                     "from", "to"}


def _accepted(type_id: str) -> set[str]:
    if type_id == "search_export":
        return SEARCH_PARAMETERS
    fields = REPORT_TYPES[type_id].Params.model_fields
    return {("from" if name == "from_" else name) for name in fields}


def reports_view(request):
    errors, chosen = [], {"type": request.GET.get("type", "entity_history"), "format": request.GET.get("format", "csv")}
    values = {name: request.GET.get(name, "") for name, _, _ in PARAMETERS}
    if request.method == "POST":
        chosen = {"type": request.POST.get("type", ""), "format": request.POST.get("format", "")}
        values = {name: request.POST.get(name, "").strip() for name, _, _ in PARAMETERS}
        accepted = _accepted(chosen["type"]) if chosen["type"] in REPORT_TYPES else set()
        params = utc_times({k: v for k, v in values.items() if v and k in accepted})
        try:
            job = report_request(requested_by=request.user, type=chosen["type"], format=chosen["format"],
                                 params=params, request=request)
        except ParamsError as exc:
            errors = exc.errors
        except PermissionDenied as exc:
            errors = [{"field": "type", "message": str(exc)}]
        else:
            return HttpResponseRedirect(reverse("admin:audit_report", args=[job.pk]))
    field_errors = {e["field"].removeprefix("params."): e["message"] for e in errors}
    context = {
        "jobs": reports_of(request.user, limit=50),
        "types": [{"id": k, "label": t.label, "accepts": " ".join(sorted(_accepted(k)))}
                  for k, t in REPORT_TYPES.items()],
        "formats": list(FORMATS),
        "chosen": chosen,
        "parameters": [{"name": n, "label": l, "help": h, "value": values.get(n, ""), "error": field_errors.get(n)}
                       for n, l, h in PARAMETERS],
        "errors": errors,
        "may_export": may_export(request.user),
    }
    return page(request, "admin/portal/reports.html", title="Reports", crumbs=[("Reports", None)], **context)


def report_view(request, report_id):
    job = report_of(request.user, report_id)
    if job is None:
        raise Http404("No report of yours has this id.")
    context = {"job": job, "working": job.status in (ReportJob.QUEUED, ReportJob.RUNNING),
               "type_label": REPORT_TYPES[job.type].label if job.type in REPORT_TYPES else job.type}
    return page(request, "admin/portal/report.html", title=f"{context['type_label']} ({job.format})",
                crumbs=[("Reports", reverse("admin:audit_reports")), (str(job.pk)[:8], None)], **context)


def report_download_view(request, report_id):
    job = report_of(request.user, report_id)
    if job is None:
        raise Http404("No report of yours has this id.")
    problem = download_problem(job)
    if problem:
        return HttpResponse(problem[1], status=problem[0], content_type="text/plain; charset=utf-8")
    return download_response(request, job, user=request.user)
