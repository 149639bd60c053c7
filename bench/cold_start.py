"""Cold start of the portal's Lambda package: a fresh process from the unpacked package.

Usage: .venv/bin/python bench/cold_start.py [--runs 10] [--zip build/lambda/prod.zip]
                                         [--build-dir build/lambda] [--path /admin/login/]

Builds the portal stage's package with deploy/package.py (the lean environment is reused
while pyproject.toml is unchanged) unless --zip names one, unzips it into a temporary
directory and migrates a temporary SQLite database through the packaged handler (Zappa's
``manage`` event). Then, --runs times, a fresh ``python -I -S`` whose ``sys.path`` holds the
standard library and the package only (as in Lambda's /var/task) imports Zappa's handler,
builds it (zappa_settings, ``portal.settings``, ``django.setup()``, the WSGI application)
and answers one API Gateway (REST) request for --path, in production settings
(DJANGO_ENV=production, DEBUG off). Prints each phase's median and max and the whole
process's wall time; the goal is under 1.5 s from process start to the first answer.

Not measured here: Lambda's own sandbox start and the download of the package, and the
Secrets Manager call (AUDIT_SECRETS_ID) that production makes while loading settings.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deploy import package as packaging  # noqa: E402

HOST = "abc123defg.execute-api.eu-west-1.amazonaws.com"
GOAL_S = 1.5


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--zip", type=Path, help="an existing portal package (default: build one)")
    parser.add_argument("--build-dir", type=Path, default=ROOT / "build" / "lambda")
    parser.add_argument("--path", default="/admin/login/")
    args = parser.parse_args(argv)

    zip_path = args.zip or packaging.build(args.build_dir, ["prod"])["prod"]
    zipped, unzipped = packaging.sizes(zip_path)
    with tempfile.TemporaryDirectory(prefix="cold-start-") as scratch:
        package_dir = packaging.unpack(zip_path, Path(scratch) / "task")
        env = {
            "DJANGO_ENV": "production",
            "DJANGO_SECRET_KEY": "cold-start-bench-" + "s3cr3t" * 8,
            "DJANGO_ALLOWED_HOSTS": HOST,
            "DATABASE_URL": f"sqlite:///{Path(scratch) / 'portal.sqlite3'}",
            "AUDIT_VAR_DIR": str(Path(scratch) / "var"),
            "LOG_LEVEL": "WARNING",
        }
        packaging.invoke(package_dir, [{"manage": "migrate --noinput"}], env)
        event = packaging.api_gateway_event("GET", args.path, host=HOST, source_ip="192.0.2.44")
        rows = []
        for _ in range(args.runs):
            started = time.perf_counter()
            outcome = packaging.invoke(package_dir, [event], env)
            wall = time.perf_counter() - started
            status = outcome["results"][0]["statusCode"]
            if status != 200:
                print(f"GET {args.path} answered {status}", file=sys.stderr)
                return 1
            first = outcome["request_s"][0]
            rows.append((outcome["import_s"], outcome["init_s"], first,
                         outcome["import_s"] + outcome["init_s"] + first, wall))

    print(f"$ .venv/bin/python bench/cold_start.py {' '.join(argv if argv is not None else sys.argv[1:])}".rstrip())
    print(f"package {zip_path.name}: zipped {zipped / 2**20:.1f} MiB, unzipped {unzipped / 2**20:.1f} MiB; "
          f"GET {args.path}, {args.runs} fresh processes")
    print(f"{'phase':<44} {'median s':>9} {'max s':>7}")
    labels = ["import handler (werkzeug, zappa, boto3)", "handler init (settings, django.setup(), app)",
              "first request", "import + init + first request", "process wall time (interpreter start to exit)"]
    for index, label in enumerate(labels):
        values = [row[index] for row in rows]
        print(f"{label:<44} {statistics.median(values):9.3f} {max(values):7.3f}")
    total = statistics.median(row[4] for row in rows)
    print(f"goal: first answer < {GOAL_S} s from a fresh process: {'met' if total < GOAL_S else 'NOT met'}"
          f" (median wall {total:.3f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
