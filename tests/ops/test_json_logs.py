"""LOG_FORMAT=json: one JSON object a line, the session a record is about, never a key.

The first cases read what a process writes to its stderr (a fresh interpreter, as an
operator's log collector would); the rest configure the settings' LOGGING in this one.
"""

from __future__ import annotations

import io
import json
import logging
import logging.config
import os
import subprocess
import sys
from collections.abc import Iterator
from copy import deepcopy
from pathlib import Path

import pytest

from sessions.logs import session_of

ROOT = Path(__file__).resolve().parent.parent.parent
AKOOL_KEY = "ak-live-0123456789abcdef"
AKOOL_SECRET = "cs-9876543210fedcba"
LLM_KEY = "sk-llm-ABCDEFGHIJKLMNOP"
KEYS = (AKOOL_KEY, AKOOL_SECRET, LLM_KEY)

# An upstream's error that quotes our keys (one split by a zero-width space), logged with
# its traceback from a real logger of ours, and a line about a session.
SCRIPT = f"""
import django, logging
django.setup()
log = logging.getLogger("avatarsite.upstream")
log.info("session %s closed (%s)", "3f2c", "user")
try:
    raise RuntimeError("401: key {AKOOL_KEY[:6]}\\u200b{AKOOL_KEY[6:]} and {LLM_KEY} refused")
except RuntimeError:
    log.exception("recording session %s failed; closing upstream %s", "3f2c", "up-1")
log.warning("upstream said: {AKOOL_SECRET}")
"""


def run_logging(log_format: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_SETTINGS_MODULE": "avatarsite.settings",
        "LOG_FORMAT": log_format,
        "LOG_LEVEL": "INFO",
        "AKOOL_API_KEY": AKOOL_KEY,
        "AKOOL_CLIENT_ID": "client-id",
        "AKOOL_CLIENT_SECRET": AKOOL_SECRET,
        "LLM_API_KEY": LLM_KEY,
    }
    return subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.first_pass
def test_a_process_logs_one_json_object_a_line_without_our_keys():
    result = run_logging("json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines()]  # each one parses
    assert [(r["level"], r["session"]) for r in lines] == [
        ("INFO", "3f2c"),
        ("ERROR", "3f2c"),
        ("WARNING", None),
    ]
    closed, failed, said = lines
    assert closed["logger"] == "avatarsite.upstream"
    assert closed["message"] == "session 3f2c closed (user)"
    assert closed["event"] == "session %s closed (%s)"
    assert closed["time"].endswith("+00:00") and "T" in closed["time"]
    assert "RuntimeError: 401: key [redacted] and [redacted] refused" in failed["exception"]
    assert said["message"] == "upstream said: [redacted]"
    for key in KEYS:
        assert key not in result.stderr and key[:12] not in result.stderr


@pytest.mark.first_pass
def test_the_plain_format_hides_the_keys_too_and_is_the_default():
    result = run_logging("plain")
    assert result.returncode == 0, result.stderr
    assert "INFO avatarsite.upstream session 3f2c closed (user)" in result.stderr
    assert "RuntimeError: 401: key [redacted] and [redacted] refused" in result.stderr
    assert not result.stderr.lstrip().startswith("{")
    for key in KEYS:
        assert key not in result.stderr and key[:12] not in result.stderr


@pytest.mark.first_pass
def test_an_unknown_log_format_is_refused_with_a_message():
    result = run_logging("yaml")
    assert result.returncode != 0
    assert "LOG_FORMAT must be 'plain' or 'json', not 'yaml'" in result.stderr


# --- in this process --------------------------------------------------------------------
@pytest.fixture
def json_log(settings) -> Iterator[io.StringIO]:
    """The settings' LOGGING with LOG_FORMAT=json, writing to a buffer."""
    settings.AKOOL_API_KEY, settings.LLM_API_KEY = AKOOL_KEY, LLM_KEY
    stream = io.StringIO()
    config = deepcopy(settings.LOGGING)
    config["handlers"]["console"].update(formatter="json", stream=stream)
    logging.config.dictConfig(config)
    yield stream
    logging.config.dictConfig(settings.LOGGING)


def records(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_session_extra_names_the_session_and_the_event(json_log):
    log = logging.getLogger("avatarsite.test")
    log.warning("socket closed", extra={"session": "a1", "event": "socket.closed"})
    (line,) = records(json_log)
    assert (line["session"], line["event"]) == ("a1", "socket.closed")
    assert line["message"] == "socket closed"


def test_a_message_split_over_several_lines_stays_one_line(json_log):
    logging.getLogger("avatarsite.test").warning("first\nsecond %s", LLM_KEY)
    assert len(json_log.getvalue().splitlines()) == 1
    assert records(json_log)[0]["message"] == "first\nsecond [redacted]"


@pytest.mark.parametrize(
    ("template", "args", "session"),
    [
        ("session %s closed (%s)", ("s1", "user"), "s1"),
        ("reaper: closing session %s (%s): %s", ("s2", "expired", "why"), "s2"),
        ("embed key %s off: session %s not closed yet", (7, "s3"), "s3"),
        ("100%% of session %s", ("s4",), "s4"),
        ("sandbox avatar: dropped %r", ("x",), None),
        ("session %s", (), None),
    ],
)
def test_session_of_reads_the_id_that_fills_session_placeholder(template, args, session):
    record = logging.LogRecord("avatarsite", logging.INFO, __file__, 1, template, args, None)
    assert session_of(record) == session
