"""This process's own measurements (what the store cannot tell afterwards), for ``/metrics``;
on Lambda, also as CloudWatch embedded-metric-format log lines (``emit_metrics``).

Counters and histograms live in memory, per process, as Prometheus expects of a scraped
process; figures the database holds (events stored, projection lag) are read at scrape time.
"""

import bisect
import json
import os
import threading
import time
from dataclasses import dataclass, field

__all__ = ["APPEND_SECONDS", "INGESTED", "Counter", "Histogram", "emit_metrics"]

NAMESPACE = "CompliancePortal"


@dataclass
class Counter:
    """A monotonic count per label value."""

    name: str
    help: str
    label: str
    _values: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, label_value: str, amount: float = 1) -> None:
        with self._lock:
            self._values[label_value] = self._values.get(label_value, 0) + amount

    def exposition(self) -> list[str]:
        with self._lock:
            values = dict(self._values)
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        return lines + [f'{self.name}{{{self.label}="{key}"}} {value:g}' for key, value in sorted(values.items())]


@dataclass
class Histogram:
    """Observations in cumulative buckets (upper bounds in seconds), with their sum and count."""

    name: str
    help: str
    bounds: tuple[float, ...]
    _counts: list[int] = field(default_factory=list)
    _sum: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self):
        self._counts = [0] * (len(self.bounds) + 1)  # the last: above every bound

    def observe(self, value: float) -> None:
        with self._lock:
            self._counts[bisect.bisect_left(self.bounds, value)] += 1
            self._sum += value

    def exposition(self) -> list[str]:
        with self._lock:
            counts, total = list(self._counts), self._sum
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        running = 0
        for bound, count in zip(self.bounds, counts):
            running += count
            lines.append(f'{self.name}_bucket{{le="{bound:g}"}} {running}')
        running += counts[-1]
        lines += [f'{self.name}_bucket{{le="+Inf"}} {running}', f"{self.name}_sum {total:.6f}",
                  f"{self.name}_count {running}"]
        return lines


INGESTED = Counter("audit_ingest_events_total", "Events this process's ingest API took, by outcome.", "status")
APPEND_SECONDS = Histogram("audit_append_seconds", "Time this process took to append a batch to the store.",
                           (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))


def emit_metrics(metrics: dict[str, tuple[float, str]], **dimensions: str) -> None:
    """On Lambda, ``{"Name": (value, "Unit")}`` as one embedded-metric-format line on stdout:
    CloudWatch makes metrics of it (no API call, no latency). Elsewhere nothing: a process
    that lives on serves its figures at /metrics."""
    function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
    if not function or not metrics:
        return
    dimensions = {"Function": function, **dimensions}
    line = {
        "_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [{
            "Namespace": NAMESPACE, "Dimensions": [sorted(dimensions)],
            "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in metrics.items()]}]},
        **dimensions,
        **{name: value for name, (value, _) in metrics.items()},
    }
    print(json.dumps(line), flush=True)
