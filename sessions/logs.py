"""The log lines: our keys hidden whatever the format, and `LOG_FORMAT=json`'s one object
a line.

Secrets stay out of logs the way they stay out of pages: upstream text is redacted where
it is read (sessions/redaction.py, by the AKool provider and the LLM client). `RedactSecrets`
applies the same redaction once more to each whole record, its traceback included, with
the keys configured in settings, on the handler: a traceback that quotes an upstream's
error, or a call site that forgot, still cannot print a key, in either format.

The session a record is about: a `session` extra (`log.info(..., extra={"session": id})`),
else the argument that fills "session %s" in the message (how the code has always logged
about a session). `session_of` is the one place that reads it.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timezone

from django.conf import settings

from sessions import redaction

# "session %s" (or "session %r") in a message's template, and any placeholder before it.
_SESSION_PLACEHOLDER = re.compile(r"\bsession %[sr]")
_PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[a-zA-Z%]")


def session_of(record: logging.LogRecord) -> str | None:
    """The id of the session the record is about, if it names one."""
    extra = getattr(record, "session", None)
    if extra is not None:
        return str(extra)
    template, args = record.msg, record.args
    if not isinstance(template, str) or not isinstance(args, tuple):
        return None
    found = _SESSION_PLACEHOLDER.search(template)
    if found is None:
        return None
    before = [p for p in _PLACEHOLDER.findall(template[: found.start()]) if p != "%%"]
    return str(args[len(before)]) if len(before) < len(args) else None


def _secrets() -> tuple[str, ...]:
    """The credentials the site is configured with (read at each record: tests change them)."""
    names = ("AKOOL_API_KEY", "AKOOL_CLIENT_SECRET", "LLM_API_KEY", "LLM_MODERATION_KEY")
    return tuple(getattr(settings, name, "") or "" for name in names)


class RedactSecrets(logging.Filter):
    """On the handler: notes the record's session and event (its message's template, the
    same for every session), then replaces its message and traceback by their redacted
    text, for whichever formatter follows."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = _secrets()
        if not hasattr(record, "session_id"):  # the first handler's pass
            record.session_id = session_of(record)
            # A template made with an f-string holds its values: redacted like the rest.
            event = getattr(record, "event", None) or str(record.msg)
            record.event = redaction.redact(str(event), secrets)
        record.msg, record.args = redaction.redact(record.getMessage(), secrets), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redaction.redact(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = redaction.redact(record.stack_info, secrets)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (ISO 8601, UTC), level, logger, message, session (or
    null), event, and exception (the traceback text) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "session": getattr(record, "session_id", None) or session_of(record),
            "event": getattr(record, "event", None) or record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False, default=str)
