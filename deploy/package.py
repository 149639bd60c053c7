"""Build the Lambda packages of the Zappa stages from a lean deploy environment.

Usage: python deploy/package.py [--build-dir DIR] [--stage STAGE ...] [-- ZAPPA ARGS]

1. **The lean environment** (``DIR/venv``): a fresh virtualenv holding the runtime
   dependencies of ``pyproject.toml`` (``[project] dependencies``, Zappa among them, since
   Zappa runs from the environment it packages) and nothing else: no test tools, no browser,
   no moto. Every wheel is picked for the Lambda runtime on purpose: ``pip download
   --only-binary=:all: --platform manylinux2014_<arch> --python-version 3.11 --abi cp311``
   (Amazon Linux 2, glibc 2.26, takes manylinux2014 = glibc 2.17), then installed offline from
   that wheelhouse. Zappa's own wheel swap (``use_precompiled_packages``) is off: it asks an
   index this machine cannot reach and silently keeps the host's wheels when it fails. The
   environment is reused while ``pyproject.toml`` and this recipe are unchanged.
2. **The staging tree** (``DIR/stage``): the project's packages copied from the working tree
   (templates and static files included, which a wheel of the project would miss) beside
   ``zappa_settings.json``, so Zappa's copy of "the current directory" holds nothing else.
   The project and the environment are compiled to bytecode with *unchecked-hash* pycs: the
   Lambda's files are read-only and their zip entries carry no useful mtime, so
   timestamp-checked pycs would be stale there and every cold start would recompile.
3. **The packages**: ``zappa package STAGE -o DIR/STAGE.zip`` for each stage, sizes printed.

Anything after ``--`` is run as a Zappa command in the staging tree with the lean
environment instead (``python deploy/package.py -- update prod``): deploy that way, never
from the repository root, or Zappa packages the whole checkout.

``apply_log_retention`` is the stages' ``post`` callback (``zappa_settings.json``): Zappa has
no setting for the retention of a function's log group, so it is set after each deploy.
"""

import argparse
import compileall
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

__all__ = ["BOTOCORE_SERVICES", "LAMBDA_PYTHON", "api_gateway_event", "apply_log_retention", "build", "invoke",
           "lean_venv", "package", "platform_tags", "sizes", "stage_tree", "unpack", "zappa_stages"]

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ROOT / "zappa_settings.json"
PROJECT_PACKAGES = ("portal", "audit_events", "reports")
LAMBDA_PYTHON = "3.11"
# Lambda's python3.11 runtime is Amazon Linux 2 (glibc 2.26): manylinux2014 (glibc 2.17)
# wheels load there; pip also accepts manylinux2010 and manylinux1 under this tag.
MANYLINUX = "manylinux2014"
# The AWS services whose botocore models the packages keep (botocore is shipped, pinned,
# rather than taken from the runtime; its other ~440 models are 20 MB nobody here calls):
# the portal's own clients (tests/deploy checks every boto3.client("…") of the project is
# here), Zappa's at run time (asynchronous tasks: lambda, sns, dynamodb; remote settings: s3)
# and the credential chain's.
BOTOCORE_SERVICES = frozenset({
    "dynamodb", "dynamodbstreams", "s3", "sns", "sqs", "kms", "secretsmanager", "ssm", "lambda", "logs",
    "sts", "sso", "sso-oidc",
})
# Dependencies published as source only; each must be pure Python (checked: its wheel,
# built here, must be tagged ``*-none-any``). placebo is a deploy-time dependency of Zappa.
PURE_SOURCE_ONLY = ("placebo<0.10",)
# Bump when the recipe below changes, so cached environments are rebuilt.
RECIPE = "3"
# Dummy credentials: `zappa package` builds boto3 clients (it calls no AWS API).
AWS_DUMMY = {"AWS_ACCESS_KEY_ID": "packaging", "AWS_SECRET_ACCESS_KEY": "packaging", "AWS_DEFAULT_REGION": "eu-west-1"}


def zappa_stages() -> dict:
    """The stages of ``zappa_settings.json``, each with its ``extends`` chain resolved."""
    raw = json.loads(SETTINGS.read_text())

    def resolved(name: str, seen=()) -> dict:
        if name in seen:
            raise ValueError(f"zappa_settings.json: stage {name!r} extends itself")
        stage = raw[name]
        base = resolved(stage["extends"], seen + (name,)) if "extends" in stage else {}
        return {**base, **{k: v for k, v in stage.items() if k != "extends"}}

    return {name: resolved(name) for name in raw}


def platform_tags() -> list[str]:
    """The one platform the stages declare, as pip's ``--platform`` tag."""
    architectures = {stage.get("architecture", "x86_64") for stage in zappa_stages().values()}
    if len(architectures) != 1:
        raise SystemExit(f"zappa_settings.json: the stages must share one architecture, not {sorted(architectures)}")
    machine = {"x86_64": "x86_64", "arm64": "aarch64"}[architectures.pop()]
    return [f"{MANYLINUX}_{machine}"]


def runtime_dependencies() -> list[str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def _run(command: list, **kwargs) -> None:
    print("+", " ".join(str(part) for part in command), flush=True)
    subprocess.run([str(part) for part in command], check=True, **kwargs)


def lean_venv(build_dir: Path) -> Path:
    """The lean deploy environment under ``build_dir`` (built, or reused while up to date)."""
    if sys.version_info[:2] != tuple(int(p) for p in LAMBDA_PYTHON.split(".")):
        raise SystemExit(f"run this with Python {LAMBDA_PYTHON}, the Lambda runtime's "
                         f"(this is {sys.version.split()[0]})")
    venv, wheelhouse = build_dir / "venv", build_dir / "wheelhouse"
    key = hashlib.sha256(
        "\n".join([RECIPE, *platform_tags(), *runtime_dependencies(), sys.version]).encode()
    ).hexdigest()
    stamp = venv / ".lean-stamp"
    if stamp.exists() and stamp.read_text() == key and (venv / "bin" / "zappa").exists():
        print(f"lean environment up to date: {venv}")
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    shutil.rmtree(wheelhouse, ignore_errors=True)
    _run([sys.executable, "-m", "venv", venv])
    python = venv / "bin" / "python"
    # Local wheel folders (PIP_FIND_LINKS) may hold builds for this host: the index only.
    env = {k: v for k, v in os.environ.items() if k not in ("PIP_FIND_LINKS", "PIP_NO_INDEX")}
    platforms = [arg for tag in platform_tags() for arg in ("--platform", tag)]
    if PURE_SOURCE_ONLY:
        _run([python, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", wheelhouse, *PURE_SOURCE_ONLY],
             env=env)
        impure = [w.name for w in wheelhouse.glob("*.whl") if not w.name.endswith("-none-any.whl")]
        if impure:
            raise SystemExit(f"built from source, yet not pure Python: {impure}")
    _run([python, "-m", "pip", "download", "--quiet", "--dest", wheelhouse, "--only-binary=:all:", *platforms,
          "--python-version", LAMBDA_PYTHON, "--implementation", "cp", "--abi", "cp" + LAMBDA_PYTHON.replace(".", ""),
          "--abi", "abi3", "--abi", "none", "--find-links", wheelhouse, *runtime_dependencies()], env=env)
    _run([python, "-m", "pip", "install", "--quiet", "--no-index", "--find-links", wheelhouse,
          *runtime_dependencies()], env=env)
    stamp.write_text(key)
    return venv


def _site_packages(venv: Path) -> Path:
    return venv / "lib" / f"python{LAMBDA_PYTHON}" / "site-packages"


def _compile(python: Path, *paths: Path) -> None:
    # Lambda cannot write next to its code, and mtimes do not survive the zip:
    # pycs valid without looking at the source are the ones that get used.
    _run([python, "-m", "compileall", "-q", "-f", "-j", "0", "--invalidation-mode", "unchecked-hash",
          *paths], stdout=subprocess.DEVNULL)


def _staged_settings(venv: Path) -> dict:
    """``zappa_settings.json`` as Zappa gets it: each stage also leaves out the API models of
    the AWS services outside ``BOTOCORE_SERVICES`` (the deploy environment keeps them all)."""
    settings = json.loads(SETTINGS.read_text())
    data = _site_packages(venv) / "botocore" / "data"
    unused = sorted(f"botocore/data/{d.name}" for d in data.iterdir() if d.is_dir() and d.name not in BOTOCORE_SERVICES)
    for stage in settings.values():
        if "extends" not in stage or "exclude_glob" in stage:
            stage["exclude_glob"] = [*stage.get("exclude_glob", []), *unused]
    return settings


def stage_tree(build_dir: Path, venv: Path) -> Path:
    """The directory Zappa packages from: the project's packages and ``zappa_settings.json``."""
    stage = build_dir / "stage"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")
    for name in PROJECT_PACKAGES:
        shutil.copytree(ROOT / name, stage / name, ignore=ignore)
    (stage / SETTINGS.name).write_text(json.dumps(_staged_settings(venv), indent=2))
    # The post-deploy callback (deploy.package.apply_log_retention), resolved from here.
    (stage / "deploy").mkdir()
    shutil.copy(Path(__file__), stage / "deploy" / "package.py")
    _compile(venv / "bin" / "python", *(stage / name for name in PROJECT_PACKAGES), _site_packages(venv))
    return stage


def _zappa_env(venv: Path, *, dummy_credentials: bool) -> dict:
    # Deploys use the operator's own credentials (environment or profile) untouched.
    env = {**(AWS_DUMMY if dummy_credentials else {}), **os.environ,
           "VIRTUAL_ENV": str(venv), "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    return env


def package(build_dir: Path, stage_dir: Path, venv: Path, stage: str) -> Path:
    """``zappa package STAGE``: the zip, under ``build_dir``."""
    output = (build_dir / f"{stage}.zip").resolve()
    output.unlink(missing_ok=True)
    _run([venv / "bin" / "zappa", "package", stage, "-o", output], cwd=stage_dir,
         env=_zappa_env(venv, dummy_credentials=True))
    return output


def sizes(zip_path: Path) -> tuple[int, int]:
    """(zipped, unzipped) bytes."""
    with zipfile.ZipFile(zip_path) as archive:
        return zip_path.stat().st_size, sum(info.file_size for info in archive.infolist())


def build(build_dir: Path, stages: list[str] | None = None) -> dict[str, Path]:
    """Every stage's package (or those of ``stages``), built from the lean environment."""
    build_dir = build_dir.resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    venv = lean_venv(build_dir)
    stage_dir = stage_tree(build_dir, venv)
    return {stage: package(build_dir, stage_dir, venv, stage) for stage in stages or list(zappa_stages())}


def unpack(zip_path: Path, directory: Path) -> Path:
    """``zip_path`` extracted into ``directory`` (as Lambda lays it out in /var/task)."""
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(directory)
    return directory


# Run in a fresh interpreter, as Lambda's runtime does: only the standard library and the
# package on sys.path (``-I -S``), the package as the working directory; the handler is
# Zappa's ``handler.py`` at the package's root.
_INVOKE = """
import json, sys, time
started = time.perf_counter()
package, events_file, results_file = sys.argv[1:4]
sys.path.insert(0, package)
import handler
imported = time.perf_counter()
handler.LambdaHandler()  # zappa_settings, the app module: django.setup(), the WSGI app
initialised = time.perf_counter()

class Context:
    function_name, aws_request_id, memory_limit_in_mb = "local", "00000000-0000-0000-0000-000000000000", 1024
    def get_remaining_time_in_millis(self):
        return 60000

results, durations = [], []
for event in json.load(open(events_file)):
    begun = time.perf_counter()
    results.append(handler.lambda_handler(event, Context()))
    durations.append(time.perf_counter() - begun)
json.dump({"import_s": imported - started, "init_s": initialised - imported, "request_s": durations,
           "results": results}, open(results_file, "w"), default=str)
"""


def invoke(package_dir: Path, events: list[dict], env: dict, *, python: str = sys.executable,
           timeout: float = 120) -> dict:
    """Run the package's handler on ``events`` in a fresh process with only ``env`` (plus
    PATH, HOME and LANG): ``{"import_s", "init_s", "request_s": [...], "results": [...]}``.

    Raises ``RuntimeError`` with the process's output when it fails.
    """
    with tempfile.TemporaryDirectory(prefix="lambda-invoke-") as scratch:
        events_file, results_file = Path(scratch) / "events.json", Path(scratch) / "results.json"
        events_file.write_text(json.dumps(events))
        base = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
        command = [python, "-I", "-S", "-c", _INVOKE, str(package_dir), str(events_file), str(results_file)]
        done = subprocess.run(command, cwd=package_dir, env={**base, **env}, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0 or not results_file.exists():
            raise RuntimeError(f"the handler failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
        outcome = json.loads(results_file.read_text())
        outcome["log"] = done.stdout + done.stderr
        return outcome


def api_gateway_event(method: str, path: str, *, host: str, source_ip: str, stage: str = "prod",
                      headers: dict | None = None, body: str | None = None) -> dict:
    """A REST API (payload 1.0) proxy event as API Gateway sends it: ``source_ip`` is the peer it
    saw; ``headers`` are the client's own (an ``X-Forwarded-For`` among them gets the peer
    appended, as API Gateway does)."""
    sent = {"Host": host, "X-Forwarded-Proto": "https", "X-Forwarded-Port": "443", **(headers or {})}
    forwarded = sent.get("X-Forwarded-For")
    sent["X-Forwarded-For"] = f"{forwarded}, {source_ip}" if forwarded else source_ip
    return {
        "resource": "/{proxy+}", "path": path, "httpMethod": method,
        "headers": sent, "multiValueHeaders": {name: [value] for name, value in sent.items()},
        "queryStringParameters": None, "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")}, "stageVariables": None,
        "requestContext": {"stage": stage, "httpMethod": method, "path": f"/{stage}{path}", "protocol": "HTTP/1.1",
                           "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
                           "identity": {"sourceIp": source_ip, "userAgent": sent.get("User-Agent", "")}},
        "body": body, "isBase64Encoded": False,
    }


def apply_log_retention(cli) -> None:
    """Zappa ``post`` callback: the function's log group kept ``log_retention_days`` days."""
    days = cli.stage_config.get("log_retention_days")
    if not days:
        return
    logs = cli.zappa.boto_session.client("logs")
    group = f"/aws/lambda/{cli.lambda_name}"
    try:
        logs.create_log_group(logGroupName=group)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    logs.put_retention_policy(logGroupName=group, retentionInDays=int(days))
    print(f"{group}: log retention {days} days")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", type=Path, default=ROOT / "build" / "lambda",
                        help="where the lean environment, the staging tree and the zips go (default: build/lambda)")
    parser.add_argument("--stage", action="append", help="a stage of zappa_settings.json (default: all)")
    parser.add_argument("zappa", nargs="*", help="after --: a Zappa command run in the staging tree instead")
    args = parser.parse_args(argv)
    if args.zappa:
        build_dir = args.build_dir.resolve()
        venv = lean_venv(build_dir)
        stage_dir = stage_tree(build_dir, venv)
        return subprocess.run([venv / "bin" / "zappa", *args.zappa], cwd=stage_dir,
                              env=_zappa_env(venv, dummy_credentials=False)).returncode
    for stage, path in build(args.build_dir, args.stage).items():
        zipped, unzipped = sizes(path)
        print(f"{stage:<10} {path}  zipped {zipped / 2**20:6.1f} MiB  unzipped {unzipped / 2**20:6.1f} MiB"
              "  (Lambda: 50 MiB zipped upload, 250 MB unzipped)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
