"""MFDP settings: one module, read from the environment.

With no environment at all the project runs on embedded defaults (SQLite, files under var/,
a server-less Celery broker, console e-mail). Production sets the variables listed in
.env.example. See docs/configuration.md for the decisions behind each default.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = Path(env.str("MFDP_VAR_DIR", default=str(BASE_DIR / "var")))

DEBUG = env.bool("DEBUG", default=True)

# The embedded key only ever serves DEBUG mode; production must bring its own.
EMBEDDED_SECRET_KEY = "django-insecure-mfdp-embedded-development-key-never-use-in-production"
SECRET_KEY = env.str("SECRET_KEY", default=EMBEDDED_SECRET_KEY)
if not DEBUG and (
    SECRET_KEY == EMBEDDED_SECRET_KEY
    or len(SECRET_KEY) < 50
    or len(set(SECRET_KEY)) < 10
    or "change-me" in SECRET_KEY
):
    raise ImproperlyConfigured(
        "SECRET_KEY must be a random value of at least 50 characters when DEBUG is off "
        "(python3 -c 'import secrets; print(secrets.token_urlsafe(50))' makes one)."
    )

# Reverse proxies in front of the web process (0: clients connect directly). Decides whether
# X-Forwarded-For and X-Forwarded-Proto are believed.
PROXY_COUNT = env.int("PROXY_COUNT", default=0)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "mfdp.apps.MfdpAdminConfig",  # django.contrib.admin, with today's figures
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "axes",
    "django_q",
    "storages",
    "accounts",
    "billing",
    "predictions",
    "webhooks",
    "training",
]

MIDDLEWARE = [
    # First, so that every log record of a request, even a redirect's, carries its id.
    "mfdp.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "mfdp.middleware.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, so that it sees the outcome of every authentication attempt.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "mfdp.urls"
WSGI_APPLICATION = "mfdp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: SQLite under var/ unless DATABASE_URL says otherwise.
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
    # A file, not memory, so that a Celery worker started by the tests sees the same data.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test_db.sqlite3")}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://mfdp")}

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:account"
LOGOUT_REDIRECT_URL = "home"

# Brute-force protection on the log-in form (django-axes).
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "username"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_VERBOSE = False
AXES_USERNAME_CALLABLE = "accounts.throttles.lockout_username"
AXES_CLIENT_IP_CALLABLE = "accounts.throttles.client_ip"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("ru", _("Russian"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = DEBUG
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "media/"

# Object storage: the filesystem under var/media unless an S3 bucket (MinIO or AWS) is named.
S3_BUCKET = env.str("S3_BUCKET", default="")
S3_OPTIONS = {
    "bucket_name": S3_BUCKET,
    "endpoint_url": env.str("S3_ENDPOINT_URL", default="") or None,
    "access_key": env.str("S3_ACCESS_KEY_ID", default="") or None,
    "secret_key": env.str("S3_SECRET_ACCESS_KEY", default="") or None,
    "region_name": env.str("S3_REGION", default="us-east-1"),
    "addressing_style": env.str("S3_ADDRESSING_STYLE", default="path"),
    "signature_version": "s3v4",
    "default_acl": None,
    "querystring_auth": True,
    "querystring_expire": env.int("S3_SIGNED_URL_SECONDS", default=300),
    "file_overwrite": False,
}
# The endpoint clients follow signed download links to, when it differs from the one the
# servers use (compose: servers reach http://minio:9000, browsers a public name).
S3_PUBLIC_ENDPOINT_URL = env.str("S3_PUBLIC_ENDPOINT_URL", default="")
STORAGES = {
    "default": (
        {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": S3_OPTIONS}
        if S3_BUCKET
        else {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    ),
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Celery: the compute plane. Without CELERY_BROKER_URL, kombu's filesystem transport under
# var/ stands in for Redis, so the embedded default needs no server.
CELERY_BROKER_DIR = VAR_DIR / "celery" / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR),
        "data_folder_out": str(CELERY_BROKER_DIR),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
        "polling_interval": 0.1,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
    }
CELERY_RESULT_DIR = VAR_DIR / "celery" / "results"
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=f"file://{CELERY_RESULT_DIR}")
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_ACKS_LATE = True
# A task ends well before Redis would hand its unacknowledged message to another worker.
CELERY_TASK_TIME_LIMIT = int(CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600) * 0.9)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Keep a worker's database connection for this many tasks instead of reopening it for each
# (Celery's Django fixup closes it around every task otherwise: ~3 ms a one-row job).
CELERY_DB_REUSE_MAX = 100
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The queue this process sends to and a worker consumes by default; tests set a queue of
# their own so that a worker of another checkout on the same broker never takes their tasks.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="celery")

# django-q2: the housekeeping plane, on the ORM broker (no extra infrastructure).
Q_CLUSTER = {
    "name": "mfdp",
    "orm": "default",
    "workers": env.int("Q_WORKERS", default=1),
    "timeout": 300,
    "retry": 360,
    "catch_up": False,
    "label": _("Housekeeping"),
}

# Housekeeping schedules (mfdp/housekeeping.py, created by `manage.py setup_schedules`): the
# minutes between two runs a new schedule starts with. Staff then edit it in the admin;
# setup_schedules never overwrites an existing schedule.
HOUSEKEEPING_REAP_MINUTES = env.int("HOUSEKEEPING_REAP_MINUTES", default=5)
HOUSEKEEPING_PURGE_MINUTES = env.int("HOUSEKEEPING_PURGE_MINUTES", default=60)
HOUSEKEEPING_QUOTE_SWEEP_MINUTES = env.int("HOUSEKEEPING_QUOTE_SWEEP_MINUTES", default=15)
HOUSEKEEPING_IDEMPOTENCY_MINUTES = env.int("HOUSEKEEPING_IDEMPOTENCY_MINUTES", default=60)
HOUSEKEEPING_WEBHOOKS_MINUTES = env.int("HOUSEKEEPING_WEBHOOKS_MINUTES", default=10)

# EMAIL_BACKEND, EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER, ... from one URL.
globals().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="MFDP <noreply@mfdp.localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.ApiTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "mfdp.api.Pagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "PAGE_SIZE": env.int("API_PAGE_SIZE", default=25),
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
        "accounts.throttles.TokenThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_THROTTLE_ANON", default="60/min"),
        "user": env.str("API_THROTTLE_USER", default="600/min"),
        "api_read": env.str("API_THROTTLE_READ", default="300/min"),
        "api_create": env.str("API_THROTTLE_CREATE", default="60/min"),
        "voucher_redeem": env.str("VOUCHER_REDEEM_RATE", default="10/hour"),
        "signup": env.str("SIGNUP_RATE", default="20/hour"),
        "password_reset": env.str("PASSWORD_RESET_RATE", default="10/hour"),
        "webhook_test": env.str("WEBHOOK_TEST_RATE", default="20/hour"),
    },
    # Client addresses come from X-Forwarded-For only past this many trusted proxies.
    "NUM_PROXIES": PROXY_COUNT,
    "EXCEPTION_HANDLER": "mfdp.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
API_TOKENS_PER_USER = env.int("API_TOKENS_PER_USER", default=20)
IDEMPOTENCY_KEY_HOURS = env.int("IDEMPOTENCY_KEY_HOURS", default=24)
API_INLINE_ROWS_MAX = env.int("API_INLINE_ROWS_MAX", default=100)
# The web server's threads per process (gunicorn.conf.py reads the same variables). A request
# with `Prefer: wait=N` holds a thread while it waits, so each process serves at most
# API_WAIT_SLOTS waits at once (one thread less than it has) and answers 202 at once beyond.
WEB_WORKERS = env.int("WEB_WORKERS", default=2)
WEB_THREADS = env.int("WEB_THREADS", default=4)
API_WAIT_SLOTS = env.int("API_WAIT_SLOTS", default=max(1, WEB_THREADS - 1))
API_WAIT_MAX_SECONDS = 60

# Billing. The demo top-up button exists only where DEMO_TOPUP is on (make demo turns it on).
DEMO_TOPUP = env.bool("DEMO_TOPUP", default=False)
DEMO_TOPUP_CREDITS = env.int("DEMO_TOPUP_CREDITS", default=100)
STATEMENT_PAGE_SIZE = 25
# Minutes between two runs of the low-balance e-mail schedule (used when setup_schedules
# creates it).
HOUSEKEEPING_LOW_BALANCE_MINUTES = env.int("HOUSEKEEPING_LOW_BALANCE_MINUTES", default=10)

# Prediction jobs.
UPLOAD_MAX_BYTES = env.int("UPLOAD_MAX_MB", default=50) * 2**20
BATCH_MAX_ROWS = env.int("BATCH_MAX_ROWS", default=100_000)
PREDICT_CHUNK_ROWS = env.int("PREDICT_CHUNK_ROWS", default=5_000)
JOB_HEARTBEAT_TIMEOUT_SECONDS = env.int("JOB_HEARTBEAT_TIMEOUT_SECONDS", default=300)
JOB_FILES_RETENTION_DAYS = env.int("JOB_FILES_RETENTION_DAYS", default=30)
MODEL_CACHE_DIR = VAR_DIR / "model-cache"

# Webhooks. Outside DEBUG a webhook URL must be https and its host must resolve only to public
# addresses; WEBHOOK_ALLOW_PRIVATE lifts both rules (receivers on a private network, tests).
WEBHOOK_ALLOW_PRIVATE = env.bool("WEBHOOK_ALLOW_PRIVATE", default=False)

SPECTACULAR_SETTINGS = {
    "TITLE": "MFDP API",
    "DESCRIPTION": "Machine-learning predictions for credits. Authenticate with "
    "`Authorization: Bearer <token>`; create tokens on the API tokens page.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "mfdp.api.document_common_errors",
    ],
}

# Security: strict by default outside DEBUG, each switch overridable for a TLS-terminating proxy.
if PROXY_COUNT:
    # Only behind a proxy that sets it: otherwise any client could claim HTTPS.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_CONTENT_TYPE_NOSNIFF = True
# HSTS preload is an opt-in commitment that is hard to undo (SECURE_HSTS_PRELOAD=true), so
# its absence is not a deployment warning.
SILENCED_SYSTEM_CHECKS = ["security.W021"]
X_FRAME_OPTIONS = "DENY"

# One JSON line a record on stderr, for the web process, the Celery worker and the django-q2
# cluster alike, tagged with the request id and the job id and scrubbed of secrets
# (mfdp/logging.py; docs/operations.md, "Logs"). Django's loggers propagate to the root so
# that they pass the same filters.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "mfdp.logging.AddContext"},
        "redact": {"()": "mfdp.logging.RedactSecrets"},
    },
    "formatters": {"json": {"()": "mfdp.logging.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "filters": ["context", "redact"],
            "formatter": "json",
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "WARNING"},
        "botocore": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}
# The worker keeps the root handler above instead of installing Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False


# The embedded defaults keep their files under VAR_DIR; a fresh clone has none of it, and
# kombu's filesystem transport and Celery's file backend expect their folders to exist.
_embedded_folders = []
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    _embedded_folders.append(VAR_DIR)
if CELERY_BROKER_URL.startswith("filesystem://"):
    _embedded_folders += [
        Path(folder)
        for folder in CELERY_BROKER_TRANSPORT_OPTIONS.values()
        if isinstance(folder, str)
    ]
if CELERY_RESULT_BACKEND.startswith("file://"):
    _embedded_folders.append(CELERY_RESULT_DIR)
if DEBUG:
    _embedded_folders.append(STATIC_ROOT)  # WhiteNoise warns on every request without it
for _folder in _embedded_folders:
    _folder.mkdir(parents=True, exist_ok=True)
