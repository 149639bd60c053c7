"""Reads of report jobs: a person's own, never anyone else's."""

import uuid

from .models import ReportJob

__all__ = ["report_of", "reports_of"]


def reports_of(user, *, limit: int = 100):
    return ReportJob.objects.filter(requested_by=user).order_by("-created_at")[:limit]


def report_of(user, report_id) -> ReportJob | None:
    """The person's job with this id, or ``None`` (someone else's reads like no such job)."""
    try:
        key = uuid.UUID(str(report_id))
    except ValueError:
        return None
    return ReportJob.objects.filter(pk=key, requested_by=user).first()
