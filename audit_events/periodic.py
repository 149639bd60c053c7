"""Jobs a projector's loop runs every so often: the silence rules and the checkpoints (on AWS,
scheduled events run them instead)."""

import logging
import time
from typing import Callable

from django.conf import settings

__all__ = ["Every", "projector_jobs"]

log = logging.getLogger(__name__)


class Every:
    """Runs ``job`` when ``tick()`` finds ``settings.<interval_setting>`` seconds passed since
    it last ran (the first tick runs it); a failure is logged and tried again next time."""

    def __init__(self, interval_setting: str, job: Callable[[], object], name: str):
        self.interval_setting, self.job, self.name, self._last = interval_setting, job, name, None

    def tick(self) -> None:
        now = time.monotonic()
        if self._last is not None and now - self._last < getattr(settings, self.interval_setting):
            return
        self._last = now
        try:
            self.job()
        except Exception:
            log.exception("%s failed; tried again in %s s", self.name, getattr(settings, self.interval_setting))


def projector_jobs() -> list[Every]:
    from .alerts.evaluation import check_silence
    from .checkpoints.services import make_due_checkpoints

    return [Every("AUDIT_ALERT_SILENCE_CHECK_SECONDS", check_silence, "the silence check"),
            Every("AUDIT_CHECKPOINT_CHECK_SECONDS", make_due_checkpoints, "making checkpoints")]
