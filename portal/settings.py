"""Palisade settings, read from the environment with production-safe defaults.

The reference table of every setting lives in docs/settings.md.
"""

import datetime
import ipaddress
import json
import secrets
from pathlib import Path

import environ

from portal.logging import configure_now as _configure_logging_now
from portal.logging import logging_config as _palisade_logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

VAR_DIR = Path(env.str("PALISADE_VAR_DIR", default=str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _load_or_create_secret_key(path: Path) -> str:
    """A per-install key kept under var/, so a fresh clone never runs on a published default."""
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(64)
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(key)
    return key


DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="") or _load_or_create_secret_key(VAR_DIR / "secret_key")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "portal.admin_site.PlatformAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    # Before "audit": axes' sign-in receivers run before the audit trail's (audit.signals).
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp_webauthn",
    "portal",
    "accounts",
    # After django-otp's apps, whose device admins it takes out of the platform admin (accounts/mfa/admin.py).
    "accounts.mfa",
    # Single sign-on with each clinic's OpenID Connect provider (accounts/sso).
    "accounts.sso",
    "audit",
    # Rules over the audit stream, alert delivery and the alerts page (audit/alerts).
    "audit.alerts",
    "imaging",
    "guardian",
    # Shares, share links, per-study permissions and break-the-glass grants (portal/sharing).
    "portal.sharing",
    # Patients' accounts and pages, their consents, and study downloads (issue 8).
    "portal.patients",
    "portal.consents",
    "imaging.downloads",
    # De-identified research exports (issue 9; the engine is imaging/deid, not an app).
    "imaging.research",
    # Replica copies within the residency, integrity scrub and repair (issue 10).
    "imaging.replication",
    # Retention rules, legal holds, erasure requests and certificates of destruction (issue 10).
    "imaging.retention",
    # Agreements (BAA, DPA, terms) that gate PHI ingestion, clinic onboarding, and the compliance
    # evidence and transparency pages (issue 11).
    "portal.agreements",
    "portal.onboarding",
    "portal.compliance",
    "portal.clinic_admin",
    # Prometheus metrics at /metrics (portal/metrics.py) and the Content-Security-Policy header.
    "django_prometheus",
    "csp",
]

MIDDLEWARE = [
    # Operations (docs/operations.md): request metrics count from here to PrometheusAfterMiddleware; the
    # request ID is set before anything can log; the Content-Security-Policy header goes on every page.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "portal.logging.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Puts on request.user the device that verified the session's second factor (user.is_verified()).
    "django_otp.middleware.OTPMiddleware",
    # An anonymous session that opened a share link is that link's visitor (portal/sharing/links), before
    # anything else looks at the user.
    "portal.sharing.links.middleware.ShareLinkVisitorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Ends timed-out and revoked sessions before anything else looks at the user (accounts/sessions).
    "accounts.sessions.middleware.SessionControlMiddleware",
    # Before the password's expiry: a password alone reaches nothing but the second factor, not even
    # the password change.
    "accounts.mfa.middleware.SecondFactorMiddleware",
    "accounts.middleware.PasswordExpiryMiddleware",
    "portal.tenancy.TenantScopeMiddleware",
    # Inside the tenant's scope: records each refusal that its view did not record (audit/middleware.py).
    "audit.middleware.DenialAuditMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, as django-axes requires: turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.sessions.context_processors.session_expiry",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'palisade.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server, the worker and beat share the embedded database: WAL and immediate
    # transactions keep concurrent writers from failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file, not memory, so that a real worker process can share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
# Connection reuse (docs/deploy.md, "Database connections"). Connections are per thread; under ASGI the
# portal runs each request on a thread borrowed from a pool that outlives it (portal/asgi_handler.py), so
# a connection kept open (CONN_MAX_AGE) serves the next requests on that thread. PostgreSQL goes through
# Django's psycopg pool instead (a request takes a connection and gives it back when it finishes), which
# bounds the connections a web process holds; a new PostgreSQL backend per request cost several
# milliseconds (bench/README.md, issue 7). The pool requires CONN_MAX_AGE 0. Turn it off
# (PALISADE_DB_POOL=false) behind an external pooler such as PgBouncer; PALISADE_DB_CONN_MAX_AGE then
# applies (default 0, a connection per request). SQLite opens a file, not a server connection: it has no
# pool, and keeps a connection open per thread (default 600 s), which saves about 2 ms a request.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.bool("PALISADE_DB_POOL", True):
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        # Each web process keeps at least min_size connections and opens up to max_size under
        # concurrent requests; a request waits up to `timeout` seconds for one, then fails. With
        # CONN_HEALTH_CHECKS the pool checks a connection before lending it. Celery workers and the
        # DICOM listener drop the pool (portal/celery.py, imaging/dimse/scp.py). A lent connection is
        # given the borrower's tenant scope, empty included (portal.tenancy), so none carries another's.
        "min_size": env.int("PALISADE_DB_POOL_MIN_SIZE", default=2),
        "max_size": env.int("PALISADE_DB_POOL_MAX_SIZE", default=10),
        "timeout": env.float("PALISADE_DB_POOL_TIMEOUT", default=10.0),
    }
    # Statements prepared on the server, each after its fifth run on a connection: planning a statement
    # costs more here than running it (0.4-0.9 ms against under 0.1, row-level security adds to every
    # plan), and a DICOMweb search runs six or seven. A QIDO-RS search in-process: 8.3 -> 6.3-6.8 ms.
    # Only with the pool, whose connections live long enough to reuse them; an external pooler in
    # transaction mode (PALISADE_DB_POOL=false) may not keep a prepared statement between transactions.
    DATABASES["default"]["OPTIONS"]["server_side_binding"] = True
    DATABASES["default"]["OPTIONS"]["prepare_threshold"] = 5
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int(
        "PALISADE_DB_CONN_MAX_AGE", default=600 if DATABASES["default"]["ENGINE"].endswith("sqlite3") else 0
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Authentication -------------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "accounts.passwords.BreachedPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "accounts.passwords.PasswordHistoryValidator"},
]
# Sign-in throttling and lockout (accounts/lockout.py, docs/authentication.md). The first backend refuses
# a locked-out name before any password is checked; ModelBackend checks passwords, and hashes once for
# an unknown e-mail too, so that its answer takes as long as for a known one.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# No guardian "anonymous user" row: visitors without an account hold share links, never permissions.
ANONYMOUS_USER_NAME = None
# Axes locks on the failure that reaches the limit: with 11, ten wrong passwords in a row are refused
# as wrong and the eleventh locks the name (answered 429), as does every attempt after it.
AXES_FAILURE_LIMIT = env.int("PALISADE_LOCKOUT_FAILURE_LIMIT", default=11)
# Groups of what is counted together: "username+ip_address" (default) locks a name from one address,
# so a stranger cannot lock a clinician out from elsewhere; "username,ip_address" locks a name from
# everywhere and an address for every name.
AXES_LOCKOUT_PARAMETERS = [
    group.split("+") if "+" in group else group
    for group in env.list("PALISADE_LOCKOUT_PARAMETERS", default=["username+ip_address"])
]
_lockout_minutes = env.int("PALISADE_LOCKOUT_COOLOFF_MINUTES", default=30)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=_lockout_minutes) if _lockout_minutes > 0 else None
# The cool-off runs from the locking failure; attempts refused during it do not restart it.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "accounts.lockout.axes_username"
AXES_CLIENT_IP_CALLABLE = "accounts.lockout.client_address"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
# Successful sign-ins are in the audit trail; axes' own log of them would keep plain e-mail addresses.
AXES_DISABLE_ACCESS_LOG = True
# Unlocking is the audited "Unlock sign-in" action on users in the platform admin, not axes' admin.
AXES_ENABLE_ADMIN = False
AXES_VERBOSE = False

# --- Second factor (accounts/mfa; docs/authentication.md, "Second factor") ------------------------------
# Who must use one is each clinic's SecurityPolicy.mfa_required_roles (every staff role by default).
OTP_TOTP_ISSUER = env.str("PALISADE_TOTP_ISSUER", default="Palisade")
# Wrong codes are throttled per device, doubling the wait after each: 1 s, 2 s, 4 s, ... (django-otp).
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1
# The platform admin never shows a TOTP secret.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True


def _default_webauthn_rp_id(hosts: list[str]) -> str:
    """The first host name the portal answers to: a passkey belongs to a domain, never to an IP address."""
    for host in hosts:
        name = host.lstrip(".")
        if name in ("", "*"):
            continue
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return name
    return "localhost"


# Passkeys (django-otp-webauthn) are bound to the relying party ID, a domain: changing it later orphans
# every registered passkey. The browser's origin must be one of the allowed origins.
OTP_WEBAUTHN_RP_ID = env.str("PALISADE_WEBAUTHN_RP_ID", default=_default_webauthn_rp_id(ALLOWED_HOSTS))
OTP_WEBAUTHN_RP_NAME = env.str("PALISADE_WEBAUTHN_RP_NAME", default="Palisade")
# `make run` serves http://localhost:8000; browsers treat localhost as secure, WebAuthn included.
_default_webauthn_origin = (
    "http://localhost:8000" if OTP_WEBAUTHN_RP_ID == "localhost" else f"https://{OTP_WEBAUTHN_RP_ID}"
)
OTP_WEBAUTHN_ALLOWED_ORIGINS = env.list("PALISADE_WEBAUTHN_ORIGINS", default=[_default_webauthn_origin])
# A passkey is a second factor after the password, not a way to sign in without one.
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False

# --- Transport security ---------------------------------------------------------------------------------
# On by default whenever DEBUG is off. `make run` turns it off explicitly because it serves plain
# HTTP on loopback; a deployment terminates TLS in front of the portal (docs/deploy.md).
PALISADE_HTTPS = env.bool("PALISADE_HTTPS", default=not DEBUG)
SESSION_COOKIE_SECURE = PALISADE_HTTPS
CSRF_COOKIE_SECURE = PALISADE_HTTPS
SECURE_SSL_REDIRECT = PALISADE_HTTPS
SECURE_HSTS_SECONDS = 31_536_000 if PALISADE_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = PALISADE_HTTPS
SECURE_HSTS_PRELOAD = PALISADE_HTTPS
# Probes and Prometheus reach each web node directly over plain HTTP on its private address.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
if env.bool("PALISADE_BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 12 * 60 * 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
CSRF_COOKIE_HTTPONLY = True
# Idle and absolute session timeouts come from the clinics' security policies (accounts/sessions); pages
# warn this many seconds before the idle one ends a session.
PALISADE_SESSION_WARNING_SECONDS = env.int("PALISADE_SESSION_WARNING_SECONDS", default=120)

# --- Internationalisation and static files ---------------------------------------------------------------
LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# The OHIF viewer served at /viewer/ (imaging/viewer; docs/viewer.md): `manage.py install_viewer` puts
# npm @ohif/app's prebuilt dist/, rewritten for /viewer/, here.
PALISADE_VIEWER_DIR = Path(env.str("PALISADE_VIEWER_DIR", default=str(VAR_DIR / "viewer"))).resolve()

# --- E-mail ---------------------------------------------------------------------------------------------
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = VAR_DIR / "mail"
# With EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend (production): the relay, over STARTTLS.
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=587)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=True)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Palisade <no-reply@palisade.invalid>")
# Where people reach the portal, for links in messages sent outside a request (alert e-mails, webhooks).
PALISADE_BASE_URL = env.str("PALISADE_BASE_URL", default="http://127.0.0.1:8000")

# --- Alerts and emergency access ------------------------------------------------------------------------
# How long a break-the-glass grant lasts (portal/sharing/break_glass.py).
PALISADE_BREAK_GLASS_MINUTES = env.int("PALISADE_BREAK_GLASS_MINUTES", default=60)
# How long a built study download stays available (imaging/downloads; docs/downloads.md).
PALISADE_DOWNLOAD_LINK_HOURS = env.int("PALISADE_DOWNLOAD_LINK_HOURS", default=24)
# First wait before a failed alert webhook is tried again; doubled each time, at most 15 minutes.
PALISADE_ALERT_WEBHOOK_BACKOFF_SECONDS = env.float("PALISADE_ALERT_WEBHOOK_BACKOFF_SECONDS", default=10.0)
# Let clinics' alert webhooks use plain http and private or loopback addresses (development only).
PALISADE_ALERT_WEBHOOK_ALLOW_LOCAL = env.bool("PALISADE_ALERT_WEBHOOK_ALLOW_LOCAL", default=False)

# --- Storage regions ------------------------------------------------------------------------------------
# Each region names a storage and the jurisdiction it lies in; a tenant's data never leaves the
# regions its residency allows. Embedded default: three folders under var/storage/.
PALISADE_STORAGE: dict[str, dict[str, str]] = json.loads(
    env.str(
        "PALISADE_STORAGE",
        default=json.dumps(
            {
                region: {"jurisdiction": jurisdiction, "location": str(VAR_DIR / "storage" / region)}
                for region, jurisdiction in (("eu-1", "EU"), ("eu-2", "EU"), ("us-1", "US"))
            }
        ),
    )
)
PALISADE_REGION = env.str("PALISADE_REGION", default=next(iter(PALISADE_STORAGE)))
# The agreements a clinic must have in force before it may send PHI, by its home jurisdiction ("*" for
# any other): HIPAA asks a US clinic's business associate for a BAA, GDPR article 28 an EU clinic's
# processor for a DPA (portal/agreements).
PALISADE_REQUIRED_AGREEMENTS: dict[str, list[str]] = json.loads(
    env.str(
        "PALISADE_REQUIRED_AGREEMENTS",
        default=json.dumps({"US": ["baa", "terms"], "EU": ["dpa", "terms"], "*": ["terms"]}),
    )
)

# --- Onboarding (portal/onboarding; docs/onboarding.md) --------------------------------------------------
# Where clinics point their modalities: the DICOM listener's public address, as the DICOM peers page
# shows it (the dicom_scp command's own --host/--port say where it listens, which may differ behind NAT).
PALISADE_DIMSE_PUBLIC_HOST = env.str("PALISADE_DIMSE_PUBLIC_HOST", default="127.0.0.1")
PALISADE_DIMSE_PUBLIC_PORT = env.int("PALISADE_DIMSE_PUBLIC_PORT", default=11112)
PALISADE_DIMSE_TLS = env.bool("PALISADE_DIMSE_TLS", default=False)

# --- Celery ---------------------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's server-less transport: messages are files in one folder shared by producer and worker,
    # each written whole before it can be seen (portal/broker.py).
    CELERY_BROKER_TRANSPORT = "portal.broker:Transport"
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        # The file transport polls its folder; kombu's default of once a second caps ingestion.
        "polling_interval": 0.05,
    }
    _results_dir = VAR_DIR / "celery-results"
    _results_dir.mkdir(exist_ok=True)
    CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=f"file://{_results_dir}")
else:
    # Above the longest task, so that a message is not redelivered while its worker still runs it.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL)
CELERY_TASK_DEFAULT_QUEUE = env.str("PALISADE_TASK_QUEUE", default="celery")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "worker-heartbeat": {"task": "portal.tasks.record_worker_heartbeat", "schedule": 30.0},
    "ingest-sweeper": {"task": "imaging.tasks.requeue_stalled_ingest_jobs", "schedule": 60.0},
    "audit-checkpoints": {"task": "audit.tasks.sign_audit_checkpoints", "schedule": 24 * 3600.0},
    # Sends new audit events to the syslog collector, when one is configured (audit/exports/forwarding.py).
    "audit-syslog": {"task": "audit.exports.tasks.forward_audit_to_syslog", "schedule": 30.0},
    "planner-statistics": {"task": "portal.tasks.refresh_planner_statistics", "schedule": 3600.0},
    "alert-rules": {
        "task": "audit.alerts.tasks.evaluate_alert_rules",
        "schedule": env.float("PALISADE_ALERT_EVALUATION_SECONDS", default=30.0),
    },
    "alert-redelivery": {"task": "audit.alerts.tasks.redeliver_pending_alerts", "schedule": 300.0},
    "study-downloads": {"task": "imaging.downloads.tasks.sweep_study_downloads", "schedule": 300.0},
    "research-exports": {"task": "imaging.research.tasks.sweep_research_exports", "schedule": 300.0},
    # E-mails clinic admins once, 30 days before an agreement ends (docs/agreements.md).
    "agreement-expiry": {"task": "portal.agreements.tasks.warn_expiring_agreements", "schedule": 24 * 3600.0},
    # Replication's outbox sweeper, and a rate-limited slice of the integrity scrub with repair, which
    # resumes at each tenant's cursor (docs/storage.md).
    "replication-sweeper": {"task": "imaging.replication.tasks.requeue_stalled_copies", "schedule": 120.0},
    "storage-scrub": {
        "task": "imaging.replication.tasks.scrub_all_tenants",
        "schedule": env.float("PALISADE_SCRUB_EVERY_SECONDS", default=3600.0),
    },
}

# --- REST API -------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        # A bearer token must carry the scope the request needs (403 otherwise; docs/authentication.md).
        "accounts.authentication.TokenScopeRequired",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Palisade API",
    "DESCRIPTION": "REST API of the Palisade medical imaging portal. DICOMweb lives under /dicomweb/.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
}

# --- Logging: operational messages only; PHI never reaches a log line -----------------------------------
# One JSON object a line (time, level, logger, message, request_id, tenant) for a log collector, or
# "plain" text for a terminal (portal/logging.py; docs/operations.md). `make run` uses plain.
PALISADE_LOG_FORMAT = env.str("PALISADE_LOG_FORMAT", default="json")
LOGGING = _configure_logging_now(
    _palisade_logging_config(PALISADE_LOG_FORMAT, env.str("LOG_LEVEL", default="INFO"))
)
# Celery workers and beat log through the same handler and format instead of Celery's own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Operations: readiness, metrics (portal/health.py, portal/metrics.py; docs/operations.md) ------------
# Seconds /readyz waits for its checks (database, broker, each storage region, key provider), which run
# side by side; a check still running then is reported as "timeout" and the node as unavailable.
PALISADE_READINESS_TIMEOUT = env.float("PALISADE_READINESS_TIMEOUT", default=3.0)
# /metrics answers the addresses (or networks) listed here, and any request with the bearer token below;
# everyone else gets 404. Behind nginx every request comes from the proxy's address: the example site
# (deploy/nginx/palisade.conf) refuses /metrics from outside, and Prometheus scrapes the web nodes directly.
PALISADE_METRICS_ALLOWED_IPS = env.list("PALISADE_METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"])
PALISADE_METRICS_TOKEN = env.str("PALISADE_METRICS_TOKEN", default="")
# Database metrics (queries, errors, connections) come from django-prometheus' database engines, which
# wrap Django's own; PALISADE_METRICS_DB=false keeps Django's engines.
if env.bool("PALISADE_METRICS_DB", default=True):
    DATABASES["default"]["ENGINE"] = {
        "django.db.backends.postgresql": "django_prometheus.db.backends.postgresql",
        "django.db.backends.sqlite3": "django_prometheus.db.backends.sqlite3",
    }.get(DATABASES["default"]["ENGINE"], DATABASES["default"]["ENGINE"])
# django-prometheus' migration metrics query the database at start-up: not for a web node.
PROMETHEUS_EXPORT_MIGRATIONS = False

# --- Content-Security-Policy (django-csp; docs/deploy.md, "TLS and headers") ------------------------------
# Nothing inline anywhere: scripts and styles are static files. The OHIF viewer's routes widen this for
# what OHIF needs (imaging/viewer/views.py, portal/csp.py), and nothing else does.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
    }
}

# --- Keys -----------------------------------------------------------------------------------------------
# The master key wrapping every tenant key (imaging.crypto.providers): "file" keeps it in a 0600 file
# under var/keys/ (embedded default); "pkcs11" keeps it inside a hardware security module.
PALISADE_KEY_PROVIDER = env.str("PALISADE_KEY_PROVIDER", default="file")
PALISADE_MASTER_KEY_FILE = Path(
    env.str("PALISADE_MASTER_KEY_FILE", default=str(VAR_DIR / "keys" / "master.key"))
)
# Signs the daily checkpoints of the audit chains (audit/checkpoints.py). Keep it outside the database,
# and in production on another volume than the database's backups.
PALISADE_AUDIT_SIGNING_KEY_FILE = Path(
    env.str("PALISADE_AUDIT_SIGNING_KEY_FILE", default=str(VAR_DIR / "keys" / "audit-signing.key"))
)
# The audit journal (audit/journal.py; docs/audit.md, "How an event is written"): the web process writes
# the events of reads (searches, retrievals) to a local file, fdatasync'd before the response leaves,
# and a thread of it moves them into the hash chains in batches. On PostgreSQL this spares each read a
# round trip and a commit of its own (issue 7); on SQLite a write there costs little and the journal is
# off unless asked for. Keep the folder on a local disk that survives a restart: events not yet chained
# wait there (a restarted web process, or `manage.py drain_audit_journal`, chains them).
PALISADE_AUDIT_JOURNAL = env.bool(
    "PALISADE_AUDIT_JOURNAL", default=DATABASES["default"]["ENGINE"].endswith(".postgresql")
)
PALISADE_AUDIT_JOURNAL_DIR = Path(
    env.str("PALISADE_AUDIT_JOURNAL_DIR", default=str(VAR_DIR / "audit-journal"))
)
# How often the web process chains its journal, in seconds: the longest an event of a read waits
# before the audit page, alerts and exports see it.
PALISADE_AUDIT_JOURNAL_INTERVAL = env.float("PALISADE_AUDIT_JOURNAL_INTERVAL", default=0.25)
# --- Audit exports (audit/exports; docs/audit.md, "Exports") -------------------------------------------
# This installation's name in DICOM audit messages (AuditSourceID) and FHIR AuditEvents (source).
PALISADE_AUDIT_SOURCE_ID = env.str("PALISADE_AUDIT_SOURCE_ID", default="palisade")
# The audit record repository that receives DICOM audit messages over syslog TLS (RFC 5425); none
# when the host is empty. The CA file verifies the collector's certificate (the system's CAs when
# empty); a client certificate and key answer a collector that asks for one (IHE ATNA).
PALISADE_AUDIT_SYSLOG_HOST = env.str("PALISADE_AUDIT_SYSLOG_HOST", default="")
PALISADE_AUDIT_SYSLOG_PORT = env.int("PALISADE_AUDIT_SYSLOG_PORT", default=6514)
PALISADE_AUDIT_SYSLOG_CA_FILE = env.str("PALISADE_AUDIT_SYSLOG_CA_FILE", default="")
PALISADE_AUDIT_SYSLOG_CLIENT_CERT = env.str("PALISADE_AUDIT_SYSLOG_CLIENT_CERT", default="")
PALISADE_AUDIT_SYSLOG_CLIENT_KEY = env.str("PALISADE_AUDIT_SYSLOG_CLIENT_KEY", default="")
PALISADE_AUDIT_SYSLOG_TIMEOUT = env.float("PALISADE_AUDIT_SYSLOG_TIMEOUT", default=10.0)

PALISADE_PKCS11_LIBRARY = env.str("PALISADE_PKCS11_LIBRARY", default="")
PALISADE_PKCS11_TOKEN = env.str("PALISADE_PKCS11_TOKEN", default="")
PALISADE_PKCS11_PIN = env.str("PALISADE_PKCS11_PIN", default="")
PALISADE_PKCS11_KEY_LABEL = env.str("PALISADE_PKCS11_KEY_LABEL", default="palisade-master")
# Labels of retired master keys in the token, during a master-key rotation (docs/keys.md): they
# unwrap what they wrapped and keep their study secrets readable; they never wrap anything new.
PALISADE_PKCS11_RETIRED_KEY_LABELS = [
    label.strip() for label in env.list("PALISADE_PKCS11_RETIRED_KEY_LABELS", default=[]) if label.strip()
]

# --- Ingestion limits (imaging/ingest/limits.py; THREATS.md "Hostile DICOM and uploads") ----------------
# Largest single DICOM object accepted, in bytes (the file as received).
PALISADE_MAX_OBJECT_BYTES = env.int("PALISADE_MAX_OBJECT_BYTES", default=2 * 1024**3)
# Most declared pixel data bytes (Rows x Columns x Samples x Frames x BitsAllocated / 8), before decoding.
PALISADE_MAX_PIXEL_BYTES = env.int("PALISADE_MAX_PIXEL_BYTES", default=4 * 1024**3)
# Deepest nesting of sequences inside one object; deeper is refused (pydicom recurses per level).
PALISADE_MAX_SEQUENCE_DEPTH = env.int("PALISADE_MAX_SEQUENCE_DEPTH", default=32)
# Largest inflated size of a Deflated Explicit VR Little Endian data set (pydicom inflates it in memory).
PALISADE_MAX_INFLATED_BYTES = env.int("PALISADE_MAX_INFLATED_BYTES", default=256 * 1024**2)
# Most entries (files and folders) in one uploaded ZIP.
PALISADE_MAX_ZIP_ENTRIES = env.int("PALISADE_MAX_ZIP_ENTRIES", default=20_000)
# Most uncompressed bytes extracted from one uploaded ZIP, counted while extracting.
PALISADE_MAX_ZIP_BYTES = env.int("PALISADE_MAX_ZIP_BYTES", default=20 * 1024**3)
# Highest uncompressed/compressed ratio of one ZIP entry larger than 8 MiB (ZIP bomb guard).
PALISADE_MAX_ZIP_RATIO = env.int("PALISADE_MAX_ZIP_RATIO", default=200)

# --- Web uploads (imaging/upload) -----------------------------------------------------------------------
# Uploaded files are plaintext PHI until received: they are spooled in a private folder under var/, never
# in the shared temporary directory, and deleted as soon as they are received.
FILE_UPLOAD_TEMP_DIR = VAR_DIR / "scratch"
FILE_UPLOAD_TEMP_DIR.mkdir(mode=0o700, exist_ok=True)
# Request bodies up to this size stay in memory, larger ones go to disk (the upload page's files always
# go to FILE_UPLOAD_TEMP_DIR, whatever their size): Django's default, stated because uploads rely on it.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
# Form fields besides files: the upload page sends one relative path, far below this.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# --- STOW-RS request limits (imaging/dicomweb; THREATS.md 9) ----------------------------------------------
# Most parts (instances) in one STOW-RS request; one more answers 413 and nothing is stored.
PALISADE_STOW_MAX_PARTS = env.int("PALISADE_STOW_MAX_PARTS", default=10_000)
# Most bytes in one STOW-RS request body, chunked or not; more answers 413 and nothing is stored.
PALISADE_STOW_MAX_BYTES = env.int("PALISADE_STOW_MAX_BYTES", default=4 * 1024**3)
# Longest wait for the next piece of a DICOMweb request body, and for the whole body, in seconds;
# past either the request answers 408 (enforced under ASGI by imaging.dicomweb.body_limits).
PALISADE_STOW_BODY_IDLE_SECONDS = env.float("PALISADE_STOW_BODY_IDLE_SECONDS", default=60.0)
PALISADE_STOW_BODY_SECONDS = env.float("PALISADE_STOW_BODY_SECONDS", default=3600.0)

# --- WADO-RS (imaging/dicomweb/wado_transcode.py) --------------------------------------------------------
# Largest object converted to Explicit VR Little Endian in memory; larger ones are sent only as stored.
PALISADE_WADO_TRANSCODE_MAX_BYTES = env.int("PALISADE_WADO_TRANSCODE_MAX_BYTES", default=512 * 1024**2)
