"""Run a command with a throwaway PostgreSQL server: ``python -m tests.services.postgres -- CMD``.

Exports ``TEST_POSTGRES_URL`` to the command. When it is set already, the
given server is used as it is. Without PostgreSQL installed the command
still runs (the PostgreSQL tests then skip), except under ``CI``, where that
is an error.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile


def _bindir() -> str | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for directory in candidates:
        if os.path.exists(os.path.join(directory, "initdb")):
            return directory
    found = shutil.which("initdb")
    return os.path.dirname(found) if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main(argv: list[str]) -> int:
    command = argv[argv.index("--") + 1 :] if "--" in argv else argv
    if os.environ.get("TEST_POSTGRES_URL"):
        return subprocess.call(command)
    bindir = _bindir()
    if bindir is None:
        if os.environ.get("CI"):
            print("PostgreSQL is not installed (run .ci/run, which installs it)", file=sys.stderr)
            return 2
        print("PostgreSQL not found: PostgreSQL tests will be skipped", file=sys.stderr)
        return subprocess.call(command)

    workdir = tempfile.mkdtemp(prefix="portal-pg-")
    data = os.path.join(workdir, "data")
    prefix = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        user = pwd.getpwnam("postgres")
        os.chown(workdir, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    pg_ctl = os.path.join(bindir, "pg_ctl")
    try:
        subprocess.run(
            prefix + [os.path.join(bindir, "initdb"), "-D", data, "-U", "postgres",
                      "--auth=trust", "-E", "UTF8", "--no-sync"],
            check=True, stdout=subprocess.DEVNULL,
        )
        # Durability is not under test here; fsync off makes the suite faster.
        options = f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200"
        subprocess.run(
            prefix + [pg_ctl, "-D", data, "-o", options, "-l", os.path.join(workdir, "log"), "-w", "start"],
            check=True, stdout=subprocess.DEVNULL,
        )
        env = dict(os.environ, TEST_POSTGRES_URL=f"postgres://postgres@127.0.0.1:{port}/postgres")
        return subprocess.call(command, env=env)
    finally:
        subprocess.run(prefix + [pg_ctl, "-D", data, "-m", "fast", "-w", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
