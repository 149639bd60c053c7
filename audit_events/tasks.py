"""Periodic jobs of the audit log, as Lambda's scheduled events call them (Zappa ``events``)."""

import logging

from .archive import export_archive
from .store import get_event_store

__all__ = ["check_alert_silence", "export_daily_archive", "make_checkpoints"]

log = logging.getLogger(__name__)


def export_daily_archive(event, context) -> dict:
    """Archive every whole UTC day not archived yet (``export_archive``), once a day on AWS."""
    days = export_archive(get_event_store())
    for day in days:
        log.info("archived %s: %d events", day.day, day.events)
    return {"archived": [{"day": day.day, "events": day.events} for day in days]}


def check_alert_silence(event, context) -> dict:
    """Raise the silence rules' alerts (``check_silence``), every few minutes on AWS."""
    from .alerts.evaluation import check_silence

    return {"raised": check_silence()}


def make_checkpoints(event, context) -> dict:
    """Sign each tenant's log that is due (``make_due_checkpoints``), every few minutes on AWS."""
    from .checkpoints.services import make_due_checkpoints

    made = make_due_checkpoints()
    return {"checkpoints": [{"tenant": c.tenant, "tree_size": c.tree_size} for c in made]}
