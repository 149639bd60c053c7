"""Settings: safe local defaults; production refuses insecure ones."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DJANGO_ENV": "production",
    "DJANGO_SECRET_KEY": "p9Vq3xL7zR2mW8nB4cT6yH1jK5sD0fG3aE7uI9oP2lZ4xC6vB8nM1qW3eR5tY7uI",
    "DJANGO_ALLOWED_HOSTS": "audit.example.com",
    "DATABASE_URL": "sqlite:////tmp/portal-prod-check.sqlite3",
}


def run_django(args, env_overrides, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "AUDIT_", "DATABASE_URL"))}
    env.update({"AUDIT_VAR_DIR": str(tmp_path)}, **env_overrides)
    env["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_production_passes_check_deploy(tmp_path):
    result = run_django(["check", "--deploy", "--fail-level", "WARNING"], PRODUCTION, tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "change, message",
    [
        ({"DJANGO_SECRET_KEY": ""}, "DJANGO_SECRET_KEY must be set"),
        ({"DJANGO_SECRET_KEY": "short"}, "DJANGO_SECRET_KEY must be set"),
        ({"DJANGO_DEBUG": "true"}, "DJANGO_DEBUG must be off"),
        ({"DJANGO_ALLOWED_HOSTS": ""}, "DJANGO_ALLOWED_HOSTS must list"),
        ({"DATABASE_URL": ""}, "DATABASE_URL must be set"),
        ({"AUDIT_STORE": "cassandra"}, "AUDIT_STORE='cassandra'"),
        ({"SEARCH_BACKEND": "grep"}, "SEARCH_BACKEND='grep'"),
        ({"DJANGO_DEBUG": "maybe"}, "DJANGO_DEBUG='maybe'"),
    ],
)
def test_production_refuses_insecure_or_unknown_settings(tmp_path, change, message):
    result = run_django(["check"], {**PRODUCTION, **change}, tmp_path)
    assert result.returncode != 0
    assert message in result.stderr


def test_local_mode_generates_and_keeps_a_secret_key(tmp_path):
    first = run_django(["shell", "-c", "from django.conf import settings; print(settings.SECRET_KEY)"], {}, tmp_path)
    second = run_django(["shell", "-c", "from django.conf import settings; print(settings.SECRET_KEY)"], {}, tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout and len(first.stdout.strip()) >= 50
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    assert (tmp_path / "portal.sqlite3").parent == tmp_path  # default database under var/


@pytest.mark.parametrize("name", ["SEARCH_SQL_COUNT_LIMIT", "REPORT_WORKERS", "REPORT_RETENTION_DAYS"])
@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_a_bad_whole_number_names_the_variable(tmp_path, name, value):
    result = run_django(["check"], {name: value}, tmp_path)
    assert result.returncode != 0
    assert f"{name}={value!r}: use a whole number of at least 1" in result.stderr


@pytest.fixture
def aws(moto_url, aws_client):
    from tests.conftest import AWS_TEST_ENV

    return {"AWS_ENDPOINT_URL": moto_url, **AWS_TEST_ENV}, {name: aws_client(name) for name in ("secretsmanager", "ssm")}


def test_production_reads_its_secrets_from_secrets_manager(tmp_path, aws):
    env, clients = aws
    secret = clients["secretsmanager"].create_secret(Name=f"portal/{tmp_path.name}", SecretString=json.dumps({
        "DJANGO_SECRET_KEY": PRODUCTION["DJANGO_SECRET_KEY"], "DATABASE_URL": PRODUCTION["DATABASE_URL"]}))
    plain = {k: v for k, v in PRODUCTION.items() if k not in ("DJANGO_SECRET_KEY", "DATABASE_URL")}
    result = run_django(["check", "--deploy", "--fail-level", "WARNING"],
                        {**plain, **env, "AUDIT_SECRETS_ID": secret["ARN"]}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert run_django(["check"], {**plain, **env}, tmp_path).returncode != 0  # without it: no secret key


def test_production_reads_its_secrets_from_ssm_parameters(tmp_path, aws):
    env, clients = aws
    path = f"/portal/{tmp_path.name}/"
    for name in ("DJANGO_SECRET_KEY", "DATABASE_URL"):
        clients["ssm"].put_parameter(Name=path + name, Value=PRODUCTION[name], Type="SecureString")
    plain = {k: v for k, v in PRODUCTION.items() if k not in ("DJANGO_SECRET_KEY", "DATABASE_URL")}
    result = run_django(["check", "--deploy", "--fail-level", "WARNING"],
                        {**plain, **env, "AUDIT_SSM_PATH": path}, tmp_path)
    assert result.returncode == 0, result.stderr


def test_the_database_url_is_made_from_the_secret_rds_manages(tmp_path, aws):
    """RDS keeps the master user's password in a secret of its own (and rotates it)."""
    env, clients = aws
    secret = clients["secretsmanager"].create_secret(Name=f"rds/{tmp_path.name}", SecretString=json.dumps(
        {"username": "portal", "password": "p@ss/word:1"}))
    plain = {k: v for k, v in PRODUCTION.items() if k != "DATABASE_URL"}
    script = "from django.conf import settings; d = settings.DATABASES['default']; print(d['USER'], d['PASSWORD'], d['HOST'], d['PORT'], d['NAME'])"
    result = run_django(["shell", "-c", script], {**plain, **env, "AUDIT_DATABASE_SECRET_ID": secret["ARN"],
                                                  "DATABASE_HOST": "db.internal", "DATABASE_NAME": "audit"}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == ["portal", "p@ss/word:1", "db.internal", "5432", "audit"]


@pytest.mark.parametrize("setting, message", [
    ({"AUDIT_DATABASE_SECRET_ID": "rds/none-such", "DATABASE_URL": ""}, "AUDIT_DATABASE_SECRET_ID='rds/none-such': cannot read it"),
    ({"AUDIT_SECRETS_ID": "portal/none-such"}, "AUDIT_SECRETS_ID='portal/none-such': cannot read it"),
    ({"AUDIT_SSM_PATH": "/portal/none-such/"}, "AUDIT_SSM_PATH='/portal/none-such/': no parameter under it"),
])
def test_a_missing_cloud_secret_is_named(tmp_path, aws, setting, message):
    result = run_django(["check"], {**PRODUCTION, **aws[0], **setting}, tmp_path)
    assert result.returncode != 0 and message in result.stderr


_PAGES = (
    "from django.test import Client; c = Client(HTTP_HOST='localhost'); "
    "print('STATUS', *[c.get(u).status_code for u in ('/static/admin/css/base.css', '/admin/login/', "
    "'/api/v1/openapi.json')], repr(c.get('/static/admin/css/base.css').get('Cache-Control')))"
)


@pytest.mark.parametrize("flags, expected", [
    ({}, "404 200 200 None"),  # development: runserver serves static files
    ({"PORTAL_SERVE_STATIC": "true"}, "200 200 200 'public, max-age=3600'"),  # Lambda: Django serves them
    ({"PORTAL_API_ONLY": "true"}, "404 404 200 None"),  # the ingest stage: the API alone
])
def test_static_files_and_the_api_only_stage(tmp_path, flags, expected):
    result = run_django(["shell", "-c", _PAGES], {"DJANGO_ENV": "local", **flags}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"STATUS {expected}" in result.stdout.splitlines()


@pytest.mark.parametrize("env, expected", [
    ({"DJANGO_ENV": "local"}, "text"), (PRODUCTION, "json"), ({**PRODUCTION, "LOG_FORMAT": "text"}, "text")])
def test_logs_are_json_in_production_unless_chosen_otherwise(tmp_path, env, expected):
    script = "from django.conf import settings; print('FORMAT', settings.LOG_FORMAT)"
    result = run_django(["shell", "-c", script], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"FORMAT {expected}" in result.stdout.splitlines()
