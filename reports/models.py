"""Report jobs (one requested file each) and schedules that request them again and again."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class ReportJob(models.Model):
    """One report: requested, generated in the background, stored, downloaded, expired.

    The id is a random UUID and every read checks ``requested_by``: someone
    else's id answers 404.
    """

    QUEUED, RUNNING, DONE, FAILED, EXPIRED = "queued", "running", "done", "failed", "expired"
    STATUSES = [(s, s) for s in (QUEUED, RUNNING, DONE, FAILED, EXPIRED)]

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="report_jobs")
    type = models.CharField(max_length=40)
    format = models.CharField(max_length=10)
    params = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=STATUSES, default=QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)  # percent, when the total is known
    rows = models.BigIntegerField(default=0)
    size = models.BigIntegerField(default=0)
    file_name = models.CharField(max_length=300, blank=True)
    error = models.TextField(blank=True)
    scope = models.TextField(blank=True)  # what the requester could see, as the report states it
    schedule = models.ForeignKey("ReportSchedule", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="jobs")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["requested_by", "-created_at"], name="report_job_owner"),
                   models.Index(fields=["status", "created_at"], name="report_job_queue")]

    def __str__(self):
        return f"{self.type} ({self.format}) for {self.requested_by} — {self.status}"


class ReportSchedule(models.Model):
    """A report requested on a calendar for its owner, under the owner's access at each run."""

    DAILY, WEEKLY, MONTHLY = "daily", "weekly", "monthly"
    EVERY = [(DAILY, "daily"), (WEEKLY, "weekly"), (MONTHLY, "monthly")]

    name = models.CharField(max_length=100)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="report_schedules",
                              help_text="Receives the report (by e-mail notice) and defines what it may contain.")
    type = models.CharField(max_length=40)
    format = models.CharField(max_length=10)
    params = models.JSONField(default=dict, blank=True,
                              help_text='Parameters of the report type, e.g. {"tenant": "acme-bank"}. '
                                        '"from"/"to" are filled with the period just ended when left out.')
    every = models.CharField(max_length=10, choices=EVERY, default=MONTHLY)
    next_run_at = models.DateTimeField(default=timezone.now)
    last_run_at = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        indexes = [models.Index(fields=["active", "next_run_at"], name="report_schedule_due")]

    def __str__(self):
        return f"{self.name} ({self.every} {self.type} for {self.owner})"
