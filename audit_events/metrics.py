"""This process's own measurements (what the store cannot tell afterwards), for ``/metrics``.

Counters and histograms live in memory, per process, as Prometheus expects of a scraped
process; figures the database holds (events stored, projection lag) are read at scrape time.
"""

import bisect
import threading
from dataclasses import dataclass, field

__all__ = ["APPEND_SECONDS", "INGESTED", "Counter", "Histogram"]


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
