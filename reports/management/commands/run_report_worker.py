"""Generate queued reports, run due schedules, expire old files; loop or once."""

import logging
import time

from django.core.management.base import BaseCommand

from reports.models import ReportJob
from reports.services import report_expire, report_generate, schedules_run_due

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run report jobs and schedules (REPORT_RUNNER=worker, or scheduled reports with any runner)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="one pass, then exit")
        parser.add_argument("--interval", type=float, default=2.0, help="seconds between passes")

    def handle(self, *args, once, interval, **options):
        while True:
            try:
                done = self.one_pass()
            except Exception:  # a pass that fails must not end the worker: log, wait, go on
                log.exception("report worker pass failed")
                done = 0
            if once:
                return
            if not done:
                time.sleep(interval)

    def one_pass(self) -> int:
        scheduled = schedules_run_due()
        expired = report_expire()
        generated = 0
        for job_id in ReportJob.objects.filter(status=ReportJob.QUEUED).order_by("created_at").values_list(
                "pk", flat=True)[:20]:
            job = report_generate(job_id=job_id)
            if job is not None:
                generated += 1
                self.stdout.write(f"report {job.pk} ({job.type}, {job.format}): {job.status}, {job.rows} rows")
        if scheduled or expired:
            self.stdout.write(f"{len(scheduled)} scheduled report(s) requested, {expired} expired")
        return generated
