"""Settings read from the environment: safe defaults, loud failures for production mistakes.

Each case imports the settings in a fresh interpreter with a clean environment, since the
settings module is evaluated once per process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Fresh interpreters with clean environments: the same outcome on either pass of make test.
pytestmark = pytest.mark.first_pass

# Print the settings a case wants to look at, as JSON on the last line.
PROBE = """
import json, django
from django.conf import settings
django.setup()
print(json.dumps({name: getattr(settings, name) for name in %r}, default=str))
"""


def start(env: dict[str, str], *names: str) -> subprocess.CompletedProcess:
    clean = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_SETTINGS_MODULE": "avatarsite.settings",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", PROBE % (list(names),)],
        env=clean,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def started(env: dict[str, str], *names: str) -> dict:
    result = start(env, *names)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def refused(env: dict[str, str]) -> str:
    result = start(env)
    assert result.returncode != 0, result.stdout
    assert "ImproperlyConfigured" in result.stderr
    return result.stderr.strip().splitlines()[-1]


PRODUCTION = {"DEBUG": "false", "SECRET_KEY": "s" * 50, "ALLOWED_HOSTS": "avatars.example.com"}


def test_it_starts_with_no_configuration_at_all():
    values = started(
        {}, "DEBUG", "AVATAR_PROVIDER", "ALLOWED_HOSTS", "SESSION_MAX_DURATION", "SECRET_KEY"
    )

    assert values["DEBUG"] is True
    assert values["AVATAR_PROVIDER"] == "sandbox"
    assert "localhost" in values["ALLOWED_HOSTS"]
    assert values["SESSION_MAX_DURATION"] == 1800
    assert values["SECRET_KEY"]


def test_it_refuses_production_without_a_secret_key():
    message = refused({"DEBUG": "false", "ALLOWED_HOSTS": "avatars.example.com"})

    assert "SECRET_KEY is not set" in message


def test_it_refuses_production_without_allowed_hosts():
    message = refused({"DEBUG": "false", "SECRET_KEY": "s" * 50})

    assert "ALLOWED_HOSTS is not set" in message


def test_it_names_the_secret_key_first_when_both_are_missing():
    assert "SECRET_KEY" in refused({"DEBUG": "false"})


def test_it_starts_in_production_with_both_set():
    values = started(PRODUCTION, "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "SESSION_COOKIE_SECURE")

    assert values["DEBUG"] is False
    assert values["SECRET_KEY"] == "s" * 50
    assert values["ALLOWED_HOSTS"] == ["avatars.example.com"]
    assert values["SESSION_COOKIE_SECURE"] is True


def test_it_refuses_akool_without_credentials():
    message = refused({"AVATAR_PROVIDER": "akool"})

    assert "AKOOL_API_KEY" in message
    assert "AKOOL_CLIENT_ID" in message


def test_it_refuses_akool_with_half_a_client_credential():
    assert "AKOOL_CLIENT_SECRET" in refused(
        {"AVATAR_PROVIDER": "akool", "AKOOL_CLIENT_ID": "some-client"}
    )


def test_it_refuses_an_unknown_provider():
    assert "AVATAR_PROVIDER" in refused({"AVATAR_PROVIDER": "heygen"})


@pytest.mark.parametrize(
    "credentials",
    [{"AKOOL_API_KEY": "k"}, {"AKOOL_CLIENT_ID": "id", "AKOOL_CLIENT_SECRET": "secret"}],
)
def test_it_picks_akool_when_credentials_are_set(credentials):
    assert started(credentials, "AVATAR_PROVIDER")["AVATAR_PROVIDER"] == "akool"


def test_an_explicit_sandbox_wins_over_credentials():
    values = started({"AVATAR_PROVIDER": "sandbox", "AKOOL_API_KEY": "k"}, "AVATAR_PROVIDER")

    assert values["AVATAR_PROVIDER"] == "sandbox"


def test_it_clamps_the_session_duration_to_akools_maximum():
    values = started({"SESSION_MAX_DURATION": "7200"}, "SESSION_MAX_DURATION")

    assert values["SESSION_MAX_DURATION"] == 3600


def test_it_clamps_the_stream_budgets_to_agoras_limits():
    values = started(
        {"STREAM_FRAME_BUDGET": "4096", "STREAM_BYTES_PER_SECOND": "99999"},
        "STREAM_FRAME_BUDGET",
        "STREAM_BYTES_PER_SECOND",
    )

    assert values == {"STREAM_FRAME_BUDGET": 1024, "STREAM_BYTES_PER_SECOND": 6000}


def test_a_maximum_below_the_default_duration_is_not_left_inconsistent():
    result = start({"SESSION_MAX_DURATION": "300"}, "SESSION_DEFAULT_DURATION")

    if result.returncode != 0:
        assert "SESSION_DEFAULT_DURATION" in result.stderr  # refused clearly: fine
    else:
        values = json.loads(result.stdout.strip().splitlines()[-1])
        assert values["SESSION_DEFAULT_DURATION"] <= 300  # or clamped: fine


def test_it_reads_the_limits_from_the_environment():
    values = started(
        {
            "SESSION_CREATES_PER_HOUR": "7",
            "SESSION_CONCURRENT_PER_PRINCIPAL": "3",
            "SESSION_CONCURRENT_GLOBAL": "4",
            "ANONYMOUS_SESSIONS": "true",
            "TRUSTED_PROXIES": "10.0.0.1,10.0.0.2",
        },
        "SESSION_CREATES_PER_HOUR",
        "SESSION_CONCURRENT_PER_PRINCIPAL",
        "SESSION_CONCURRENT_GLOBAL",
        "ANONYMOUS_SESSIONS",
        "TRUSTED_PROXIES",
    )

    assert values == {
        "SESSION_CREATES_PER_HOUR": 7,
        "SESSION_CONCURRENT_PER_PRINCIPAL": 3,
        "SESSION_CONCURRENT_GLOBAL": 4,
        "ANONYMOUS_SESSIONS": True,
        "TRUSTED_PROXIES": ["10.0.0.1", "10.0.0.2"],
    }


def test_it_never_puts_secrets_in_an_error_message():
    result = start({"AVATAR_PROVIDER": "akool", "AKOOL_CLIENT_ID": "client-id-DO-NOT-LEAK"})

    assert result.returncode != 0
    assert "DO-NOT-LEAK" not in result.stderr


def test_postgresql_connections_come_from_a_pool_of_the_configured_size():
    database = started(
        {"DATABASE_URL": "postgres://u:p@127.0.0.1:5432/site", "DATABASE_POOL_SIZE": "5"},
        "DATABASES",
    )["DATABASES"]["default"]

    assert database["OPTIONS"]["pool"]["max_size"] == 5
    assert database["CONN_MAX_AGE"] == 0  # Django refuses persistent connections with a pool
    assert database["CONN_HEALTH_CHECKS"] is True  # a connection broken by a restart is replaced


def test_sqlite_runs_in_write_ahead_log_mode(tmp_path):
    probe = (
        "import django; django.setup(); from django.db import connection;"
        "c = connection.cursor(); c.execute('PRAGMA journal_mode'); print(c.fetchone()[0])"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "DJANGO_SETTINGS_MODULE": "avatarsite.settings",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'site.sqlite3'}",
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "wal"


def test_without_redis_the_cache_holds_live_state_for_thousands_of_sessions():
    default = started({}, "CACHES")["CACHES"]["default"]
    sized = started({"CACHE_MAX_ENTRIES": "5000"}, "CACHES")["CACHES"]["default"]

    assert default["BACKEND"] == "sessions.memory_cache.MemoryCache"
    assert default["OPTIONS"]["MAX_ENTRIES"] == 100_000
    assert sized["OPTIONS"]["MAX_ENTRIES"] == 5000


def test_the_forwarded_scheme_is_believed_only_with_a_trusted_proxy():
    # Without a declared proxy a client could send X-Forwarded-Proto: https itself.
    alone = started(PRODUCTION, "SECURE_PROXY_SSL_HEADER")
    proxied = started({**PRODUCTION, "TRUSTED_PROXIES": "10.0.0.1"}, "SECURE_PROXY_SSL_HEADER")

    assert alone["SECURE_PROXY_SSL_HEADER"] is None
    assert proxied["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
