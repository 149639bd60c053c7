"""The reports API: request a report, watch it, download it (one endpoint per operation)."""

from typing import Any, Literal

from django.core.exceptions import PermissionDenied
from django.urls import reverse
from ninja import Router, Schema
from pydantic import Field

from audit_events.api import ErrorOut, json_response
from portal.access.auth import PERSON_AUTH

from .downloads import download_problem, download_response
from .formats import FORMATS
from .models import ReportJob
from .selectors import report_of, reports_of
from .services import ParamsError, report_request
from .types import REPORT_TYPES

router = Router(tags=["reports"])


class ReportIn(Schema):
    type: str = Field(description="One of: " + ", ".join(REPORT_TYPES))
    format: str = Field(description="One of: " + ", ".join(FORMATS))
    params: dict[str, Any] = Field(default_factory=dict, description="The type's parameters.")


class ReportOut(Schema):
    id: str
    type: str
    format: str
    params: dict
    status: Literal["queued", "running", "done", "failed", "expired"]
    progress: int
    rows: int
    size: int
    error: str
    created_at: str
    finished_at: str | None
    expires_at: str | None
    download_url: str | None


def report_body(job: ReportJob) -> dict:
    return {
        "id": str(job.pk), "type": job.type, "format": job.format, "params": job.params, "status": job.status,
        "progress": job.progress, "rows": job.rows, "size": job.size, "error": job.error,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "expires_at": job.expires_at.isoformat() if job.expires_at else None,
        "download_url": reverse("api-v1:download_report", args=[job.pk]) if job.status == ReportJob.DONE else None,
    }


@router.post("/reports", auth=PERSON_AUTH, response={202: ReportOut, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut},
             summary="Request a report (generated in the background)")
def request_report(request, body: ReportIn):
    try:
        job = report_request(requested_by=request.auth, type=body.type, format=body.format, params=body.params,
                             request=request)
    except ParamsError as exc:
        return json_response({"detail": "invalid report request", "errors": exc.errors}, 400)
    except PermissionDenied as exc:
        return json_response({"detail": str(exc)}, 403)
    return json_response(report_body(job), 202)


@router.get("/reports", auth=PERSON_AUTH, response={200: list[ReportOut], 401: ErrorOut},
            summary="Your reports, newest first")
def list_reports(request):
    return json_response([report_body(job) for job in reports_of(request.auth)])


@router.get("/reports/{report_id}", auth=PERSON_AUTH, response={200: ReportOut, 401: ErrorOut, 404: ErrorOut},
            summary="One of your reports: status, progress, rows, size and download URL")
def read_report(request, report_id: str):
    job = report_of(request.auth, report_id)
    if job is None:
        return json_response({"detail": "report not found"}, 404)
    return json_response(report_body(job))


@router.get("/reports/{report_id}/download", auth=PERSON_AUTH,
            response={200: None, 302: None, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut,
                      410: ErrorOut},
            summary="Download a finished report (or be redirected to a 5-minute link)")
def download_report(request, report_id: str):
    job = report_of(request.auth, report_id)
    if job is None:
        return json_response({"detail": "report not found"}, 404)
    problem = download_problem(job)
    if problem:
        return json_response({"detail": problem[1]}, problem[0])
    return download_response(request, job, user=request.auth)
