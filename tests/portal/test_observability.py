"""Trace ids on requests and log lines; CloudWatch embedded metrics on Lambda."""

import json
import logging
import re

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from audit_events.metrics import emit_metrics
from portal.observability import JsonFormatter, TraceIdMiddleware


def run(headers: dict) -> tuple[HttpResponse, str]:
    """A request through the middleware to a view that logs; the response and the JSON line."""
    lines = []

    def view(request):
        record = logging.LogRecord("portal.test", logging.WARNING, __file__, 1, "looked at %s", ("acc-1",), None)
        lines.append(JsonFormatter().format(record))
        return HttpResponse("ok")

    response = TraceIdMiddleware(view)(RequestFactory().get("/", **headers))
    return response, lines[0]


def test_a_w3c_traceparent_gives_the_trace_id_to_the_response_and_every_log_line():
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    response, line = run({"HTTP_TRACEPARENT": f"00-{trace}-00f067aa0ba902b7-01"})
    entry = json.loads(line)
    assert response["X-Trace-Id"] == trace and entry["trace_id"] == trace
    assert entry["message"] == "looked at acc-1" and entry["level"] == "WARNING" and entry["logger"] == "portal.test"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"])


@pytest.mark.parametrize("headers, kept", [
    ({"HTTP_X_REQUEST_ID": "req-12345678"}, "req-12345678"),
    ({"HTTP_TRACEPARENT": "00-" + "0" * 32 + "-00f067aa0ba902b7-01"}, None),  # all zeros: invalid
    ({"HTTP_TRACEPARENT": "garbage", "HTTP_X_REQUEST_ID": "bad id with spaces"}, None),
    ({}, None),
])
def test_other_or_malformed_ids_are_kept_or_replaced(headers, kept):
    response, line = run(headers)
    trace = response["X-Trace-Id"]
    assert trace == kept if kept else re.fullmatch(r"[0-9a-f]{32}", trace)
    assert json.loads(line)["trace_id"] == trace


def test_no_trace_id_outside_a_request():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "plain", (), None)
    assert "trace_id" not in json.loads(JsonFormatter().format(record))


def test_embedded_metrics_only_on_lambda(monkeypatch, capsys):
    emit_metrics({"EventsIngested": (3, "Count")})
    assert capsys.readouterr().out == ""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "compliance-portal-ingest")
    emit_metrics({"EventsIngested": (3, "Count"), "AppendLatency": (12.5, "Milliseconds")})
    line = json.loads(capsys.readouterr().out)
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "CompliancePortal" and directive["Dimensions"] == [["Function"]]
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]} == {"EventsIngested": "Count",
                                                                   "AppendLatency": "Milliseconds"}
    assert (line["Function"], line["EventsIngested"], line["AppendLatency"]) == ("compliance-portal-ingest", 3, 12.5)
