"""Report generation as a Zappa task: on Lambda the portal function invokes itself
asynchronously (``InvocationType=Event``), so a report outlives API Gateway's 29 s;
anywhere else ``@task`` runs the function in-line."""

from zappa.asynchronous import task


@task
def generate_report(job_id: str) -> None:
    from .services import report_generate

    report_generate(job_id=job_id)


def run_due_schedules(event, context):
    """Lambda entry point for the scheduled event: due schedules, then expiry (thin, as Zappa's handlers are)."""
    from .services import report_expire, schedules_run_due

    jobs = schedules_run_due()
    return {"requested": [str(job.pk) for job in jobs], "expired": report_expire()}
