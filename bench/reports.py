"""Reports: rows per second and peak memory of a large report in each format.

Usage: .venv/bin/python bench/reports.py --workdir DIR [--formats csv,xlsx,bundle] [--user compliance]
                                         [--type search_export] [--params '{}']

DIR is a data set built by bench/portal_pages.py (1,000,000 demo events, projected,
demo users imported). Each format is generated in a child process of its
own, through the real service (``report_generate``: the requester's access
policies, masking, the writer, Django's storage), so the child's peak RSS
(``ru_maxrss``) is the report's memory. Prints rows, seconds, rows/s, file
size and peak RSS per format, and the command.
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
    print(json.dumps({"format": args.child, "rows": job.rows, "seconds": elapsed, "bytes": job.size,
                      "peak_rss_mb": peak_mb}))


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
        out = subprocess.run([sys.executable, __file__, "--workdir", args.workdir, "--user", args.user,
                              "--type", args.type, "--params", args.params, "--child", fmt],
                             capture_output=True, text=True, cwd=ROOT)
        if out.returncode:
            sys.exit(f"{fmt} failed:\n{out.stderr[-3000:]}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{fmt:<7} {result['rows']:>10,} rows in {result['seconds']:7.1f} s = "
              f"{result['rows'] / result['seconds']:>9,.0f} rows/s; file {result['bytes'] / 1e6:8.1f} MB; "
              f"peak RSS {result['peak_rss_mb']:6.0f} MB")
    print("command: .venv/bin/python bench/reports.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]))


if __name__ == "__main__":
    main()
