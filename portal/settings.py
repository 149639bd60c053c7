"""Django settings, read from the environment in this one place.

Two modes: local (the embedded default: SQLite and files under ``var/``)
and production (``DJANGO_ENV=production``), which refuses to start with any
insecure default. See ``docs/CONFIGURATION.md``.
"""

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from .cloud_secrets import load_cloud_secrets

# First: secrets kept in AWS (AUDIT_SECRETS_ID, AUDIT_SSM_PATH) become environment variables.
CLOUD_SECRETS = load_cloud_secrets()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("AUDIT_VAR_DIR", BASE_DIR / "var"))

ENVIRONMENT = os.environ.get("DJANGO_ENV", "local")
if ENVIRONMENT not in ("local", "production"):
    raise ImproperlyConfigured(f"DJANGO_ENV={ENVIRONMENT!r}: use 'local' or 'production'")
PRODUCTION = ENVIRONMENT == "production"


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name}={value!r}: use true or false")


def _positive_int(name: str, default: int) -> int:
    value = os.environ.get(name) or str(default)
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        raise ImproperlyConfigured(f"{name}={value!r}: use a whole number of at least 1")
    return int(value)


def _choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name) or default
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r}: use one of {', '.join(choices)}")
    return value


def _local_secret_key() -> str:
    # Generated once per checkout so sessions survive restarts; never committed.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


DEBUG = _flag("DJANGO_DEBUG", default=not PRODUCTION)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if PRODUCTION:
    if DEBUG:
        raise ImproperlyConfigured("DJANGO_DEBUG must be off when DJANGO_ENV=production")
    if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set to a random value of at least 50 characters "
            "when DJANGO_ENV=production"
        )
elif not SECRET_KEY:
    SECRET_KEY = _local_secret_key()

_hosts = os.environ.get("DJANGO_ALLOWED_HOSTS", "")
ALLOWED_HOSTS = [h.strip() for h in _hosts.split(",") if h.strip()]
if not ALLOWED_HOSTS:
    if PRODUCTION:
        raise ImproperlyConfigured(
            "DJANGO_ALLOWED_HOSTS must list the portal's host names when DJANGO_ENV=production"
        )
    ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

# -- the audit store and its neighbours ------------------------------------

AUDIT_STORE = _choice("AUDIT_STORE", "sql", ("sql", "dynamodb"))
# Whether this deployment's API takes events (POST /api/v1/events). On AWS the portal stage
# turns it off: publishers send to the ingest stage, whose role alone may write any tenant's events.
AUDIT_INGEST_ENABLED = _flag("AUDIT_INGEST", True)
# The AWS resources of a stage, named as deploy/template.yaml names them (bootstrap_aws makes
# them against AWS_ENDPOINT_URL for local runs and tests; production uses the template).
AUDIT_AWS_STAGE = os.environ.get("AUDIT_AWS_STAGE", "local")
AUDIT_DYNAMODB_TABLES = {
    name: os.environ.get(f"AUDIT_DYNAMODB_{name.upper()}_TABLE") or f"compliance-portal-{AUDIT_AWS_STAGE}-{suffix}"
    for name, suffix in (("events", "events"), ("views", "views"), ("alert_state", "alert-state"))
}
AUDIT_ALERTS_TOPIC = os.environ.get("AUDIT_ALERTS_TOPIC") or f"compliance-portal-{AUDIT_AWS_STAGE}-alerts"
# Where alerts are sent: the SNS topic's ARN (AWS; unset: no SNS) and e-mail addresses (comma-separated).
AUDIT_ALERTS_TOPIC_ARN = os.environ.get("AUDIT_ALERTS_TOPIC_ARN", "")
AUDIT_ALERT_EMAILS = [a.strip() for a in os.environ.get("AUDIT_ALERT_EMAILS", "").split(",") if a.strip()]
# Where rule windows are kept: beside the projections (sql), or the stack's AlertStateTable.
AUDIT_ALERT_STATE = _choice("AUDIT_ALERT_STATE", "dynamodb" if AUDIT_STORE == "dynamodb" else "sql",
                            ("sql", "dynamodb"))
# How late (behind the newest event of its key) an event may arrive and still count in its window.
AUDIT_ALERT_LATENESS_SECONDS = int(os.environ.get("AUDIT_ALERT_LATENESS_SECONDS", "86400"))
# How often run_projector checks silence rules (on AWS a scheduled event does).
AUDIT_ALERT_SILENCE_CHECK_SECONDS = float(os.environ.get("AUDIT_ALERT_SILENCE_CHECK_SECONDS", "60"))
AUDIT_PROCESSOR_FAILURES_QUEUE = (os.environ.get("AUDIT_PROCESSOR_FAILURES_QUEUE")
                                  or f"compliance-portal-{AUDIT_AWS_STAGE}-processor-failures")
SEARCH_BACKEND = _choice("SEARCH_BACKEND", "sql", ("sql", "opensearch"))
OPENSEARCH_URL = os.environ.get("OPENSEARCH_URL", "")
# The SQL index counts a search's matches exactly up to here ("10,000+" beyond) and draws
# its facets and histogram from that many newest matches (OpenSearch: from every match).
# Lower it on a small machine: a first page reads that many rows.
SEARCH_SQL_COUNT_LIMIT = _positive_int("SEARCH_SQL_COUNT_LIMIT", 10_000)
if SEARCH_BACKEND == "opensearch" and not OPENSEARCH_URL:
    raise ImproperlyConfigured("SEARCH_BACKEND=opensearch needs OPENSEARCH_URL (e.g. http://127.0.0.1:9200)")
OPENSEARCH_AWS_REGION = os.environ.get("OPENSEARCH_AWS_REGION", "")  # set: sign requests (SigV4)
AUDIT_OPENSEARCH_PREFIX = os.environ.get("AUDIT_OPENSEARCH_PREFIX", "audit-events")
AUDIT_OPENSEARCH_REPLICAS = int(os.environ.get("AUDIT_OPENSEARCH_REPLICAS", "0"))
# "true" makes each bulk write visible at once (tests, demos); "false" leaves it to refresh_interval.
AUDIT_OPENSEARCH_REFRESH = os.environ.get("AUDIT_OPENSEARCH_REFRESH", "false")
AUDIT_SEARCH_RETENTION_DAYS = int(os.environ.get("AUDIT_SEARCH_RETENTION_DAYS", "2555"))
AUDIT_PROJECTIONS = [
    "audit_events.projections.latest_state.LatestStateProjection",
    "audit_events.projections.search.SearchProjection",
    "audit_events.projections.snapshots.SnapshotProjection",
    "portal.access.access_log.AccessLogProjection",
    "audit_events.alerts.evaluation.AlertProjection",
    "audit_events.checkpoints.log.MerkleLogProjection",
]
# Lambda's synchronous invocation payload limit is 6 MB; keep one limit everywhere.
AUDIT_MAX_REQUEST_BYTES = int(os.environ.get("AUDIT_MAX_REQUEST_BYTES", 6 * 1024 * 1024))
DATA_UPLOAD_MAX_MEMORY_SIZE = AUDIT_MAX_REQUEST_BYTES
AUDIT_PROJECTOR_INTERVAL = float(os.environ.get("AUDIT_PROJECTOR_INTERVAL", "1.0"))
AUDIT_SNAPSHOT_EVERY = int(os.environ.get("AUDIT_SNAPSHOT_EVERY", "1000"))
AUDIT_BREAK_GLASS_APPROVAL = _flag("AUDIT_BREAK_GLASS_APPROVAL", False)
AUDIT_BREAK_GLASS_MAX_MINUTES = int(os.environ.get("AUDIT_BREAK_GLASS_MAX_MINUTES", "240"))

# Signed checkpoints of each tenant's Merkle log: after this many new events, or this many
# minutes after the last one when the log grew (run_projector, and a schedule on AWS).
AUDIT_CHECKPOINT_EVERY_EVENTS = int(os.environ.get("AUDIT_CHECKPOINT_EVERY_EVENTS", "1000"))
AUDIT_CHECKPOINT_EVERY_MINUTES = float(os.environ.get("AUDIT_CHECKPOINT_EVERY_MINUTES", "10"))
AUDIT_CHECKPOINT_CHECK_SECONDS = float(os.environ.get("AUDIT_CHECKPOINT_CHECK_SECONDS", "30"))
# Who signs them: a local Ed25519 key file, or an ECC_NIST_EDWARDS25519 key in AWS KMS.
AUDIT_CHECKPOINT_SIGNER = _choice("AUDIT_CHECKPOINT_SIGNER", "local", ("local", "kms"))
AUDIT_CHECKPOINT_KEY_FILE = os.environ.get("AUDIT_CHECKPOINT_KEY_FILE") or str(VAR_DIR / "keys" / "checkpoint-ed25519.pem")
AUDIT_CHECKPOINT_KMS_KEY_ID = os.environ.get("AUDIT_CHECKPOINT_KMS_KEY_ID", "")
# Who wraps the data subjects' keys (crypto-shredding): a local AES-256 key file, or AWS KMS.
AUDIT_MASTER_KEY = _choice("AUDIT_MASTER_KEY", "local", ("local", "kms"))
AUDIT_MASTER_KEY_FILE = os.environ.get("AUDIT_MASTER_KEY_FILE") or str(VAR_DIR / "keys" / "master.key")
AUDIT_MASTER_KMS_KEY_ID = os.environ.get("AUDIT_MASTER_KMS_KEY_ID", "")

# -- database -------------------------------------------------------------

_database_url = os.environ.get("DATABASE_URL", "")
if PRODUCTION and not _database_url:
    raise ImproperlyConfigured("DATABASE_URL must be set when DJANGO_ENV=production")


def database_config(url: str) -> dict:
    """A DATABASES entry for ``url``, tuned for concurrent appends."""
    config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["CONN_MAX_AGE"] = 0
        config["OPTIONS"] = {
            # A writer takes the lock when its transaction starts, so two
            # writers queue on the busy timeout instead of deadlocking.
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            # A 40 MB write-ahead log between checkpoints: pages that successive
            # batches touch (random index keys) are copied back once, not each time.
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                "PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY; "
                "PRAGMA wal_autocheckpoint=10000; PRAGMA journal_size_limit=67108864;"
            ),
        }
    return config


if not _database_url:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    _database_url = f"sqlite:///{VAR_DIR / 'portal.sqlite3'}"
DATABASES = {"default": database_config(_database_url)}

# -- Django ---------------------------------------------------------------

INSTALLED_APPS = [
    "portal.apps.PortalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "ninja",
    "audit_events",
    "portal.access",
    "reports",
    "portal.apps.PortalConfig",
]

MIDDLEWARE = [
    "portal.observability.TraceIdMiddleware",  # first: every later log line carries the trace id
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Needs request.user; marks it verified when the session holds a second factor.
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a sign-in refused by the lockout into the lockout response.
    "axes.middleware.AxesMiddleware",
]
# The admin's messages can name records and data subjects: kept in the session on the server,
# not in a (signed, readable) cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "portal" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"  # relative: prefixed with the script name (API Gateway's stage)
# Django serves the apps' static files itself (on Lambda: no web server in front, and the
# files are in the package). Off by default: runserver serves them in development.
PORTAL_SERVE_STATIC = _flag("PORTAL_SERVE_STATIC", False)
# Only the API (the ingest stage on AWS): no admin pages, no reports, no sign-in.
PORTAL_API_ONLY = _flag("PORTAL_API_ONLY", False)
# A bearer token a Prometheus scraper presents at /metrics (staff sessions need none); unset:
# staff only. A secret: from AUDIT_SECRETS_ID or AUDIT_SSM_PATH on AWS.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
STATIC_ROOT = VAR_DIR / "static"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# LOG_FORMAT=json: one JSON object per line with the request's trace id (the default in
# production, where logs are read by machines: CloudWatch Logs Insights and the like).
LOG_FORMAT = _choice("LOG_FORMAT", "json" if PRODUCTION else "text", ("text", "json"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "portal.observability.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler",
                             **({"formatter": "json"} if LOG_FORMAT == "json" else {})}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # Django's default config gives "django" a handler of its own: log once, via root.
    "loggers": {"django": {"handlers": [], "propagate": True}},
}

# -- transport security (production) --------------------------------------

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_COOKIE_AGE", 8 * 3600))
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_SSL_REDIRECT = _flag("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", 31536000))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# -- sign-in hardening (lockout, TOTP) ---------------------------------------
# Sign-ins, failed sign-ins, lockouts and sign-outs are recorded in the access
# audit by portal.access.signin.

from datetime import timedelta  # noqa: E402

AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out username+address before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]


AXES_FAILURE_LIMIT = _positive_int("AUDIT_LOCKOUT_FAILURES", 5)
AXES_COOLOFF_TIME = timedelta(minutes=_positive_int("AUDIT_LOCKOUT_MINUTES", 15))
# Per username and address together: a guesser cannot lock the real user out
# from elsewhere, and one address cannot try one username without limit.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# The peer address only: a client-sent X-Forwarded-For would pick its own bucket.
AXES_CLIENT_IP_CALLABLE = "portal.access.audit.client_ip"
AXES_LOCKOUT_CALLABLE = "portal.access.signin.lockout_response"
AXES_RESET_ON_SUCCESS = True
# The access audit is the record of sign-ins; no second, mutable copy in axes' tables.
AXES_DISABLE_ACCESS_LOG = True
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "otp_token"]

# Idle expiry: each request pushes the expiry SESSION_COOKIE_AGE ahead; the
# cookie itself ends with the browser.
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_SAVE_EVERY_REQUEST = True

# Staff sign in to the admin with a TOTP code (read per request by
# portal.access.signin, so it can be switched in tests). Enrol with
# ``manage.py enrol_totp USERNAME``.
PORTAL_REQUIRE_TOTP = _flag("PORTAL_REQUIRE_TOTP", PRODUCTION)
OTP_TOTP_ISSUER = "Compliance portal"
# TOTP secrets are shown once, by enrol_totp, never again in the admin.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# -- reports ----------------------------------------------------------------
# Files go through Django's storage API: the filesystem under var/ by default;
# S3 (private, KMS-encrypted, presigned downloads for 5 minutes) when
# REPORTS_S3_BUCKET is set.

REPORT_RUNNER = os.environ.get("REPORT_RUNNER", "thread")  # thread | worker
REPORT_RETENTION_DAYS = _positive_int("REPORT_RETENTION_DAYS", 30)
# Processes that write one big CSV export together, each a part of the log (one CPU each),
# forked by a single-threaded generator (run_report_worker, a Lambda); the thread runner
# writes alone. 1: always alone. Default: up to 2 of the CPUs this process may use.
REPORT_WORKERS = _positive_int("REPORT_WORKERS", min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                                                     else os.cpu_count() or 1))
REPORTS_S3_BUCKET = _reports_bucket = os.environ.get("REPORTS_S3_BUCKET", "")
if _reports_bucket:
    _object_parameters = {"ServerSideEncryption": "aws:kms"}
    if os.environ.get("REPORTS_KMS_KEY_ID"):
        _object_parameters["SSEKMSKeyId"] = os.environ["REPORTS_KMS_KEY_ID"]
    _reports_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": _reports_bucket,
            "location": "reports",
            "default_acl": None,  # the bucket's own (private) policy
            "object_parameters": _object_parameters,
            "querystring_auth": True,
            "querystring_expire": 300,
            "signature_version": "s3v4",  # presigned URLs with X-Amz-Expires (SigV4)
            "file_overwrite": False,
            "endpoint_url": os.environ.get("AWS_ENDPOINT_URL_S3") or None,
        },
    }
else:
    _reports_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(VAR_DIR / "reports"), "directory_permissions_mode": 0o700,
                    "file_permissions_mode": 0o600},
    }
# Daily archives of the log (export_archive, restore_archive): a directory, or with
# AUDIT_ARCHIVE_S3_BUCKET the bucket whose Object Lock (compliance mode) keeps them.
AUDIT_ARCHIVE_S3_BUCKET = _archive_bucket = os.environ.get("AUDIT_ARCHIVE_S3_BUCKET", "")
if _archive_bucket:
    # Without a key id S3 would use its own aws/s3 key, not the stack's customer-managed one.
    _object_parameters_archive = {"ServerSideEncryption": "aws:kms"}
    if os.environ.get("AUDIT_ARCHIVE_KMS_KEY_ID") or os.environ.get("REPORTS_KMS_KEY_ID"):
        _object_parameters_archive["SSEKMSKeyId"] = (os.environ.get("AUDIT_ARCHIVE_KMS_KEY_ID")
                                                     or os.environ["REPORTS_KMS_KEY_ID"])
    _archive_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": _archive_bucket,
            "default_acl": None,
            "object_parameters": _object_parameters_archive,
            "file_overwrite": False,
            "endpoint_url": os.environ.get("AWS_ENDPOINT_URL_S3") or None,
        },
    }
else:
    _archive_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": os.environ.get("AUDIT_ARCHIVE_DIR") or str(VAR_DIR / "archive"),
                    "directory_permissions_mode": 0o700, "file_permissions_mode": 0o400},
    }
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "reports": _reports_storage,
    "archive": _archive_storage,
}

# E-mail (scheduled reports, break-glass notices): SMTP when EMAIL_HOST is set,
# otherwise printed on the console.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND") or (
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend"
)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "compliance-portal@localhost")
