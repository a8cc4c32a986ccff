"""GET /healthz and GET /readyz, as a load balancer meets them."""

from __future__ import annotations

import logging
import time

import pytest
from django.db import OperationalError
from django.test import AsyncClient, Client, override_settings

from sessions import keys, shared_cache
from sessions.operations import health
from sessions.services import reaper
from tools import services

pytestmark = pytest.mark.django_db(transaction=True)


class _DownDatabase:
    """What health sees of a database that is down: a connection that cannot open."""

    def __getitem__(self, alias):
        return self

    def cursor(self):
        raise OperationalError("connection refused")

    def close_all(self):
        pass


def test_healthz_answers_without_a_signin_a_host_name_or_https(settings):
    settings.SECURE_SSL_REDIRECT = True  # production: pages go to HTTPS, probes do not
    settings.ALLOWED_HOSTS = ["avatars.example.com"]
    # A load balancer probes the process's address over plain HTTP.
    response = Client(HTTP_HOST="10.0.0.7:8000").get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert "no-store" in response["Cache-Control"]
    assert Client(HTTP_HOST="10.0.0.7:8000").get("/readyz").status_code == 200
    # Every other page still redirects to HTTPS.
    assert Client(HTTP_HOST="avatars.example.com").get("/accounts/login/").status_code == 301


def test_readyz_is_ready_when_everything_answers():
    response = Client().get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "ready": True,
        "checks": {"database": "ok", "cache": "ok", "channel_layer": "ok", "reaper": "ok"},
    }
    assert "no-store" in response["Cache-Control"]


def test_readyz_names_a_database_that_is_down_and_logs_no_error(monkeypatch, caplog):
    monkeypatch.setattr(health, "connections", _DownDatabase())
    with caplog.at_level(logging.WARNING):
        response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False
    assert body["checks"]["database"] == "failed: OperationalError"
    assert body["checks"]["cache"] == "ok"
    # The probe's answer, not a fault of the site's: no "Service Unavailable" error record.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


@pytest.mark.asyncio
async def test_readyz_gives_a_hanging_check_its_timeout_only(monkeypatch, settings):
    settings.READINESS_TIMEOUT = 0.2

    class Hanging(_DownDatabase):
        def cursor(self):
            time.sleep(1)
            raise OperationalError("too late")

    monkeypatch.setattr(health, "connections", Hanging())
    started = time.monotonic()
    response = await AsyncClient().get("/readyz")
    assert time.monotonic() - started < 0.9
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "no answer within 0.2 s"


@pytest.mark.asyncio
async def test_readyz_fails_when_no_reaper_pass_ran_for_three_intervals(settings, monkeypatch):
    settings.REAPER_INTERVAL = 0.1
    # Up for less than three intervals: no pass is expected yet.
    monkeypatch.setattr(health, "PROCESS_STARTED", time.monotonic())
    assert (await AsyncClient().get("/readyz")).status_code == 200
    # Up for longer, and no pass anywhere.
    monkeypatch.setattr(health, "PROCESS_STARTED", time.monotonic() - 1)
    response = await AsyncClient().get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["reaper"] == "no reaper pass in 0.3 s"
    # A pass (by any process: it is in the shared cache).
    await reaper.reap()
    assert (await AsyncClient().get("/readyz")).status_code == 200
    # Three intervals later, none since.
    await shared_cache.set(keys.REAPER_LAST_RUN, time.time() - 0.5, timeout=None)
    response = await AsyncClient().get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["reaper"].startswith("the last reaper pass was")


@pytest.mark.second_pass
def test_readyz_fails_when_redis_stops(settings, tmp_path):
    """A real Redis of the test's own, stopped under the site: the cache and the channel
    layer both fail, the answer still comes within the timeout."""
    if services.redis_binary() is None:
        pytest.skip("redis-server is not installed")
    settings.READINESS_TIMEOUT = 1.0
    redis = services.Redis(tmp_path).start()
    on_redis = override_settings(
        CACHES={
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": redis.url,
            }
        },
        CHANNEL_LAYERS={
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {"hosts": [redis.url]},
            }
        },
    )
    try:
        with on_redis:  # undone before the test's teardown clears the run's own cache
            assert Client().get("/readyz").status_code == 200
            redis.stop()
            started = time.monotonic()
            response = Client().get("/readyz")
            assert time.monotonic() - started < 3
    finally:
        redis.stop()
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == "ok"
    assert checks["cache"] != "ok" and checks["channel_layer"] != "ok", checks
