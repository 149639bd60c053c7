"""Portal pages: server time of the admin's audit pages on the 1,000,000-event demo store.

Usage: .venv/bin/python bench/portal_pages.py [--events 1000000] [--samples 30] [--warmup 3]
                                        [--workdir DIR] [--users auditor-bank,analyst]
                                        [--pages LABEL,...] [--prepare-only] [--profile LABEL]

The data set is built once: ``--workdir DIR`` keeps it and reuses it (without
it, a temporary directory is used and removed at the end). It holds --events
demo events (``seed_demo``'s generator, seed 5, the 30 days before midnight
UTC of the day it was built) and one bank account,
``acme-bank/Account/acc-bench-10k``, with exactly 10,000 events over the same
30 days (balance changes, and every tenth event a change of a personal-data
field listed in ``pii``), appended through the store in batches of 500 in the
order they occurred, so the account's events lie spread through the store as
a live one's would; every projection run to the end
of the feed (latest states, the SQL search index, snapshots every
AUDIT_SNAPSHOT_EVERY events); and the demo users and roles imported from
``portal.access.demo`` as ``bootstrap_demo`` does.

Each page is requested in-process through ``django.test.Client``, signed in
(``force_login``) as each user of --users: the full Django stack (middleware,
view, template, the access-audit writes) on the SQL default (SQLite file,
SEARCH_BACKEND=sql, DEBUG off), i.e. server time without the network. After
--warmup untimed requests, --samples timed requests per row, the parameters
varying between samples (search words and filters; timeline cursor pages,
sequences and instants). Prints p50/p95/max in ms per row and user. Any
answer other than 200 is a failure (exit 1).

``--profile LABEL`` then requests that row once more per user under cProfile
with every SQL statement captured, reruns each SELECT fetched to the end (SQLite
does most of a query's work while rows are fetched) and prints the slowest
with their query plans, then the profile.
"""

import argparse
import cProfile
import datetime
import heapq
import io
import json
import os
import platform
import pstats
import random
import secrets
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _setup import append_all, setup_django

LONG = ("acme-bank", "Account", "acc-bench-10k")
LONG_EVENTS = 10_000
MARKER = "bench_portal.json"
SEARCH_WORDS = ("password", "transfer", "logged", "frozen", "refund", "address", "approved",
                "overdraft", "review", "order", "failed", "customer")
BANK_TYPES = ("AccountUpdated", "TransferCompleted", "UserLoggedIn", "LoginFailed", "PasswordChanged",
              "AccountFrozen", "TransferInitiated")
OTHER_TYPES = ("OrderPlaced", "CustomerUpdated", "PatientRecordViewed", "PrescriptionIssued")


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def rfc3339(moment: datetime.datetime) -> str:
    """RFC 3339 UTC with microseconds, as the demo generator writes it (so strings sort by time)."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- the data set ---------------------------------------------------------------


def long_aggregate_events(start: datetime.datetime, end: datetime.datetime, seed: int = 11):
    """LONG_EVENTS events of one bank account, spread evenly between ``start`` and ``end``."""
    rng = random.Random(seed)
    tenant, aggregate_type, aggregate_id = LONG
    step = (end - start) / (LONG_EVENTS + 1)
    balance = 250_000
    tellers = [{"id": f"u-teller-{n}", "type": "user", "ip": f"10.20.0.{n}"} for n in range(1, 9)]
    ledger = {"id": "svc-ledger", "type": "service"}
    for n in range(LONG_EVENTS):
        event = {
            "tenant": tenant, "aggregate_type": aggregate_type, "aggregate_id": aggregate_id,
            "occurred_at": rfc3339(start + step * (n + 1)), "classification": "confidential",
            "trace_id": f"{rng.getrandbits(128):032x}",
        }
        if n == 0:
            event.update(event_type="AccountOpened", actor=tellers[0],
                         pii=["/name", "/email", "/phone", "/date_of_birth"],
                         payload={"holder_since": "2019-04-01", "name": "Ann Example",
                                  "email": "ann.example@example.com", "phone": "+1-202-555-0100",
                                  "date_of_birth": "1984-02-29", "currency": "EUR", "status": "active",
                                  "balance_cents": balance, "product": "current"})
        elif n % 10 == 0:
            field = ("email", "phone", "address")[n // 10 % 3]
            value = {"email": f"ann.example+{n}@example.com", "phone": f"+1-202-555-01{n % 100:02d}",
                     "address": {"street": f"{n % 200 + 1} Example Street", "city": "Springfield",
                                 "postal_code": f"{10000 + n % 90000}"}}[field]
            pii = ["/address/street", "/address/city", "/address/postal_code"] if field == "address" \
                else [f"/{field}"]
            event.update(event_type="AccountUpdated", actor=rng.choice(tellers), pii=pii,
                         payload={"changed_fields": [field], field: value, "reason": "customer_request"})
        else:
            amount = rng.randint(-50_000, 60_000)
            balance += amount
            event.update(event_type="BalanceChanged", actor=ledger,
                         payload={"amount_cents": amount, "balance_cents": balance,
                                  "reason": rng.choice(("card_payment", "salary", "transfer_in",
                                                        "transfer_out", "fee", "interest"))})
        yield event


def prepare(workdir: Path, events: int) -> dict:
    """Build (or finish building) the data set in ``workdir``; return its marker."""
    from django.contrib.auth import get_user_model

    from audit_events.demo import generate_events
    from audit_events.models import StoredEvent
    from audit_events.projector import catch_up, refresh_planner_statistics
    from portal.access.access_file import import_document
    from portal.access.demo import DEMO_USERS, demo_access_document

    marker_path = workdir / MARKER
    marker = json.loads(marker_path.read_text()) if marker_path.exists() else {}
    if marker.get("events", events) != events:
        sys.exit(f"{workdir} holds a data set of {marker['events']:,} demo events, not {events:,}: "
                 f"use another --workdir")

    if not marker.get("appended"):
        if StoredEvent.objects.exclude(tenant__startswith="_").exists():
            sys.exit(f"{workdir} holds events of an interrupted build: use another --workdir")
        until = datetime.datetime.now(datetime.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        started = time.perf_counter()
        # One stream in business-time order, as an application would publish them: the long
        # aggregate's events are spread through the store, not stored side by side.
        append_all(heapq.merge(generate_events(count=events, seed=5, until=until),
                               long_aggregate_events(until - datetime.timedelta(days=30), until),
                               key=lambda event: event["occurred_at"]))
        marker.update(events=events, until=rfc3339(until), appended=True)
        marker_path.write_text(json.dumps(marker, indent=2))
        print(f"appended {events:,} demo events and the {LONG_EVENTS:,} of {'/'.join(LONG)}, in the order "
              f"they occurred, in {time.perf_counter() - started:,.0f} s", flush=True)

    # Resumable through the projections' checkpoints; also projects the access
    # audit written by earlier runs, so the store is fully projected each time.
    started = time.perf_counter()
    handled = catch_up(batch_size=5000)
    if any(handled.values()):
        print(f"projected {', '.join(f'{n}: {c:,}' for n, c in handled.items())} events "
              f"in {time.perf_counter() - started:,.0f} s", flush=True)
    refresh_planner_statistics()  # as run_projector does after catching up

    User = get_user_model()
    if not User.objects.filter(username="admin").exists():
        User.objects.create_superuser("admin", "admin@example.com", None)
    new_passwords = {name: secrets.token_urlsafe(12) for name in DEMO_USERS
                     if not User.objects.filter(username=name).exists()}
    import_document(demo_access_document(new_passwords), actor="bench_portal", allow_superusers=True)
    return marker


# -- the pages ----------------------------------------------------------------------


def url(name: str, fallback: str, **kwargs) -> str:
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse(name, kwargs=kwargs or None)
    except NoReverseMatch:
        return fallback


def rows_for(username: str, marker: dict, rng: random.Random) -> dict:
    """Row label -> a function returning the next (path, params) to request."""
    from audit_events.models import StoredEvent

    until = datetime.datetime.fromisoformat(marker["until"].replace("Z", "+00:00"))
    start = until - datetime.timedelta(days=30)
    tenants = ["acme-bank"] if username == "auditor-bank" else ["acme-bank", "st-marys-hospital", "northwind-shop"]
    types = BANK_TYPES if username == "auditor-bank" else BANK_TYPES + OTHER_TYPES
    search = url("admin:audit_search", "/admin/audit/search/")
    timeline = url("admin:audit_timeline", "/admin/audit/timeline/{}/{}/{}/".format(*LONG),
                   tenant=LONG[0], aggregate_type=LONG[1], aggregate_id=LONG[2])
    dashboard = url("admin:index", "/admin/")

    # Events the user may open: their tenants, up to confidential, from all over the store.
    last = StoredEvent.objects.order_by("-position").values_list("position", flat=True).first()
    positions = sorted({rng.randrange(1, last + 1) for _ in range(900)})
    event_ids = [str(e) for e in StoredEvent.objects.filter(
        position__in=positions, tenant__in=tenants, classification__in=("public", "internal", "confidential"),
    ).values_list("event_id", flat=True)]
    assert event_ids, "no event this user may open was found"

    def event_path(event_id):
        return url("admin:audit_event", f"/admin/audit/events/{event_id}/", event_id=event_id)

    long = StoredEvent.objects.filter(tenant=LONG[0], aggregate_type=LONG[1], aggregate_id=LONG[2])
    recorded = (long.order_by("sequence").values_list("recorded_at", flat=True).first(),
                long.order_by("-sequence").values_list("recorded_at", flat=True).first())

    def instant():
        """An instant inside the long aggregate's life, on business or recorded time."""
        if rng.random() < 0.75:
            return {"at": rfc3339(start + (until - start) * rng.random()), "time": "occurred"}
        return {"at": rfc3339(recorded[0] + (recorded[1] - recorded[0]) * rng.random()), "time": "recorded"}

    def window():
        begin = start + (until - start) * rng.random() * 0.9
        return {"from": rfc3339(begin), "to": rfc3339(begin + datetime.timedelta(days=rng.choice((1, 3, 7))))}

    return {
        "search (no query)": lambda: (search, {}),
        "search q": lambda: (search, {"q": rng.choice(SEARCH_WORDS)}),
        "search q+filters": lambda: (search, {"q": rng.choice(SEARCH_WORDS), "tenant": rng.choice(tenants),
                                              **window()}),
        "search type+range": lambda: (search, {"event_type": rng.choice(types), **window()}),
        "timeline": lambda: (timeline, {}),
        "timeline ?after=": lambda: (timeline, {"after": str(rng.randrange(1, LONG_EVENTS))}),
        "timeline ?sequence=": lambda: (timeline, {"sequence": str(rng.randrange(1, LONG_EVENTS + 1))}),
        "timeline ?at=": lambda: (timeline, instant()),
        "dashboard": lambda: (dashboard, {}),
        "event page": lambda: (event_path(rng.choice(event_ids)), {}),
    }


def request(client, path, params, label, username):
    response = client.get(path, params)
    if response.status_code != 200:
        location = f" -> {response.get('Location')}" if response.has_header("Location") else ""
        raise SystemExit(f"FAILED: {label} as {username}: GET {path}?{_query(params)} answered "
                         f"{response.status_code}{location}")
    return response


def _query(params):
    from urllib.parse import urlencode

    return urlencode(params)


GOALS = {"search": 150.0, "timeline": 150.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--workdir", help="build the data set here, or reuse the one built here (kept)")
    parser.add_argument("--users", default="auditor-bank,analyst")
    parser.add_argument("--pages", help="comma-separated row labels to time (default: all)")
    parser.add_argument("--prepare-only", action="store_true", help="build the data set and stop")
    parser.add_argument("--profile", metavar="LABEL", help="also profile one request of this row per user")
    parser.add_argument("--profile-queries", type=int, default=8, help="slowest SQL statements shown")
    parser.add_argument("--seed", type=int, default=7, help="seed of the varying parameters")
    args = parser.parse_args()

    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="portal-bench-portal-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        run(args, workdir)
    finally:
        if not args.workdir:  # a data set nobody can reuse: gigabytes not left behind
            from django.db import connections

            connections.close_all()
            shutil.rmtree(workdir, ignore_errors=True)


def run(args, workdir: Path) -> None:
    setup_django(workdir, SEARCH_BACKEND="sql", AUDIT_STORE="sql", DJANGO_ENV="local", DJANGO_DEBUG="false",
                 DJANGO_ALLOWED_HOSTS="testserver", PORTAL_REQUIRE_TOTP="false")
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    marker = prepare(workdir, args.events)
    from audit_events.models import StoredEvent

    total = StoredEvent.objects.count()
    print(f"data set in {workdir}: {total:,} events ({args.events:,} demo + {LONG_EVENTS:,} in "
          f"{'/'.join(LONG)} + the access audit), database {connection.vendor}, "
          f"search {settings.SEARCH_BACKEND}, DEBUG {settings.DEBUG}", flush=True)
    if args.prepare_only:
        return

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    wanted = [p.strip() for p in args.pages.split(",")] if args.pages else None
    results = []  # (username, label, timings)
    profiles = []
    for username in [u.strip() for u in args.users.split(",") if u.strip()]:
        user = get_user_model().objects.get(username=username)
        client = Client()
        client.force_login(user)
        rng = random.Random(f"{args.seed}:{username}")
        rows = rows_for(username, marker, rng)
        unknown = set(wanted or ()) - set(rows)
        if unknown:
            sys.exit(f"unknown --pages {sorted(unknown)}; rows are {list(rows)}")
        for label, next_request in rows.items():
            if wanted and label not in wanted:
                continue
            for _ in range(args.warmup):
                request(client, *next_request(), label, username)
            timings = []
            for _ in range(args.samples):
                path, params = next_request()
                started = time.perf_counter()
                request(client, path, params, label, username)
                timings.append((time.perf_counter() - started) * 1000)
            results.append((username, label, timings))
            print(f"{username:<13} {label:<20} p50 {percentile(timings, 0.5):7.1f} ms   "
                  f"p95 {percentile(timings, 0.95):7.1f} ms   max {max(timings):7.1f} ms", flush=True)
        if args.profile:
            if args.profile not in rows:
                sys.exit(f"unknown --profile {args.profile!r}; rows are {list(rows)}")
            path, params = rows[args.profile]()
            request(client, path, params, args.profile, username)  # warm
            queries = []

            def timed_sql(execute, sql, sql_params, many, context):
                began = time.perf_counter()
                try:
                    return execute(sql, sql_params, many, context)
                finally:
                    queries.append(((time.perf_counter() - began) * 1000, sql, sql_params))

            profiler = cProfile.Profile()
            with connection.execute_wrapper(timed_sql):
                started = time.perf_counter()
                profiler.enable()
                request(client, path, params, args.profile, username)
                profiler.disable()
                elapsed = (time.perf_counter() - started) * 1000
            out = io.StringIO()
            # SQLite does most of a SELECT's work while rows are fetched, not in execute():
            # each SELECT is run again here, fetched to the end, and timed with its plan.
            rerun = []
            with connection.cursor() as cursor:
                for _, sql, sql_params in queries:
                    if not sql.lstrip().upper().startswith("SELECT"):
                        continue
                    cursor.execute("EXPLAIN QUERY PLAN " + sql, sql_params)
                    plan = [row[-1] for row in cursor.fetchall()]
                    began = time.perf_counter()
                    cursor.execute(sql, sql_params)
                    count = len(cursor.fetchall())
                    rerun.append(((time.perf_counter() - began) * 1000, count, sql, sql_params, plan))
            out.write(f"{len(queries)} SQL statements; the {len(rerun)} SELECTs rerun and fetched to the end "
                      f"take {sum(r[0] for r in rerun):.1f} ms; the slowest:\n")
            for ms, count, sql, sql_params, plan in sorted(rerun, key=lambda r: -r[0])[:args.profile_queries]:
                shown = sql if len(sql) < 900 else sql[:900] + " …"
                out.write(f"  {ms:8.1f} ms  {count} rows  {shown}  {list(sql_params or ())[:14]}\n")
                out.write("".join(f"              plan: {step}\n" for step in plan))
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("cumulative").print_stats(60)
            stats.sort_stats("tottime").print_stats(25)
            profiles.append((username, args.profile, path, params, elapsed, out.getvalue()))

    print()
    print(f"{'user':<13} {'page':<20} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}   goal")
    missed = []
    for username, label, timings in results:
        goal = GOALS.get(label.split()[0])
        p95 = percentile(timings, 0.95)
        verdict = "" if goal is None else (f"p95 < {goal:.0f}: " + ("met" if p95 < goal else "NOT MET"))
        if goal is not None and p95 >= goal:
            missed.append((username, label))
        print(f"{username:<13} {label:<20} {percentile(timings, 0.5):8.1f} {p95:8.1f} {max(timings):8.1f}   {verdict}")
    print(f"({args.samples} samples per row after {args.warmup} warm-up requests; goal rows: "
          f"{'all met' if not missed else 'missed by ' + ', '.join(f'{l} ({u})' for u, l in missed)})")
    for username, label, path, params, elapsed, text in profiles:
        print(f"\n== profile: {label} as {username}: GET {path}?{_query(params)} ({elapsed:.1f} ms under cProfile)")
        print(text)
    print("command: " + " ".join(shlex.quote(a) for a in [".venv/bin/python", "bench/portal_pages.py", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
