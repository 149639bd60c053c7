"""Where report jobs run: the one setting ``REPORT_RUNNER`` chooses.

- ``thread`` (the embedded default): a background thread of the web process
  starts each job once the request's transaction has committed;
- ``worker``: jobs wait in the table for ``manage.py run_report_worker``;
- ``zappa`` (AWS): Zappa's asynchronous task invocation (``reports.tasks``).
"""

import logging
import threading
from abc import ABC, abstractmethod
from functools import lru_cache

from django.db import close_old_connections, connections

from audit_events.adapters import adapter_from_setting

__all__ = ["ReportRunner", "get_report_runner"]

log = logging.getLogger(__name__)

ADAPTERS = {
    "thread": "reports.runners.ThreadRunner",
    "worker": "reports.runners.WorkerRunner",
    "zappa": "reports.runners.ZappaRunner",
}


class ReportRunner(ABC):
    @abstractmethod
    def submit(self, job_id: str) -> None:
        """Have the queued job generated, now or soon."""


class ThreadRunner(ReportRunner):
    def submit(self, job_id: str) -> None:
        threading.Thread(target=self._run, args=(job_id,), name=f"report-{job_id}", daemon=True).start()

    @staticmethod
    def _run(job_id: str) -> None:
        from .services import report_generate

        close_old_connections()
        try:
            report_generate(job_id=job_id)
        except Exception:  # recorded on the job by report_generate; never kill the process
            log.exception("report %s failed", job_id)
        finally:
            connections.close_all()  # this thread's connections


class WorkerRunner(ReportRunner):
    def submit(self, job_id: str) -> None:
        pass  # run_report_worker claims queued jobs, oldest first


class ZappaRunner(ReportRunner):
    def submit(self, job_id: str) -> None:
        from .tasks import generate_report

        generate_report(job_id)


@lru_cache(maxsize=None)
def get_report_runner() -> ReportRunner:
    return adapter_from_setting("REPORT_RUNNER", ADAPTERS)
