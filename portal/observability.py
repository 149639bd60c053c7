"""Structured logs carrying the request's trace id.

``TraceIdMiddleware`` takes the trace id a caller sent (W3C ``traceparent``, or
``X-Request-Id``) when it is well formed, else makes one; every log line written while the
request runs carries it, and the response names it (``X-Trace-Id``), so a user's report of an
error can be found in the logs. ``JsonFormatter`` writes one JSON object per line
(``LOG_FORMAT=json``, the default in production). Metrics: ``audit_events.metrics``.
"""

import contextvars
import json
import logging
import re
import time
import uuid

__all__ = ["JsonFormatter", "TraceIdMiddleware", "current_trace_id"]

_TRACE_ID = contextvars.ContextVar("trace_id", default=None)
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


def current_trace_id() -> str | None:
    return _TRACE_ID.get()


class TraceIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _TRACE_ID.set(_trace_id_of(request))
        try:
            response = self.get_response(request)
            response["X-Trace-Id"] = _TRACE_ID.get()
            return response
        finally:
            _TRACE_ID.reset(token)


def _trace_id_of(request) -> str:
    parent = _TRACEPARENT.match(request.META.get("HTTP_TRACEPARENT", "").strip().lower())
    if parent and parent.group(1) != "0" * 32:
        return parent.group(1)
    given = request.META.get("HTTP_X_REQUEST_ID", "").strip()
    return given if _REQUEST_ID.match(given) else uuid.uuid4().hex


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the trace id, the exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if _TRACE_ID.get():
            entry["trace_id"] = _TRACE_ID.get()
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)
