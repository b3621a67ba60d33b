"""Settings for Consortium Exchange, read from the environment (12-factor).

Nothing configured means the embedded default: SQLite under var/, Celery tasks run eagerly in-process, files
on local disk, console e-mail and a development ledger key generated on first use. Production differs only
by environment variables; README.md has the table of every setting.
"""

from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from consortium import environment as read

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

VAR_DIR = read.directory("VAR_DIR", BASE_DIR / "var")

DEVELOPMENT_SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production"  # noqa: S105
DEBUG = read.boolean("DEBUG", default=True)
SECRET_KEY = read.text("SECRET_KEY", DEVELOPMENT_SECRET_KEY, required_non_empty=True)
if not DEBUG and SECRET_KEY == DEVELOPMENT_SECRET_KEY:
    raise ImproperlyConfigured("DEBUG is off but SECRET_KEY is the development key: set SECRET_KEY.")
ALLOWED_HOSTS = [
    host.strip()
    for host in env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
    if host.strip()
]
if not DEBUG and not ALLOWED_HOSTS:
    # Django would answer every request 400 (DisallowedHost), health checks included.
    raise ImproperlyConfigured("DEBUG is off but ALLOWED_HOSTS is empty: set it to the host names served.")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
CSRF_FAILURE_VIEW = "consortium.views.csrf_failure"
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "axes",
    "csp",
    "consortium",
    "ledger",
    "ledger.credit",
    "exchange",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
    "ledger.receipts.LedgerReceiptsMiddleware",
    "consortium.method_pages.MethodNotAllowedPageMiddleware",
    # Innermost, so that its refusal passes through every other middleware (CSP, frame options) as a page.
    "consortium.query_strings.QueryStringCheckMiddleware",
]

ROOT_URLCONF = "consortium.urls"
WSGI_APPLICATION = "consortium.wsgi.application"
ASGI_APPLICATION = "consortium.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "consortium" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "consortium.navigation.nav",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------------
DATABASES = {"default": read.database("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'consortium.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # One writer at a time: IMMEDIATE transactions take the write lock up front instead of failing on upgrade.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = read.integer("CONN_MAX_AGE", 60, minimum=0)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------------------------------
AUTH_USER_MODEL = "consortium.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "consortium.sign_in.UsernameInAnyCaseBackend",  # a username typed in another case (see the module)
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "portal:login"
LOGIN_REDIRECT_URL = "portal:home"
LOGOUT_REDIRECT_URL = "portal:login"
AXES_FAILURE_LIMIT = read.integer("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = read.number("LOGIN_COOLOFF_HOURS", 0.25, minimum=0)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_CALLABLE = "consortium.sign_in.lockout_username"  # one count per name, whatever its case
AXES_RESET_ON_SUCCESS = True
# Behind a proxy, the client's address as the throttles take it, not the proxy's.
AXES_CLIENT_IP_CALLABLE = "consortium.api.throttling.client_address"
AXES_VERBOSE = False
AXES_LOCKOUT_TEMPLATE = "consortium/login_locked.html"  # the page, not the library's bare sentence
ANONYMOUS_USER_NAME = None  # guardian: anonymous visitors never hold object permissions

# --- Internationalisation and static files --------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
# Created here: whitenoise warns about a missing directory otherwise.
STATIC_ROOT = read.directory("STATIC_ROOT", VAR_DIR / "static")
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "media/"
STORAGES = {
    "default": {
        "BACKEND": env.str("FILE_STORAGE_BACKEND", default="django.core.files.storage.FileSystemStorage")
    },
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- E-mail ---------------------------------------------------------------------------------------------
vars().update(read.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="exchange@consortium.example")

# --- Security (check --deploy is clean when DEBUG is off) -----------------------------------------------
SESSION_ENGINE = "consortium.sessions"  # Django's database sessions; see the module for the difference
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_SSL_REDIRECT = read.boolean("SECURE_SSL_REDIRECT", default=not DEBUG)
# Health probes come over plain HTTP from inside the network: answered, not redirected (they reveal nothing).
SECURE_REDIRECT_EXEMPT = [r"^health/"]
BEHIND_PROXY = read.boolean("BEHIND_PROXY", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_PROXY else None
SECURE_HSTS_SECONDS = read.integer("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy of the portal's pages (django-csp): only the site's own scripts and styles, and
# inline <script>/<style> blocks that carry the request's nonce (`nonce="{{ request.csp_nonce }}"`); no
# style="" or on*= attributes. Views may change it with csp.decorators: the API docs (consortium/api/docs.py),
# the admin and the REST API under /api/v1/ (consortium/urls.py; its data answers and its browsable pages each
# under their own, consortium/api/content_security.py). File downloads set their own, a sandbox, which the
# middleware keeps. With DEBUG on, django-csp sends no policy on a 404 or 500 (Django's debug pages).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [NONE],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "form-action": [SELF],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
    },
}

# --- REST API -------------------------------------------------------------------------------------------
API_MAX_PAGE_SIZE = 100
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "consortium.api.authentication.MemberAPIKeyAuthentication",
        "consortium.api.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "consortium.api.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "consortium.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "consortium.api.negotiation.APIContentNegotiation",
    "DEFAULT_PAGINATION_CLASS": "consortium.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "consortium.api.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "consortium.api.schema.ProblemAutoSchema",
    "EXCEPTION_HANDLER": "consortium.api.problems.problem_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": read.rate("API_THROTTLE_ANON", "60/min"),
        "user": read.rate("API_THROTTLE_USER", "2000/min"),
        # Failed API-key authentication per client address (consortium.api.throttling).
        "auth_failures": read.rate("API_THROTTLE_AUTH_FAILURES", "30/min"),
        "member_apply": read.rate("API_THROTTLE_APPLY", "20/hour"),
        # "Forgot your password?": requests from one client, and links to one address (with the admin's).
        "password_reset": read.rate("PASSWORD_RESET_THROTTLE", "10/hour"),
        "password_link_address": read.rate("PASSWORD_LINK_THROTTLE", "3/hour"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # The client address the throttles count by: the entry the last of this many proxies added to
    # X-Forwarded-For; 0 takes the connection's address. DRF's default (None) took the whole header, which a
    # client writes: a new value, a new budget.
    "NUM_PROXIES": read.integer("NUM_PROXIES", 1 if BEHIND_PROXY else 0, minimum=0),
}
API_KEY_CUSTOM_HEADER = "HTTP_AUTHORIZATION"
SPECTACULAR_SETTINGS = {
    "TITLE": "Consortium Exchange API",
    "DESCRIPTION": "List datasets under tiered access policies, request and grant their use, and verify the "
    "signed append-only ledger. Errors are RFC 9457 problem details with a stable `code`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The docs contact no other host: Swagger UI's validator badge would send the schema URL to
    # validator.swagger.io, and Redoc's default fonts come from Google (its page template drops the links).
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "REDOC_UI_SETTINGS": {
        "theme": {
            "typography": {
                "fontFamily": "system-ui, sans-serif",
                "headings": {"fontFamily": "system-ui, sans-serif"},
            }
        }
    },
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "ENUM_NAME_OVERRIDES": {"MemberStatusEnum": "consortium.models.MemberStatus"},
}

# --- Cache (throttles, login lockouts) ------------------------------------------------------------------
REDIS_URL = read.redis_url("REDIS_URL")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}

# --- Celery ---------------------------------------------------------------------------------------------
CELERY_BROKER_URL = read.broker_url("CELERY_BROKER_URL")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SOFT_TIME_LIMIT = 120
CELERY_TASK_TIME_LIMIT = 180
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"

# --- The ledger -----------------------------------------------------------------------------------------
LEDGER = {
    # Ed25519 private key: a PEM file, or the PEM text itself in LEDGER_SIGNING_KEY. The embedded default
    # generates a development key into var/ on first use; production must provide one.
    "SIGNING_KEY_PATH": env.str("LEDGER_SIGNING_KEY_PATH", default=str(VAR_DIR / "ledger-signing-key.pem")),
    "SIGNING_KEY_PEM": env.str("LEDGER_SIGNING_KEY", default=""),
    "GENERATE_DEV_KEY": read.boolean("LEDGER_GENERATE_DEV_KEY", default=DEBUG),
    "ORIGIN": env.str("LEDGER_ORIGIN", default="consortium.example/exchange/ledger"),
    "CHECKPOINT_INTERVAL_SECONDS": read.integer("LEDGER_CHECKPOINT_INTERVAL_SECONDS", 60, minimum=1),
    # Without a broker nothing runs beat: a commit that appends signs a checkpoint once the latest is
    # CHECKPOINT_INTERVAL_SECONDS old. With a broker, beat signs them (issue-checkpoint below).
    "CHECKPOINT_AFTER_COMMIT": read.boolean("LEDGER_CHECKPOINT_AFTER_COMMIT", default=not CELERY_BROKER_URL),
    "SEQUENCER_INTERVAL_SECONDS": read.integer("LEDGER_SEQUENCER_INTERVAL_SECONDS", 5, minimum=1),
    "SEQUENCER_BATCH_SIZE": read.integer("LEDGER_SEQUENCER_BATCH_SIZE", 1000, minimum=1),
    # After each commit that appended entries: "inline" runs the sequencer in the committing process when no
    # other process holds the sequencer lock; "task" sends a Celery task; "off" leaves it to beat.
    "SEQUENCE_AFTER_COMMIT": read.choice("LEDGER_SEQUENCE_AFTER_COMMIT", "inline", ("inline", "task", "off")),
    # ...at most this often per process, so that under load the sequencer integrates batches.
    "SEQUENCE_AFTER_COMMIT_EVERY_MS": read.integer(
        "LEDGER_SEQUENCE_AFTER_COMMIT_EVERY_MS", 0 if DEBUG else 100, minimum=0
    ),
    # PostgreSQL: prepare the hot statements (ledger/db.py: the entry INSERT, the sequencer's, verification's
    # and credit posting's) once per connection. Turn off behind a transaction-mode pooler that does not
    # track prepared statements (PgBouncer before 1.21).
    "PREPARED_INSERT": read.boolean("LEDGER_PREPARED_INSERT", default=True),
}
# --- The exchange ---------------------------------------------------------------------------------------
EXCHANGE = {
    "MAX_UPLOAD_BYTES": read.integer("EXCHANGE_MAX_UPLOAD_BYTES", 5 * 1024**3, minimum=1),
    # Undecided requests expire this many days after submission.
    "REQUEST_EXPIRY_DAYS": read.integer("EXCHANGE_REQUEST_EXPIRY_DAYS", 30, minimum=1),
    # Both members are told this many days before a grant's window ends.
    "GRANT_EXPIRY_NOTICE_DAYS": read.integer("EXCHANGE_GRANT_EXPIRY_NOTICE_DAYS", 7, minimum=0),
    # How often beat expires requests and grants and sends the notices before expiry.
    "EXPIRY_INTERVAL_SECONDS": read.integer("EXCHANGE_EXPIRY_INTERVAL_SECONDS", 3600, minimum=1),
}
CELERY_BEAT_SCHEDULE = {
    "expire-requests": {
        "task": "exchange.expire_requests_task",
        "schedule": float(EXCHANGE["EXPIRY_INTERVAL_SECONDS"]),
    },
    "expire-grants": {
        "task": "exchange.expire_grants_task",
        "schedule": float(EXCHANGE["EXPIRY_INTERVAL_SECONDS"]),
    },
    "sequence-ledger": {
        "task": "ledger.sequence_ledger_task",
        "schedule": float(LEDGER["SEQUENCER_INTERVAL_SECONDS"]),
    },
    "issue-checkpoint": {
        "task": "ledger.issue_checkpoint_task",
        "schedule": float(LEDGER["CHECKPOINT_INTERVAL_SECONDS"]),
    },
    # Version files whose upload rolled back with a caller's transaction, once a day.
    "sweep-dataset-files": {
        "task": "exchange.sweep_dataset_files_task",
        "schedule": crontab(minute=20, hour=3),
    },
    # Credit: the daily release just after midnight UTC; the epoch roll hourly (it acts once a month).
    "release-credit": {"task": "credit.release_credit_task", "schedule": crontab(minute=5, hour=0)},
    "roll-epoch": {"task": "credit.roll_epoch_task", "schedule": crontab(minute=10)},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": read.log_level("LOG_LEVEL", "INFO")},
    # A body too large (413) is the client's mistake, a WARNING like every 4xx; Django logs it as an ERROR.
    "filters": {"client_error": {"()": "consortium.log_filters.ClientError"}},
    "loggers": {
        "axes": {"level": "WARNING"},
        "django.security.RequestDataTooBig": {"filters": ["client_error"]},
    },
}
