"""Reports: rows per second and peak memory of a large report in each format.

Usage: .venv/bin/python bench/reports.py --workdir DIR [--formats csv,xlsx,bundle] [--user compliance]
                                         [--type search_export] [--params '{}']

DIR is a data set built by bench/portal_pages.py (1,000,000 demo events, projected,
demo users imported). Each format is generated in a child process of its
own, through the real service (``report_generate``: the requester's access
policies, masking, the writer, Django's storage), so the child's peak RSS
(``ru_maxrss``) is the report's memory. Prints rows, seconds, rows/s, file
size, the peak RSS of the generating process and of its largest worker
(REPORT_WORKERS), and the peak proportional set size of them all (sampled every
50 ms from /proc: shared pages counted once), per format, and the command.
"""

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

from _setup import setup_django

ROOT = Path(__file__).resolve().parent.parent


def child(args) -> None:
    setup_django(Path(args.workdir), REPORT_RUNNER="worker")
    from django.contrib.auth import get_user_model

    from reports.models import ReportJob
    from reports.services import report_generate, report_request

    user = get_user_model().objects.get(username=args.user)
    job = report_request(requested_by=user, type=args.type, format=args.child, params=json.loads(args.params))
    started = time.perf_counter()
    job = report_generate(job_id=job.pk)
    elapsed = time.perf_counter() - started
    assert job.status == ReportJob.DONE, job.error
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"format": args.child, "rows": job.rows, "seconds": elapsed, "bytes": job.size,
                      "peak_rss_mb": peak_mb, "workers_rss_mb": workers_mb}))


def watch_memory(process) -> float:
    """The peak, while ``process`` runs, of the proportional set size (MB) of it and its
    descendants (REPORT_WORKERS): shared pages counted once, unlike a sum of RSS."""
    peak = 0.0
    while process.poll() is None:
        pids, total = tree(process.pid), 0.0
        for pid in pids:
            try:
                with open(f"/proc/{pid}/smaps_rollup") as rollup:
                    total += next(int(line.split()[1]) for line in rollup if line.startswith("Pss:")) / 1024
            except (OSError, StopIteration):
                pass  # gone meanwhile
        peak = max(peak, total)
        time.sleep(0.05)
    return peak


def tree(root: int) -> list[int]:
    """``root`` and its descendants, from /proc."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    found, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True, help="a data set built by bench/portal_pages.py")
    parser.add_argument("--formats", default="csv,xlsx,bundle")
    parser.add_argument("--user", default="compliance")
    parser.add_argument("--type", default="search_export")
    parser.add_argument("--params", default="{}")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    print(f"data set: {args.workdir}; report {args.type} {args.params} as {args.user}; 2-core machine, noisy")
    for fmt in args.formats.split(","):
        child_process = subprocess.Popen([sys.executable, __file__, "--workdir", args.workdir, "--user", args.user,
                                          "--type", args.type, "--params", args.params, "--child", fmt],
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        peak = watch_memory(child_process)
        stdout, stderr = child_process.communicate()
        if child_process.returncode:
            sys.exit(f"{fmt} failed:\n{stderr[-3000:]}")
        result = json.loads(stdout.strip().splitlines()[-1])
        print(f"{fmt:<7} {result['rows']:>10,} rows in {result['seconds']:7.1f} s = "
              f"{result['rows'] / result['seconds']:>9,.0f} rows/s; file {result['bytes'] / 1e6:8.1f} MB; "
              f"peak RSS {result['peak_rss_mb']:4.0f} MB (generator), {result['workers_rss_mb']:4.0f} MB "
              f"(largest worker); peak PSS of all {peak:4.0f} MB")
    print("command: .venv/bin/python bench/reports.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]))


if __name__ == "__main__":
    main()
