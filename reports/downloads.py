"""Serving a finished report: a presigned URL (S3) or the file itself, always audited."""

from django.http import FileResponse, HttpResponseRedirect
from django.utils import timezone

from portal.access.audit import record_access

from .formats import writer_for
from .models import ReportJob
from .services import may_export, report_target, reports_storage

__all__ = ["download_response", "download_problem"]


def download_problem(job: ReportJob) -> tuple[int, str] | None:
    """Why the job cannot be downloaded now, as (status, message); ``None`` if it can."""
    if job.status == ReportJob.EXPIRED or (job.expires_at and job.expires_at <= timezone.now()):
        return 410, "the report has expired and its file was deleted; request it again"
    if job.status == ReportJob.FAILED:
        return 409, f"the report failed: {job.error}"
    if job.status != ReportJob.DONE:
        return 409, f"the report is {job.status}; try again when it is done"
    if not may_export(job.requested_by):
        return 403, "your access no longer includes exporting reports (export_report)"
    return None


def download_response(request, job: ReportJob, *, user):
    """The file (or a redirect to a 5-minute presigned URL); the download is audited first."""
    writer = writer_for(job.format)
    filename = f"{job.type}-{job.created_at:%Y%m%d-%H%M%S}.{writer.extension}"
    record_access("ReportDownloaded", user=user, request=request, target=report_target(job),
                  details={"type": job.type, "format": job.format, "rows": job.rows})
    storage = reports_storage()
    if getattr(storage, "querystring_auth", False):  # S3: never proxy the bytes through Lambda
        return HttpResponseRedirect(storage.url(job.file_name, parameters={
            "ResponseContentDisposition": f'attachment; filename="{filename}"'}))
    response = FileResponse(storage.open(job.file_name, "rb"), as_attachment=True, filename=filename,
                            content_type=writer.content_type)
    response["Cache-Control"] = "private, no-store"
    return response
