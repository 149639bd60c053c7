"""The report types, by id: each a small class (see ``base.ReportType``)."""

from .activity import ActorActivity, SearchExport
from .base import ParamsError, ReportError, ReportType
from .data_access import DataAccess
from .entity_history import EntityHistory
from .integrity import Integrity
from .legal_holds import LegalHolds
from .summary import ActivitySummary

__all__ = ["REPORT_TYPES", "ParamsError", "ReportError", "ReportType", "report_type"]

REPORT_TYPES: dict[str, ReportType] = {
    cls.id: cls() for cls in (EntityHistory, ActorActivity, DataAccess, ActivitySummary, Integrity, SearchExport,
                              LegalHolds)
}


def report_type(type_id: str) -> ReportType:
    """The type named ``type_id``; ``ParamsError`` on ``type`` naming the choices."""
    try:
        return REPORT_TYPES[type_id]
    except (KeyError, TypeError):
        raise ParamsError([{"field": "type", "message": f"must be one of {', '.join(REPORT_TYPES)}"}]) from None
