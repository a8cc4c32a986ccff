"""The logs: level, format (plain or one JSON object a line) and the redaction of our keys
in every record (sessions/logs.py), read from the environment like the rest of
avatarsite.settings (which imports them all)."""

import environ
from django.core.exceptions import ImproperlyConfigured

env = environ.Env()

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# plain: one line of prose a record; json: one JSON object a line (sessions/logs.py).
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be 'plain' or 'json', not {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "sessions.logs.JsonFormatter"},
    },
    # Our keys are hidden in every record, whichever the format (sessions/logs.py).
    "filters": {"redact": {"()": "sessions.logs.RedactSecrets"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["redact"],
        }
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "avatarsite": {"level": LOG_LEVEL, "propagate": True},
        # Django's own console handler (with DEBUG) would print each of its records a
        # second time, unformatted: a line that is not JSON. Ours, through the root, only.
        "django": {"level": "INFO", "handlers": [], "propagate": True},
    },
}
