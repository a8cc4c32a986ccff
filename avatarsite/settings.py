"""Settings, read from the environment (django-environ).

The site runs with no configuration at all (SQLite, in-memory channel layer,
local-memory cache, sandbox provider). Production values fail loudly when missing:
with DEBUG off, SECRET_KEY and ALLOWED_HOSTS must be set.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

# --- Core -------------------------------------------------------------------
DEBUG = env.bool("DEBUG", default=True)

_DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
if not DEBUG:
    if not SECRET_KEY:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DEBUG off the site refuses to start without a "
            "secret key: set SECRET_KEY to a long random string."
        )
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured(
            "ALLOWED_HOSTS is not set. With DEBUG off the site refuses to start without "
            "it: set ALLOWED_HOSTS to the host names it serves, comma separated."
        )
SECRET_KEY = SECRET_KEY or _DEV_SECRET_KEY
if DEBUG and not ALLOWED_HOSTS:
    ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",  # first, so runserver is the ASGI one
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    # django-ninja's own Swagger UI files, served from our static files: /api/v1/docs then
    # needs no CDN (which the CSP would block).
    "ninja",
    "sessions.apps.AvatarSessionsConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "sessions.middleware.api_guard",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The page's language from the browser's (Accept-Language): English or Spanish.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "sessions.security.SiteCSPMiddleware",
]

ROOT_URLCONF = "avatarsite.urls"
ASGI_APPLICATION = "avatarsite.asgi.application"

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
            ],
        },
    },
]

# --- Data -------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Concurrent async requests and sockets write to one SQLite file: wait for the
    # lock instead of failing at once.
    # Write-ahead logging lets readers go on while one socket writes, and
    # synchronous=NORMAL syncs at checkpoints rather than at every commit (a power cut
    # may lose the last commits, never corrupt the file).
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options.setdefault("timeout", 20)
    options.setdefault("init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Under ASGI, Django closes a connection after every request and every
    # database_sync_to_async call: without a pool each of them opened a new one (a
    # few ms each, most of the latency measured under load). psycopg's pool keeps
    # them open; each process holds at most DATABASE_POOL_SIZE. An HTTP request holds
    # one until it ends (a create waits for AKool meanwhile), the sockets of a process
    # share one; past the pool, a request waits up to 10 s, then gets a 503.
    DATABASE_POOL_SIZE = env.int("DATABASE_POOL_SIZE", default=32)
    # A pooled connection is checked before use, so one broken by a database restart
    # is replaced rather than handed out.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(2, DATABASE_POOL_SIZE),
        "max_size": DATABASE_POOL_SIZE,
        "timeout": 10,  # seconds to wait for a free connection
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    # redis-py's pool refuses a 101st connection ("Too many connections": a 500, or a
    # socket dropped). Django's cache is synchronous: every HTTP request in flight runs
    # it in a thread of its own, each thread holding a connection per call, so a burst
    # of requests (a reconnect storm after a restart) can need more. Allow more, and
    # make a caller beyond the pool wait for a free connection instead of failing.
    REDIS_MAX_CONNECTIONS = env.int("REDIS_MAX_CONNECTIONS", default=500)
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "pool_class": "redis.BlockingConnectionPool",
                "max_connections": REDIS_MAX_CONNECTIONS,
                "timeout": 10,  # seconds to wait for a free connection
            },
        }
    }
    # The pub/sub layer needs two connections per process (one subscription, one for
    # publishing); the same ceiling applies should the core layer ever be used, which
    # holds a connection per receiving socket.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL, "max_connections": REDIS_MAX_CONNECTIONS}]},
        }
    }
else:
    # Live state (slots, presence, sandbox channels): evicted only once expired, and
    # room for thousands of sessions (about ten entries each).
    CACHES = {
        "default": {
            "BACKEND": "sessions.memory_cache.MemoryCache",
            "OPTIONS": {"MAX_ENTRIES": env.int("CACHE_MAX_ENTRIES", default=100_000)},
        }
    }
    CHANNEL_LAYERS = {"default": {"BACKEND": "sessions.local_layer.LocalChannelLayer"}}

# --- Auth -------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
# Database sessions that remember which key replaced which (sockets follow a sign-in).
SESSION_ENGINE = "sessions.signin_store"
LOGIN_REDIRECT_URL = "avatar"
LOGOUT_REDIRECT_URL = "login"

# Mail (password reset): printed to the console in development (DEBUG); otherwise sent
# through the SMTP server below unless EMAIL_BACKEND names another. Never the console in
# production: a reset mail carries a link that signs its reader in.
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends."
    + ("console.EmailBackend" if DEBUG else "smtp.EmailBackend"),
)
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="webmaster@localhost")
# Password reset mails asked for per hour, per client address and per email address:
# past either, the form refuses (429) rather than letting anyone flood a mailbox.
PASSWORD_RESETS_PER_HOUR = max(env.int("PASSWORD_RESETS_PER_HOUR", default=5), 1)

# Failed sign-ins (site and admin) allowed per window, per client address and per
# username at one address; past either, sign-in from there waits for the next window.
SIGNIN_FAILURE_WINDOW = max(env.int("SIGNIN_FAILURE_WINDOW", default=900), 1)
SIGNIN_FAILURES_PER_IP = env.int("SIGNIN_FAILURES_PER_IP", default=30)
SIGNIN_FAILURES_PER_USER_IP = env.int("SIGNIN_FAILURES_PER_USER_IP", default=5)

# Visitors without an account may start sessions (limited per client IP).
ANONYMOUS_SESSIONS = env.bool("ANONYMOUS_SESSIONS", default=False)
# Seconds an embed page's visitor token is good for (README "Embedding"); the page renews
# it while it stays open. At least a minute.
EMBED_TOKEN_MAX_AGE = max(60, env.int("EMBED_TOKEN_MAX_AGE", default=3600))
# Proxies whose X-Forwarded-For we believe (IP addresses). Anyone else's is ignored.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])

# --- Static files -----------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# The Agora SDK's self-contained ESM build comes from npm (never committed).
AGORA_SDK_DIR = BASE_DIR / "node_modules" / "agora-rtc-sdk-ng"
if AGORA_SDK_DIR.is_dir():
    STATICFILES_DIRS.append(("vendor/agora", AGORA_SDK_DIR))
# LiveKit's and TRTC's, likewise (issue 18): only the files the page loads. TRTC's ESM
# build imports webrtc-adapter by bare name, so the page loads its UMD build, trtc.js.
for _prefix, _dir in (
    ("vendor/livekit", BASE_DIR / "node_modules" / "livekit-client" / "dist"),
    ("vendor/trtc", BASE_DIR / "node_modules" / "trtc-sdk-v5"),
):
    if _dir.is_dir():
        STATICFILES_DIRS.append((_prefix, _dir))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
# The languages the page's words come in (locale/; README "Languages"). A browser asking for
# neither gets LANGUAGE_CODE's English.
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True

# --- Avatar provider --------------------------------------------------------
AKOOL_BASE_URL = env.str("AKOOL_BASE_URL", default="https://openapi.akool.com")
AKOOL_API_KEY = env.str("AKOOL_API_KEY", default="")
AKOOL_CLIENT_ID = env.str("AKOOL_CLIENT_ID", default="")
AKOOL_CLIENT_SECRET = env.str("AKOOL_CLIENT_SECRET", default="")
AKOOL_CONNECT_TIMEOUT = env.float("AKOOL_CONNECT_TIMEOUT", default=5.0)
AKOOL_READ_TIMEOUT = env.float("AKOOL_READ_TIMEOUT", default=20.0)
AKOOL_RETRIES = env.int("AKOOL_RETRIES", default=3)
# True: the operator declares the AKool account ours alone, and the reaper closes every live
# session on it that we do not know. False (default): it closes only sessions we recorded
# and those matching a create of ours whose answer never came, so a shared account's other
# users (AKool's console, another deployment) keep theirs.
AKOOL_ACCOUNT_DEDICATED = env.bool("AKOOL_ACCOUNT_DEDICATED", default=False)
_has_akool_credentials = bool(AKOOL_API_KEY or (AKOOL_CLIENT_ID and AKOOL_CLIENT_SECRET))
# "akool" when credentials are configured, else the embedded sandbox.
AVATAR_PROVIDER = env.str(
    "AVATAR_PROVIDER", default="akool" if _has_akool_credentials else "sandbox"
)
if AVATAR_PROVIDER not in ("akool", "sandbox"):
    raise ImproperlyConfigured("AVATAR_PROVIDER must be 'akool' or 'sandbox'.")
if AVATAR_PROVIDER == "akool" and not _has_akool_credentials:
    raise ImproperlyConfigured(
        "AVATAR_PROVIDER is 'akool' but no credentials are set: set AKOOL_API_KEY, or "
        "AKOOL_CLIENT_ID and AKOOL_CLIENT_SECRET."
    )
# --- RTC networks (issue 18): the default, the fallbacks, the sandbox's unreachable ones.
from avatarsite.network_settings import *  # noqa: E402, F403

# The sandbox avatar's speaking pace (words per second) for its bot chat pieces.
SANDBOX_WORDS_PER_SECOND = env.float("SANDBOX_WORDS_PER_SECOND", default=4.0)
# Chats the sandbox avatar holds waiting to be said; more are refused (queue_full).
SANDBOX_QUEUE_MAX = env.int("SANDBOX_QUEUE_MAX", default=50)

# --- Limits -----------------------------------------------------------------
# Every rate, cap and clock of a session: a module of their own (README "Configuration").
from avatarsite.limit_settings import *  # noqa: E402, F403

# --- Privacy (issue 16) ------------------------------------------------------------
# Days a closed session's transcript, pieces and event details are kept; the reaper's
# pass deletes older ones (the session row stays for usage figures). 0 keeps them forever.
TRANSCRIPT_RETENTION_DAYS = max(env.int("TRANSCRIPT_RETENTION_DAYS", default=90), 0)

# --- Spending ---------------------------------------------------------------
# Account-wide caps on the minutes sessions reserve (AKool pre-charges a session's whole
# reserved duration), per UTC day and per UTC month; 0 turns a cap off. The defaults bound
# what a new deployment can spend unwatched (with the default global concurrency alone a
# day could reserve 14,400 minutes): ten hours a day, a hundred a month. Raise them to the
# account's plan.
SPEND_MINUTES_PER_DAY = max(env.int("SPEND_MINUTES_PER_DAY", default=600), 0)
SPEND_MINUTES_PER_MONTH = max(env.int("SPEND_MINUTES_PER_MONTH", default=6000), 0)
# Who gets the site's alerts by email (spend at 80 % and 100 % of a cap), comma separated;
# empty: no email (the log and the admin still have them).
ADMINS = [("", address) for address in env.list("ADMINS", default=[])]

# --- Your own LLM and the tools it may call (avatarsite/llm_settings.py) -----------
from avatarsite.llm_settings import *  # noqa: E402, F403

# --- Page -------------------------------------------------------------------
# Agora's SDK reports events to Agora's servers unless told not to.
AGORA_EVENT_REPORT = env.bool("AGORA_EVENT_REPORT", default=False)
CAMERA_ENABLED = env.bool("CAMERA_ENABLED", default=False)

# --- The recording notice and Extend (issue 16) ------------------------------------
# The notice above Start. Empty: the site's own sentences (sessions/services/consent.py),
# which say for how long a transcript is kept and where what is said goes.
RECORDING_NOTICE = env.str("RECORDING_NOTICE", default="")
# Seconds before a session's end at which the page warns (and offers Extend).
SESSION_END_WARNING = max(1, env.int("SESSION_END_WARNING", default=60))
# Seconds news ("Connected. Say hello!") stays over the avatar page before it fades
# (static/js/notices.js); errors stay until closed.
NOTICE_FADE_SECONDS = max(0.5, env.float("NOTICE_FADE_SECONDS", default=5.0))

# --- Content-Security-Policy (django-csp) -------------------------------------
# The page loads only its own scripts and styles (the Agora SDK is served from here),
# talks to its own API and sockets, and to Agora's edge servers for audio and video.
CSP_EXTRA_CONNECT_SRC = env.list("CSP_EXTRA_CONNECT_SRC", default=[])
# LiveKit: the room's server comes with each session (`rtc.url`); AKool's rooms are on
# LiveKit Cloud. An operator whose own LiveKit server is elsewhere lists its host here.
CSP_LIVEKIT_HOSTS = env.list(
    "CSP_LIVEKIT_HOSTS", default=["wss://*.livekit.cloud", "https://*.livekit.cloud"]
)
# TRTC (trtc-sdk-v5 5.17, read offline): it asks its schedule servers (cloud-rtc.com/.net)
# where to connect, then signals on *.rtc.qq.com. It also posts quality reports to
# Tencent (yun.tim.qq.com or apisgp.my-imcloud.com, by app id) that no option of the SDK
# turns off: they are left out here, so the browser blocks them (README, "Networks").
CSP_TRTC_HOSTS = env.list(
    "CSP_TRTC_HOSTS",
    default=[
        "https://schedule.cloud-rtc.com",
        "https://schedule.cloud-rtc.net",
        "https://intl-schedule.cloud-rtc.com",
        "wss://*.rtc.qq.com",
        "https://*.rtc.qq.com",
    ],
)
CSP_IMG_SRC = env.list("CSP_IMG_SRC", default=["'self'", "data:", "https:"])
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", "'wasm-unsafe-eval'"],
        "style-src": ["'self'"],
        "img-src": CSP_IMG_SRC,
        "media-src": ["'self'", "blob:", "mediastream:", "https:"],
        "connect-src": [
            "'self'",
            "https://*.agora.io",
            "wss://*.agora.io",
            "https://*.sd-rtn.com",
            "wss://*.sd-rtn.com",
            *CSP_LIVEKIT_HOSTS,
            *CSP_TRTC_HOSTS,
            *CSP_EXTRA_CONNECT_SRC,
        ],
        "worker-src": ["'self'", "blob:"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- Logs (avatarsite/log_settings.py) -------------------------------------------
from avatarsite.log_settings import *  # noqa: E402, F403

# --- Security (production) --------------------------------------------------
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
if TRUSTED_PROXIES:
    # Believe X-Forwarded-Proto only when a proxy is declared (it must set the header,
    # replacing a client's): with none, any client could claim https by sending it.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Operations (issue 21): health, readiness, metrics (README "Operations") -----------
# /metrics answers only `Authorization: Bearer <METRICS_TOKEN>` when set; without it, with
# DEBUG off, only a scraper on this machine.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# PROMETHEUS_MULTIPROC_DIR (README "Operations"), the directory the served processes share
# their metrics in, is read by prometheus_client from the environment itself, at its import
# (sessions/operations/metrics.py): not a setting here.
# Allocations between two collections of Python's youngest generation in a served process
# (sessions/operations/collector.py: a full collection paused every socket); 0 keeps
# Python's defaults (700) and freezes nothing.
GC_GEN0_THRESHOLD = env.int("GC_GEN0_THRESHOLD", default=20_000)
# Seconds /readyz waits for each of the database, the cache and the channel layer.
READINESS_TIMEOUT = max(0.1, env.float("READINESS_TIMEOUT", default=2.0))
# First: the probes and the metrics are answered before the HTTPS redirect and the host
# check (a load balancer probes an address over plain HTTP): sessions/operations/probes.py.
MIDDLEWARE.insert(0, "sessions.operations.probes.answer_probes")
