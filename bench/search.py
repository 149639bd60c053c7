"""Search: indexing rate and query latency on both backends.

Usage: .venv/bin/python bench/search.py [--events 1000000] [--repeat 20]
                                        [--opensearch-url URL | --embedded-opensearch] [--skip-sql]

Appends --events demo events to a fresh SQLite store (through the store, in
batches of 500), then for each backend: indexes them all (events/s), and
times five representative queries (--repeat runs each; p50 and p95 in ms):

- free text ("password");
- actor + time range;
- facet-heavy (no filter: every facet and the histogram over everything);
- deep page (page 50 of 20 results, following cursors);
- an ABAC-constrained reader (one tenant, up to confidential, no personal data).
"""

import argparse
import shlex
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from _setup import append_all, setup_django


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def _index_all(name, index, store, count) -> None:
    index.reset()
    started = time.perf_counter()
    after = 0
    while True:
        events = store.read_all(after_position=after, limit=5000)
        if not events:
            break
        index.index(events)
        after = events[-1].position
    if name == "opensearch":
        index.client.indices.refresh(index=f"{index.prefix}-*")
    elapsed = time.perf_counter() - started
    print(f"[{name}] indexed {count:,} events: {count / elapsed:,.0f} events/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--opensearch-url")
    parser.add_argument("--embedded-opensearch", action="store_true")
    parser.add_argument("--skip-sql", action="store_true")
    parser.add_argument("--workdir", help="reuse this directory's store and SQL index (kept afterwards)")
    args = parser.parse_args()

    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="portal-bench-search-"))
    setup_django(workdir)
    from audit_events.demo import generate_events
    from audit_events.search import parse_search_params
    from audit_events.search.sql import SQLSearchIndex
    from audit_events.store import get_event_store
    from portal.access.policy import PolicySpec, Subject
    from tests.audit_events.search.contracts import SubjectReader

    from audit_events.models import SearchDocument, StoredEvent

    store = get_event_store()
    started = time.perf_counter()
    if StoredEvent.objects.count() >= args.events:
        print(f"reusing the {StoredEvent.objects.count():,} events in {workdir}")
    else:
        append_all(generate_events(count=args.events, seed=5))
        print(f"appended {args.events:,} demo events in {time.perf_counter() - started:,.0f} s")

    everyone = SubjectReader(Subject(username="bench", pii=True,
                                     policies=(PolicySpec(effect="allow", actions=["*"], conditions=[]),)))
    constrained = SubjectReader(Subject(
        username="bench", tenants=("st-marys-hospital",), clearance="confidential", pii=False,
        policies=(PolicySpec(effect="allow", actions=["search", "view_pii"], conditions=[
            {"attr": "tenant", "op": "in", "value": "subject.tenants"},
            {"attr": "classification", "op": "lte", "value": "subject.clearance"}]),)))
    last = store.read_all(after_position=store.read_all(limit=1)[0].position + args.events - 2, limit=1)
    end = last[0].record["occurred_at"] if last else None

    def queries():
        from datetime import datetime

        until = datetime.fromisoformat(end.replace("Z", "+00:00"))
        week = {"from": (until - timedelta(days=7)).isoformat(), "to": until.isoformat()}
        return {
            "free text": (everyone, {"q": "password"}),
            "actor + range": (everyone, {"actor_id": "u-jsmith", **week}),
            "facet-heavy": (everyone, {}),
            "deep page 50": (everyone, {"limit": "20", "_pages": 50}),
            "ABAC-constrained": (constrained, {"q": "logged"}),
        }

    backends = []
    if not args.skip_sql:
        backends.append(("sql", SQLSearchIndex()))
    process = None
    if args.opensearch_url or args.embedded_opensearch:
        from django.conf import settings

        from audit_events.search.opensearch import OpenSearchIndex

        url = args.opensearch_url
        if args.embedded_opensearch:
            from tests.services.opensearch import start_opensearch

            url, process = start_opensearch(workdir / "opensearch")
        settings.AUDIT_OPENSEARCH_REFRESH = "false"
        backends.append(("opensearch", OpenSearchIndex(url, prefix="bench-events")))

    try:
        for name, index in backends:
            if name == "sql" and SearchDocument.objects.count() >= args.events:
                print(f"[{name}] reusing the index in {workdir}")
            else:
                _index_all(name, index, store, args.events)
            for label, (who, params) in queries().items():
                pages = params.pop("_pages", 1)
                for _page in range(pages - 1):  # walk to the deep page once, untimed
                    result = index.search(parse_search_params(params), reader=who)
                    if result.next_cursor is None:
                        break
                    params = {**params, "cursor": result.next_cursor}
                index.search(parse_search_params(params), reader=who)  # warm caches, untimed
                timings = []
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    result = index.search(parse_search_params(params), reader=who)
                    timings.append((time.perf_counter() - started) * 1000)
                print(f"[{name}] {label:<17} p50 {statistics.median(timings):7.1f} ms   "
                      f"p95 {percentile(timings, 0.95):7.1f} ms   (total {result.total_text})")
    finally:
        if process is not None:
            from tests.services.opensearch import stop_opensearch

            stop_opensearch(process)
    print("command: " + " ".join(shlex.quote(a) for a in [".venv/bin/python", "bench/search.py", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
