"""Secrets from AWS (Secrets Manager, SSM Parameter Store) into the environment, before the
settings read it: a deployment names where its secrets are, never the secrets themselves.

- ``AUDIT_SECRETS_ID``: a Secrets Manager secret whose string is a JSON object of
  environment variables (``{"DJANGO_SECRET_KEY": "…", "DATABASE_URL": "…"}``);
- ``AUDIT_SSM_PATH``: SSM parameters under a path (``/portal/prod/``), each named for its
  variable (``/portal/prod/DJANGO_SECRET_KEY``), SecureStrings decrypted;
- ``AUDIT_DATABASE_SECRET_ID``: the database's own secret as RDS manages it (``{"username",
  "password"}``, rotated by RDS), made into ``DATABASE_URL`` with ``DATABASE_HOST``,
  ``DATABASE_PORT`` (5432) and ``DATABASE_NAME`` (``portal``) unless a ``DATABASE_URL`` is given.

Their values win over the process's environment. boto3 takes the Lambda role's
credentials and honours ``AWS_ENDPOINT_URL`` (the tests' moto server).
"""

import json
import os
import re

from django.core.exceptions import ImproperlyConfigured

from audit_events.aws import aws_client

__all__ = ["load_cloud_secrets"]

_NAME = re.compile(r"[A-Z][A-Z0-9_]*")


def load_cloud_secrets(environ=os.environ) -> list[str]:
    """Put the named secrets into ``environ``; the variable names set (never their values)."""
    values = {}
    secret_id, path = environ.get("AUDIT_SECRETS_ID"), environ.get("AUDIT_SSM_PATH")
    if secret_id:
        values.update(_from_secrets_manager(secret_id))
    if path:
        values.update(_from_ssm(path))
    database_secret = environ.get("AUDIT_DATABASE_SECRET_ID")
    if database_secret and "DATABASE_URL" not in values and not environ.get("DATABASE_URL"):
        values["DATABASE_URL"] = _database_url(database_secret, environ)
    for name, value in values.items():
        if not _NAME.fullmatch(name) or not isinstance(value, str):
            raise ImproperlyConfigured(f"secret {name!r}: names are environment variables (A-Z, 0-9, _) "
                                       "and values strings")
        environ[name] = value
    return sorted(values)


def _from_secrets_manager(secret_id: str, setting: str = "AUDIT_SECRETS_ID") -> dict:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        text = aws_client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
    except (BotoCoreError, ClientError, KeyError) as exc:
        raise ImproperlyConfigured(f"{setting}={secret_id!r}: cannot read it ({exc})") from None
    try:
        values = json.loads(text)
    except ValueError:
        values = None
    if not isinstance(values, dict):
        raise ImproperlyConfigured(f"{setting}={secret_id!r}: its string must be a JSON object")
    return values


def _database_url(secret_id: str, environ) -> str:
    from urllib.parse import quote

    credentials = _from_secrets_manager(secret_id, "AUDIT_DATABASE_SECRET_ID")
    if not {"username", "password"} <= credentials.keys():
        raise ImproperlyConfigured(f"AUDIT_DATABASE_SECRET_ID={secret_id!r}: needs username and password")
    host = environ.get("DATABASE_HOST") or credentials.get("host")
    if not host:
        raise ImproperlyConfigured("AUDIT_DATABASE_SECRET_ID needs DATABASE_HOST (the database's endpoint)")
    port = environ.get("DATABASE_PORT") or credentials.get("port") or 5432
    name = environ.get("DATABASE_NAME") or credentials.get("dbname") or "portal"
    return (f"postgres://{quote(str(credentials['username']), safe='')}:{quote(str(credentials['password']), safe='')}"
            f"@{host}:{port}/{quote(str(name), safe='')}")


def _from_ssm(path: str) -> dict:
    from botocore.exceptions import BotoCoreError, ClientError

    prefix = path if path.endswith("/") else path + "/"
    values, pages = {}, None
    try:
        pages = aws_client("ssm").get_paginator("get_parameters_by_path").paginate(
            Path=prefix, Recursive=False, WithDecryption=True)
        for page in pages:
            for parameter in page["Parameters"]:
                values[parameter["Name"][len(prefix):]] = parameter["Value"]
    except (BotoCoreError, ClientError) as exc:
        raise ImproperlyConfigured(f"AUDIT_SSM_PATH={path!r}: cannot read it ({exc})") from None
    if not values:
        raise ImproperlyConfigured(f"AUDIT_SSM_PATH={path!r}: no parameter under it")
    return values
