"""The Zappa stages (zappa_settings.json) and the packages they build.

Three parts:
- the settings themselves (no build): stages, runtime, architecture, VPC, KMS, log
  retention, the processor's stream binding and its limits, the schedule;
- the packages, built by ``deploy/package.py`` from a lean deploy environment (once per
  session, cached under pytest's cache directory while pyproject.toml is unchanged), then
  inspected: size, bytecode, wheel tags, nothing of the test tools;
- the packaged handler run as Lambda would run it: a fresh interpreter with only the
  unpacked package on ``sys.path`` (``deploy.package.invoke``), fed API Gateway events.

Stream events: ``processor_package`` is the unpacked processor package and
``run_packaged(package_dir, events, env)`` runs its handler on a list of events and returns
``{"results": [...], ...}``; ``lambda_env`` is a production environment on a migrated
SQLite database. Stream records must carry the stage's ``eventSourceARN``
(``stream_arn()``): Zappa routes them by it.
"""

import ast
import inspect
import json
import os
import re
import socket
import sqlite3
import struct
import subprocess
import zipfile
from pathlib import Path

import pytest

from deploy import package as lambda_package
from tests.conftest import AWS_TEST_ENV

ROOT = Path(__file__).resolve().parents[2]
STAGES = lambda_package.zappa_stages()
PORTAL, PROCESSOR = STAGES["prod"], STAGES["processor"]
HOST = "abc123defg.execute-api.eu-west-1.amazonaws.com"
PEER, SPOOFED = "192.0.2.44", "203.0.113.66"
TEST_TOOLS = ("pytest", "_pytest", "pytest_django", "moto", "playwright", "pytest_playwright", "hypothesis",
              "cfnlint", "pypdf", "eventsourcing", "gunicorn")
# 250 MB unzipped is Lambda's limit; 50 MiB is the largest zip uploaded directly.
UNZIPPED_LIMIT, ZIPPED_GOAL = 250 * 10**6, 50 * 2**20

run_packaged = lambda_package.invoke


def processor_binding() -> dict:
    (binding,) = [e for e in PROCESSOR["events"] if "event_source" in e]
    return binding


def stream_arn() -> str:
    """The DynamoDB stream the processor stage is bound to."""
    return processor_binding()["event_source"]["arn"]


def template_parameter_default(name: str) -> str:
    from audit_events.aws_resources import template

    return template()["Parameters"][name]["Default"]


# -- the settings ---------------------------------------------------------------------------


@pytest.mark.parametrize("stage", list(STAGES))
def test_both_stages_run_django_on_the_declared_runtime_in_the_vpc(stage):
    config = STAGES[stage]
    assert config["runtime"] == "python3.11" and config["architecture"] == "x86_64"
    assert lambda_package.platform_tags() == ["manylinux2014_x86_64"]
    assert config["django_settings"] == "portal.settings"
    assert config["app_function"] == "portal.lambda_wsgi.application"
    assert config["debug"] is False and config["log_level"] == "INFO"
    assert config["use_precompiled_packages"] is False  # the wheels are picked by deploy/package.py
    vpc = config["vpc_config"]
    assert len(vpc["SubnetIds"]) >= 2 and all(s.startswith("subnet-") for s in vpc["SubnetIds"])
    assert vpc["SecurityGroupIds"] and all(g.startswith("sg-") for g in vpc["SecurityGroupIds"])
    assert re.fullmatch(r"arn:aws:kms:[a-z0-9-]+:\d{12}:key/[0-9a-f-]{36}", config["aws_kms_key_arn"])
    assert isinstance(config["log_retention_days"], int) and 1 <= config["log_retention_days"] <= 3653
    assert config["callbacks"]["post"] == "deploy.package.apply_log_retention"
    assert config["manage_roles"] is False
    assert config["role_arn"].endswith({"prod": "-portal", "ingest": "-publisher", "processor": "-processor"}[stage])


@pytest.mark.parametrize("stage", list(STAGES))
def test_secrets_are_named_never_held(stage):
    config = STAGES[stage]
    assert config["environment_variables"] == {}  # nothing baked into the package
    variables = config["aws_environment_variables"]
    assert variables["DJANGO_ENV"] == "production"
    assert variables.get("AUDIT_SECRETS_ID") or variables.get("AUDIT_SSM_PATH")
    assert not {"DJANGO_SECRET_KEY", "DATABASE_URL", "AWS_SECRET_ACCESS_KEY"} & set(variables)
    assert variables["REPORT_WORKERS"] == "1"


def test_function_names_are_the_ones_the_template_watches():
    # Zappa names a function <project_name>-<stage>; the template's alarms and roles use these.
    assert f"{PORTAL['project_name']}-prod" == template_parameter_default("PortalFunctionName")
    assert f"{PROCESSOR['project_name']}-processor" == template_parameter_default("ProcessorFunctionName")


def test_publishers_have_a_stage_of_their_own_and_only_it_takes_events():
    """The ingest stage runs under the publisher role (which may write any tenant's events);
    the portal's role writes only its own access audit, so its API does not take events."""
    ingest = STAGES["ingest"]
    assert ingest["role_arn"].endswith(":role/compliance-portal-prod-publisher")
    assert ingest.get("apigateway_enabled", True) is True and ingest["events"] == []
    ingest_env, portal_env = ingest["aws_environment_variables"], PORTAL["aws_environment_variables"]
    assert (ingest_env["AUDIT_INGEST"], ingest_env["PORTAL_API_ONLY"]) == ("true", "true")  # the API alone
    assert (portal_env["AUDIT_INGEST"], portal_env["PORTAL_SERVE_STATIC"]) == ("false", "true")
    differ = {"AUDIT_INGEST", "PORTAL_API_ONLY", "PORTAL_SERVE_STATIC", "DJANGO_ALLOWED_HOSTS"}
    assert {k: v for k, v in ingest_env.items() if k not in differ} == {
        k: v for k, v in portal_env.items() if k not in differ}
    assert f"{PORTAL['project_name']}-ingest" == template_parameter_default("IngestFunctionName")


def test_the_portal_stage_serves_api_gateway_and_runs_the_schedules():
    assert PORTAL.get("apigateway_enabled", True) is True and PORTAL["apigateway_version"] == "v1"
    assert PORTAL["keep_warm"] is True
    (schedule,) = PORTAL["events"]
    assert schedule == {**schedule, "function": "reports.tasks.run_due_schedules", "expression": "rate(5 minutes)"}
    from reports.tasks import run_due_schedules

    assert list(inspect.signature(run_due_schedules).parameters) == ["event", "context"]


def test_the_processor_stage_binds_the_stream_with_finite_retries():
    assert PROCESSOR["apigateway_enabled"] is False and PROCESSOR["keep_warm"] is False
    binding = processor_binding()
    assert binding["function"] == "audit_events.stream.handler"
    source = binding["event_source"]
    assert re.fullmatch(r"arn:aws:dynamodb:[a-z0-9-]+:\d{12}:table/compliance-portal-prod-events/stream/.+",
                        source["arn"])
    assert source["enabled"] is True and 1 <= source["batch_size"] <= 1000
    assert source["starting_position"] == "TRIM_HORIZON"
    assert source["bisect_batch_on_function_error"] is True
    assert 0 <= source["maximum_retry_attempts"] <= 10_000  # -1 would retry until the record expires
    assert 60 <= source["maximum_record_age_in_seconds"] <= 604_800  # -1 would be the stream's 24 h
    assert source["function_response_types"] == ["ReportBatchItemFailures"]
    destination = source["destination_config"]["OnFailure"]["Destination"]
    assert re.fullmatch(r"arn:aws:sqs:[a-z0-9-]+:\d{12}:compliance-portal-prod-processor-failures", destination)
    # Zappa passes only the batch size on (below): the template's mapping must say the same.
    from audit_events.aws_resources import template_resources

    mapping = template_resources()["ProcessorStreamMapping"]["Properties"]
    assert (mapping["BatchSize"], mapping["StartingPosition"], mapping["BisectBatchOnFunctionError"],
            mapping["MaximumRetryAttempts"], mapping["MaximumRecordAgeInSeconds"], mapping["FunctionResponseTypes"]) == (
        source["batch_size"], source["starting_position"], source["bisect_batch_on_function_error"],
        source["maximum_retry_attempts"], source["maximum_record_age_in_seconds"], source["function_response_types"])


def test_the_processor_stage_archives_each_day():
    archive, silence, checkpoints = [e for e in PROCESSOR["events"] if "event_source" not in e]
    assert archive["function"] == "audit_events.tasks.export_daily_archive"
    assert silence["function"] == "audit_events.tasks.check_alert_silence"
    assert checkpoints["function"] == "audit_events.tasks.make_checkpoints"
    assert silence["expression"] == checkpoints["expression"] == "rate(5 minutes)"
    assert archive["expression"].startswith("cron(") and "export_daily_archive" not in str(PORTAL["events"])
    from audit_events.tasks import export_daily_archive

    assert list(inspect.signature(export_daily_archive).parameters) == ["event", "context"]


def test_zappa_passes_only_batch_size_and_enabled_to_a_dynamodb_mapping():
    """Why the template, not Zappa, owns the stream's event source mapping (docs/DEPLOY.md, step 7; the template's ProcessorStreamMapping):
    if this fails, Zappa learnt more keys: reconsider who creates the mapping."""
    from zappa.utilities import DynamoDBStreamEventSource

    calls = []

    class Lambda:
        def create_event_source_mapping(self, **kwargs):
            calls.append(kwargs)

    class Session:
        def client(self, name):
            return Lambda()

    binding = processor_binding()
    DynamoDBStreamEventSource(Session(), binding["event_source"]).add("arn:aws:lambda:function:processor")
    assert set(calls[0]) == {"FunctionName", "EventSourceArn", "BatchSize", "Enabled"}


def test_the_kept_botocore_models_cover_every_client_the_project_makes():
    used = set()
    for path in [*ROOT.glob("portal/**/*.py"), *ROOT.glob("audit_events/**/*.py"), *ROOT.glob("reports/**/*.py")]:
        used |= set(re.findall(r"""(?:client|_client)\(\s*["']([a-z0-9-]+)["']""", path.read_text()))
    assert used and used <= lambda_package.BOTOCORE_SERVICES, used - lambda_package.BOTOCORE_SERVICES


def test_zappa_alone_would_believe_a_forged_x_forwarded_for():
    """The reason for portal.lambda_wsgi: Zappa's REMOTE_ADDR comes from the client's header."""
    from zappa.wsgi import create_wsgi_request

    from portal.lambda_wsgi import source_ip

    event = lambda_package.api_gateway_event("GET", "/admin/login/", host=HOST, source_ip=PEER,
                                        headers={"X-Forwarded-For": SPOOFED})
    assert create_wsgi_request(event)["REMOTE_ADDR"] == SPOOFED
    assert source_ip(event) == PEER
    assert source_ip({"version": "2.0", "requestContext": {"http": {"sourceIp": PEER}}}) == PEER
    assert source_ip({"httpMethod": "GET", "path": "/"}) is None


# -- the packages ---------------------------------------------------------------------------


def _pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def packages(request, tmp_path_factory) -> dict[str, Path]:
    """Every stage's zip, built by deploy/package.py (the lean environment cached between runs
    in pytest's cache; in a temporary directory when the cache is off)."""
    cache = getattr(request.config, "cache", None)
    build_dir = Path(cache.mkdir("lambda-build")) if cache else tmp_path_factory.mktemp("lambda-build")
    try:
        return lambda_package.build(build_dir)
    except (subprocess.CalledProcessError, SystemExit):
        if not os.environ.get("CI") and not _pypi_reachable():
            pytest.skip("building the lean deploy environment needs PyPI, which is out of reach")
        raise


@pytest.fixture(scope="session")
def unpacked(packages, tmp_path_factory) -> dict[str, Path]:
    return {stage: lambda_package.unpack(path, tmp_path_factory.mktemp(f"lambda-{stage}"))
            for stage, path in packages.items()}


@pytest.fixture(scope="session")
def portal_package(unpacked) -> Path:
    return unpacked["prod"]


@pytest.fixture(scope="session")
def processor_package(unpacked) -> Path:
    return unpacked["processor"]


@pytest.mark.parametrize("stage", list(STAGES))
def test_the_package_fits_lambda(packages, stage):
    zipped, unzipped = lambda_package.sizes(packages[stage])
    print(f"{stage}: zipped {zipped / 2**20:.1f} MiB, unzipped {unzipped / 2**20:.1f} MiB")
    assert unzipped < UNZIPPED_LIMIT
    assert zipped < ZIPPED_GOAL


@pytest.mark.parametrize("stage", list(STAGES))
def test_the_package_holds_the_handler_and_no_test_tools(packages, stage):
    with zipfile.ZipFile(packages[stage]) as archive:
        names = archive.namelist()
        settings = archive.read("zappa_settings.py").decode()
    tops = {name.split("/")[0] for name in names}
    assert {"handler.py", "zappa_settings.py", "portal", "audit_events", "reports", "django", "zappa"} <= tops
    dists = {top.split("-")[0].lower() for top in tops if top.endswith(".dist-info")}
    assert not {t.lower() for t in TEST_TOOLS} & (tops | dists)
    assert not {"tests", "docs", "bench", "deploy", "var", ".venv", "grpc"} & tops
    assert "portal/templates/admin/base_site.html" in names or any(n.startswith("portal/templates/") for n in names)
    assert "\nDEBUG=False\n" in settings  # Zappa's own error bodies without a traceback
    baked = ast.literal_eval(re.search(r"^ENVIRONMENT_VARIABLES=(.*)$", settings, flags=re.M).group(1))
    assert set(baked) <= {"AWS_REGION"}, baked  # Zappa adds the region; nothing else is baked in
    if stage == "processor":
        assert f"AWS_EVENT_MAPPING={{'{stream_arn()}': ['audit_events.stream.handler']}}" in settings


def test_the_package_ships_bytecode_that_lambda_will_use(packages):
    """Every project module has an unchecked-hash pyc (flags 0b01): valid on a read-only
    /var/task whose files carry no useful mtime."""
    with zipfile.ZipFile(packages["prod"]) as archive:
        names = set(archive.namelist())
        # (Zappa drops an empty __init__.py into each __pycache__ folder: not a module of ours.)
        sources = [n for n in names if n.endswith(".py") and n.split("/")[0] in lambda_package.PROJECT_PACKAGES
                   and "/__pycache__/" not in n]
        assert len(sources) > 50
        for source in [*sources, "django/__init__.py", "pydantic/main.py"]:
            folder, _, module = source.rpartition("/")
            cached = f"{folder}/__pycache__/{module[:-3]}.cpython-311.pyc"
            assert cached in names, cached
            flags = struct.unpack("<I", archive.read(cached)[4:8])[0]
            assert flags == 0b01, (cached, flags)


def test_every_wheel_in_the_package_loads_on_the_declared_runtime(packages):
    allowed = re.compile(r"py[23]-none-any|cp311-cp311-(manylinux2014|manylinux_2_17|manylinux2010|manylinux_2_12"
                         r"|manylinux1|manylinux_2_5)_x86_64|cp3(?:[2-9]|1[01])-abi3-(manylinux2014|manylinux_2_17"
                         r"|manylinux2010|manylinux_2_12|manylinux1|manylinux_2_5)_x86_64")
    with zipfile.ZipFile(packages["prod"]) as archive:
        wheels = [n for n in archive.namelist() if re.fullmatch(r"[^/]+\.dist-info/WHEEL", n)]
        assert len(wheels) > 20
        for wheel in wheels:
            tags = re.findall(r"^Tag: (.+)$", archive.read(wheel).decode(), flags=re.M)
            # One tag for the runtime suffices (a wheel may also name newer glibcs); none may be a
            # local build (linux_x86_64) or another platform.
            assert any(allowed.fullmatch(tag) for tag in tags), (wheel, tags)
            assert not any(re.search(r"-(linux_|macosx|win|musllinux|any_)", tag) for tag in tags), (wheel, tags)
        for name in archive.namelist():
            if re.search(r"\.so(\.\d+)*$", name):
                header = archive.open(name).read(20)
                # ELF, 64-bit, little-endian, e_machine 62 = x86-64: no host or macOS builds.
                assert header[:5] == b"\x7fELF\x02" and struct.unpack("<H", header[18:20])[0] == 62, name


# -- the packaged handler -------------------------------------------------------------------

SECRET_KEY = "lambda-package-test-" + "k3y" * 12


@pytest.fixture(scope="session")
def lambda_env(portal_package, moto_url, tmp_path_factory) -> dict:
    """A production environment whose secrets come from Secrets Manager (moto) and whose
    database is a SQLite file migrated through the packaged handler (``manage``)."""
    import boto3

    workdir = tmp_path_factory.mktemp("lambda-var")
    secret_name = f"compliance-portal/test-{os.getpid()}/django"
    secrets = boto3.client("secretsmanager", endpoint_url=moto_url, region_name=AWS_TEST_ENV["AWS_DEFAULT_REGION"],
                           aws_access_key_id="testing", aws_secret_access_key="testing")
    secrets.create_secret(Name=secret_name, SecretString=json.dumps(
        {"DJANGO_SECRET_KEY": SECRET_KEY, "DATABASE_URL": f"sqlite:///{workdir / 'portal.sqlite3'}"}))
    env = {**AWS_TEST_ENV, "AWS_ENDPOINT_URL": moto_url, "AUDIT_SECRETS_ID": secret_name, "DJANGO_ENV": "production",
           "DJANGO_ALLOWED_HOSTS": HOST, "AUDIT_VAR_DIR": str(workdir), "LOG_LEVEL": "INFO"}
    run_packaged(portal_package, [{"manage": "migrate --noinput"}], env)
    env["_DATABASE"] = str(workdir / "portal.sqlite3")  # for the tests; ignored by the portal
    return env


def test_the_packaged_portal_serves_a_page_with_secrets_from_secrets_manager(portal_package, lambda_env):
    outcome = run_packaged(portal_package, [lambda_package.api_gateway_event("GET", "/admin/login/", host=HOST,
                                                                        source_ip=PEER)], lambda_env)
    (response,) = outcome["results"]
    assert response["statusCode"] == 200, response
    assert "csrfmiddlewaretoken" in response["body"] and 'action="/prod/admin/login/' in response["body"]
    print(f"import {outcome['import_s']:.2f} s, init {outcome['init_s']:.2f} s, "
          f"first request {outcome['request_s'][0]:.2f} s")


def test_the_packaged_portal_records_api_gateways_source_ip_not_a_forged_header(portal_package, lambda_env):
    token = "A" * 32  # a CSRF secret of the client's choosing: cookie and form agree
    form = f"csrfmiddlewaretoken={token}&username=nobody-{os.getpid()}&password=wrong-password&next=/prod/admin/"
    event = lambda_package.api_gateway_event(
        "POST", "/admin/login/", host=HOST, source_ip=PEER, body=form,
        headers={"X-Forwarded-For": SPOOFED, "Content-Type": "application/x-www-form-urlencoded",
                 "Cookie": f"csrftoken={token}", "Origin": f"https://{HOST}",
                 "Referer": f"https://{HOST}/prod/admin/login/"})
    (response,) = run_packaged(portal_package, [event], lambda_env)["results"]
    assert response["statusCode"] == 200, response  # the form again, with its error
    with sqlite3.connect(lambda_env["_DATABASE"]) as db:
        records = [json.loads(r) for (r,) in db.execute(
            "SELECT record FROM audit_event WHERE event_type = 'SignInFailed'")]
    (record,) = [r for r in records if f"nobody-{os.getpid()}" in json.dumps(r)]
    assert PEER in json.dumps(record) and SPOOFED not in json.dumps(record)


def test_the_packaged_portal_serves_the_apps_static_files(portal_package, lambda_env):
    """No web server sits in front on Lambda: the admin's CSS comes from the package, by Django."""
    event = lambda_package.api_gateway_event("GET", "/static/admin/css/base.css", host=HOST, source_ip=PEER)
    (response,) = run_packaged(portal_package, [event], {**lambda_env, "PORTAL_SERVE_STATIC": "true"})["results"]
    assert response["statusCode"] == 200, response
    assert "public" in response["headers"]["Cache-Control"]


def test_the_packaged_portal_answers_errors_generically(portal_package, lambda_env):
    (response,) = run_packaged(portal_package, [lambda_package.api_gateway_event(
        "GET", "/no-such-page/", host=HOST, source_ip=PEER)], lambda_env)["results"]
    assert response["statusCode"] == 404
    assert "URLconf" not in response["body"] and "Traceback" not in response["body"]


def test_the_packaged_processor_applies_stream_records_and_reports_failures(processor_package, lambda_env, moto_url,
                                                                          monkeypatch):
    """Records read back from the test server's stream, routed by Zappa's handler to the
    stream processor in the packaged function, one of them tampered with."""
    from audit_events.aws_resources import make_table
    from audit_events.store.dynamodb import DynamoDBEventStore
    from tests.audit_events.store.contracts import event
    from tests.audit_events.test_stream import events_of, read_stream

    for name, value in {**AWS_TEST_ENV, "AWS_ENDPOINT_URL": moto_url}.items():
        monkeypatch.setenv(name, value)
    table = f"events-zappa-{os.getpid()}"
    make_table("events", table)
    DynamoDBEventStore(table=table).append([event(aggregate_id="z1", payload={"n": 1}, pii=[]),
                                            event(aggregate_id="z2", payload={"n": 2}, pii=[])])
    import boto3

    arn = boto3.client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
    records = events_of(read_stream(boto3.client("dynamodbstreams"), arn))
    for record in records:
        record["eventSourceARN"] = stream_arn()  # the stage's stream: what Zappa routes by
    tampered = json.loads(json.dumps(records[1]))
    tampered["dynamodb"]["NewImage"]["record"]["S"] = tampered["dynamodb"]["NewImage"]["record"]["S"].replace(
        '"n":2', '"n":3')
    alert_state = f"alert-state-zappa-{os.getpid()}"
    make_table("alert_state", alert_state)  # the alert rules' windows live on DynamoDB too
    env = {**lambda_env, "AUDIT_STORE": "dynamodb", "AUDIT_DYNAMODB_EVENTS_TABLE": table,
           "AUDIT_DYNAMODB_ALERT_STATE_TABLE": alert_state}
    results = run_packaged(processor_package, [{"Records": records}, {"Records": [tampered]}], env)["results"]
    assert results == [{"batchItemFailures": []},
                       {"batchItemFailures": [{"itemIdentifier": tampered["dynamodb"]["SequenceNumber"]}]}]
    with sqlite3.connect(lambda_env["_DATABASE"]) as db:
        states = dict(db.execute("SELECT aggregate_id, state FROM audit_aggregate_state WHERE aggregate_id LIKE 'z%'"))
    assert {key: json.loads(value) for key, value in states.items()} == {"z1": {"n": 1}, "z2": {"n": 2}}
    # the built-in silence rule noted the tenant's newest event in the alert-state table
    keys = [item["sk"]["S"] for item in boto3.client("dynamodb").scan(TableName=alert_state)["Items"]]
    assert keys == ["tenant:acme"]

