"""Requesting, generating, expiring and scheduling reports (the writes)."""

import calendar
import gc
import io
import logging
import multiprocessing
import multiprocessing.connection
import os
import tempfile
import threading
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone as dt_timezone

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files import File
from django.core.files.storage import storages
from django.core.mail import send_mail
from django.db import connection, connections, transaction
from django.utils import timezone

from audit_events.files import HashedReader
from audit_events.search import get_search_index
from audit_events.search.base import part_bounds
from audit_events.store import get_event_store
from portal.access.audit import record_access
from portal.access.engine import compile_policies

from .formats import writer_for
from .formats.base import ReportMeta
from .models import ReportJob, ReportSchedule
from .readers import ExportReader
from .runners import get_report_runner
from .types import ParamsError, ReportError, report_type

__all__ = ["ParamsError", "report_expire", "report_generate", "report_request", "schedules_run_due"]

log = logging.getLogger(__name__)

#: progress is written every this many rows (one UPDATE), not per row
PROGRESS_EVERY = 5000


def reports_storage():
    """Django's storage for report files (``STORAGES["reports"]``: the filesystem, or S3)."""
    return storages["reports"]


def report_target(job: ReportJob) -> dict:
    """The access audit's target of a report: the report, and the record when it is about one,
    so that exporting a record shows under "who viewed this record"."""
    target = {"report": str(job.pk)}
    keys = ("tenant", "aggregate_type", "aggregate_id")
    if all(job.params.get(k) for k in keys):
        target.update({k: job.params[k] for k in keys})
    return target


def may_export(user) -> bool:
    """Whether any policy of the person allows ``export_report`` (rows are then judged one by one)."""
    subject = ExportReader(user).subject
    return any(p.effect == "allow" and not p.break_glass
               for p in compile_policies(subject, "export_report", now=timezone.now()))


def report_request(*, requested_by, type: str, format: str, params: dict, schedule=None,
                   request=None) -> ReportJob:
    """Validate and queue a report; ``ParamsError`` names each bad field, nothing is stored then."""
    kind = report_type(type)
    errors = []
    try:
        writer_for(format)
    except ValueError as exc:
        errors.append({"field": "format", "message": str(exc)})
    try:
        clean = kind.validate(params)
    except ParamsError as exc:
        errors += exc.errors
    if errors:
        raise ParamsError(errors)
    if not may_export(requested_by):
        raise PermissionDenied("Your access does not include exporting reports (export_report).")
    stored = clean.model_dump(mode="json", by_alias=True, exclude_none=True)
    job = ReportJob.objects.create(requested_by=requested_by, type=kind.id, format=format, params=stored,
                                   schedule=schedule)
    record_access("ReportRequested", user=requested_by, request=request, target=report_target(job),
                  details={"type": kind.id, "format": format, "params": stored,
                           "schedule": schedule.pk if schedule else None},
                  pii=["/details/params"])
    transaction.on_commit(lambda: get_report_runner().submit(str(job.id)))
    return job


def report_generate(*, job_id) -> ReportJob | None:
    """Generate a queued job (claimed atomically: two workers never make the same report)."""
    now = timezone.now()
    if not ReportJob.objects.filter(pk=job_id, status=ReportJob.QUEUED).update(
            status=ReportJob.RUNNING, started_at=now):
        return None
    job = ReportJob.objects.select_related("requested_by", "schedule").get(pk=job_id)
    try:
        _generate(job)
    except ReportError as exc:
        _fail(job, str(exc))
    except Exception:
        log.exception("report %s failed", job.pk)
        _fail(job, "The report could not be generated (an internal error, logged for the operators).")
    if job.schedule_id:
        _notify(job)
    return job


def _lean_connection() -> None:
    if connection.vendor == "sqlite":
        # A report reads once, front to back: the 64 MB page cache that serves the portal's
        # repeated reads would only hold the memory of pages never read again.
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size=-8192")


def _generate(job: ReportJob) -> None:
    _lean_connection()
    kind = report_type(job.type)
    params = kind.validate(job.params)
    reader = ExportReader(job.requested_by)
    writer_class = writer_for(job.format)
    meta = ReportMeta(type_id=kind.id, title=kind.title(params), params=job.params, signed_log=True,
                      requester=f"user:{job.requested_by.get_username()}", generated_at=timezone.now(),
                      scope=reader.scope(), columns=list(kind.columns))
    expected = kind.estimate(params, reader)
    name = f"{job.pk}.{writer_class.extension}"
    single_threaded = threading.active_count() == 1
    with _collector_paused(single_threaded):
        # Parts for big results only (more than the search counts exactly), and only from a
        # single-threaded process (see _write_in_parts).
        if (settings.REPORT_WORKERS > 1 and kind.parallel and writer_class.concatenable and expected is None
                and single_threaded and "fork" in multiprocessing.get_all_start_methods()):
            rows, size, digest, name = _write_in_parts(job, kind, params, reader, writer_class, meta, name,
                                                       settings.REPORT_WORKERS)
        else:
            rows, size, digest, name = _write_alone(job, kind, params, reader, writer_class, meta, name, expected)
    finished = timezone.now()
    job.status, job.rows, job.size, job.file_name, job.progress = ReportJob.DONE, rows, size, name, 100
    job.scope, job.finished_at = meta.scope, finished
    job.expires_at = finished + timedelta(days=settings.REPORT_RETENTION_DAYS)
    job.save()
    reader.audit("ReportGenerated", target=report_target(job),
                 details={"type": job.type, "format": job.format, "rows": rows, "bytes": size,
                          "sha256": digest})


@contextmanager
def _collector_paused(single_threaded: bool):
    """Rows are garbage the moment they are written, freed by reference counting; they
    hold no cycles. Collections need not keep scanning the objects that were there
    before (freeze), and a single-threaded generator (the report worker, a Lambda)
    skips them until the report is written: one every few dozen rows cost a third of
    the time. A web process's other threads keep theirs."""
    gc.freeze()
    collecting = gc.isenabled()
    if single_threaded:
        gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        if collecting:
            gc.enable()


def _write_alone(job, kind, params, reader, writer_class, meta, name: str,
                 expected) -> tuple[int, int, str, str]:
    """Every row by this process into a temporary file, then stored in one pass that
    also hashes it. Returns rows, size, SHA-256 and the stored name."""
    rows, evidence = 0, writer_class.wants_evidence
    with tempfile.TemporaryFile() as spool:
        writer = writer_class(spool, meta)
        for row, event in kind.rows(params, reader):
            writer.write_row(row, reader.evidence(event) if evidence and event is not None else None)
            rows += 1
            if rows % PROGRESS_EVERY == 0:
                _progress(job, rows, expected)
        writer.close(row_count=rows)
        spool.seek(0)
        # The file's digest goes into the hash-chained access audit: it anchors the download.
        stored = HashedReader([spool])
        name = reports_storage().save(name, File(stored, name=name))
    return rows, stored.size, stored.sha256.hexdigest(), name


def _progress(job: ReportJob, rows: int, expected: int | None) -> None:
    progress = min(99, rows * 100 // expected) if expected else 0
    ReportJob.objects.filter(pk=job.pk).update(rows=rows, progress=progress)


def _write_in_parts(job, kind, params, reader, writer_class, meta, name: str,
                    workers: int) -> tuple[int, int, str, str]:
    """Rows written by ``workers`` processes, each over one contiguous span of the log,
    then stored after the header in one pass that also hashes them: one CPU each, one
    file. Returns rows, size, SHA-256 and the stored name.

    The spans are fixed here, once, so that events appended meanwhile cannot fall
    between two of them, and every worker judges with this process's reader (its
    policies as read at the start). The workers are forked (so they share this
    process's memory until they write to it), which is why only a single-threaded
    process (the report worker, a Lambda) splits a report: a fork copies other
    threads' locks mid-use.
    """
    header = io.BytesIO()
    writer_class(header, meta).close(row_count=0)
    last = get_search_index().last_position()
    spans = [part_bounds(last, (k, workers)) for k in range(workers)]
    context = multiprocessing.get_context("fork")
    connections.close_all()  # a database connection is never carried across a fork
    parent = os.getpid()
    with tempfile.TemporaryDirectory(prefix="report-") as folder:
        parts, counts, finished = [], [0] * workers, set()
        try:
            for k, span in enumerate(spans):
                receive, send = context.Pipe(duplex=False)
                path = os.path.join(folder, f"part-{k}")
                process = context.Process(
                    target=_write_part, name=f"report-{job.pk}-{k}", daemon=True,
                    args=(kind, params, reader, writer_class, meta, path, span, send, parent))
                parts.append((process, receive, path))
                process.start()
                send.close()  # the worker holds the writing end: its exit closes the pipe
            while len(finished) < workers:
                for conn in multiprocessing.connection.wait([r for _, r, _ in parts if r not in finished]):
                    k = next(i for i, (_, r, _) in enumerate(parts) if r is conn)
                    try:
                        what, value = conn.recv()
                    except EOFError:
                        what, value = "error", f"the worker of part {k + 1} stopped before it finished"
                    if what == "error":
                        raise RuntimeError(f"report {job.pk}: {value}")
                    counts[k] = value
                    if what == "done":
                        finished.add(conn)
                    _progress(job, sum(counts), None)  # parts only when no estimate was made
        finally:
            for process, receive, _ in parts:
                if process.is_alive() and receive not in finished:
                    process.terminate()  # another part failed: stop this one too
                if process.pid is not None:
                    process.join()
                receive.close()
        files = [header]
        try:
            files += [open(path, "rb") for _, _, path in parts]
            joined = HashedReader(files)
            header.seek(0)
            name = reports_storage().save(name, File(joined, name=name))
        finally:
            for file in files:
                file.close()
    return sum(counts), joined.size, joined.sha256.hexdigest(), name


def _write_part(kind, params, reader, writer_class, meta, path: str, span: tuple[int, int], conn,
                parent: int) -> None:
    """In a forked worker: the rows of ``span``, headerless, into ``path``. Reports
    ``("rows", n)`` now and then, then ``("done", n)`` or ``("error", message)``."""
    try:
        # The parent's cached adapters hold its connections (OpenSearch's HTTP pool):
        # this process makes its own.
        get_search_index.cache_clear()
        get_event_store.cache_clear()
        _lean_connection()
        gc.disable()  # as in _generate; this process ends with its part
        rows = 0
        with open(path, "wb") as out:
            writer = writer_class(out, meta, header=False)
            for row, _ in kind.rows(params, reader, span=span):
                writer.write_row(row)
                rows += 1
                if rows % PROGRESS_EVERY == 0:
                    if os.getppid() != parent:
                        os._exit(1)  # the generator is gone (killed): nobody will read this part
                    conn.send(("rows", rows))
            writer.close(row_count=rows)
        conn.send(("done", rows))
    except Exception:
        log.exception("report: the worker of span %s failed", span)
        conn.send(("error", f"the worker of positions {span[0] + 1}-{span[1]} failed (logged for the operators)"))
    finally:
        connections.close_all()
        conn.close()


def _fail(job: ReportJob, message: str) -> None:
    job.status, job.error, job.finished_at = ReportJob.FAILED, message, timezone.now()
    job.save(update_fields=["status", "error", "finished_at"])


def _notify(job: ReportJob) -> None:
    user = job.requested_by
    if not user.email:
        return
    outcome = "is ready" if job.status == ReportJob.DONE else f"failed: {job.error}"
    send_mail(f"[compliance portal] Scheduled report {job.schedule.name} {outcome}",
              f"Your scheduled report ({job.type}, {job.format}) {outcome}.\n"
              f"Find it under Reports in the portal (report {job.pk}).\n",
              None, [user.email], fail_silently=True)


def report_expire(*, now: datetime | None = None) -> int:
    """Delete the files of reports past their retention; the jobs stay, marked expired."""
    now = now or timezone.now()
    storage, expired = reports_storage(), 0
    for job in ReportJob.objects.filter(status=ReportJob.DONE, expires_at__lt=now):
        if job.file_name:
            storage.delete(job.file_name)
        job.status, job.file_name = ReportJob.EXPIRED, ""
        job.save(update_fields=["status", "file_name"])
        expired += 1
    return expired


def schedules_run_due(*, now: datetime | None = None) -> list[ReportJob]:
    """Request the report of every schedule that is due, for the period just ended.

    Each schedule is claimed by moving its next run (two runners never request
    it twice), and one that cannot request its report is logged and skipped:
    it never stops the others.
    """
    now = now or timezone.now()
    jobs = []
    for schedule in ReportSchedule.objects.filter(active=True, next_run_at__lte=now).select_related("owner"):
        due = schedule.next_run_at
        if not ReportSchedule.objects.filter(pk=schedule.pk, next_run_at=due).update(
                next_run_at=_advance(schedule.every, due, now), last_run_at=now):
            continue  # another runner took it
        try:
            params = dict(schedule.params)
            if _takes_period(schedule.type):
                start, end = _period(schedule.every, due)
                params.setdefault("from", start.isoformat())
                params.setdefault("to", end.isoformat())
            jobs.append(report_request(requested_by=schedule.owner, type=schedule.type, format=schedule.format,
                                       params=params, schedule=schedule))
        except (ParamsError, PermissionDenied, TypeError, ValueError) as exc:
            log.error("schedule %s (%s) could not request its report: %s", schedule.pk, schedule.name, exc)
    return jobs


def _takes_period(type_id: str) -> bool:
    return "from_" in report_type(type_id).Params.model_fields


def _period(every: str, due: datetime) -> tuple[datetime, datetime]:
    """The period that ended at the due time's day, week or month boundary (UTC)."""
    day = due.astimezone(dt_timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    if every == ReportSchedule.DAILY:
        return day - timedelta(days=1), day
    if every == ReportSchedule.WEEKLY:
        week = day - timedelta(days=day.weekday())
        return week - timedelta(days=7), week
    month = day.replace(day=1)
    previous = (month - timedelta(days=1)).replace(day=1)
    return previous, month


def _advance(every: str, due: datetime, now: datetime) -> datetime:
    """The next due time after ``now``, on the same day of the month for monthly
    schedules (clamped to short months); missed runs are not replayed one by one."""
    step = 0
    while True:
        step += 1
        if every == ReportSchedule.DAILY:
            candidate = due + timedelta(days=step)
        elif every == ReportSchedule.WEEKLY:
            candidate = due + timedelta(days=7 * step)
        else:
            month = due.month - 1 + step
            year, month = due.year + month // 12, month % 12 + 1
            candidate = due.replace(year=year, month=month,
                                    day=min(due.day, calendar.monthrange(year, month)[1]))
        if candidate > now:
            return candidate
