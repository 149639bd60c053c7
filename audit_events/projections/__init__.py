"""Projections: plain, idempotent handlers of the change feed.

The embedded projector (``run_projector``) and, later, the stream handler on
Lambda are two drivers of the same projections.
"""

from django.conf import settings
from django.utils.module_loading import import_string

from .base import Projection

__all__ = ["Projection", "configured_projections"]


def configured_projections() -> list[Projection]:
    """One instance of each projection named in ``settings.AUDIT_PROJECTIONS``."""
    return [import_string(path)() for path in settings.AUDIT_PROJECTIONS]
