"""The processes: `manage.py serve` (daphne's server and the process's background loop,
started with the server) and `manage.py reap_sessions --every N` (the reaper as a process
of its own, on Redis)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.support.live import LiveServer
from tools import services
from tools.serving import ROOT, daphne_command

# The reaper's first pass comes one disconnect grace after start-up, then every interval.
QUICK_REAPER = {"REAPER_INTERVAL": "0.5", "SESSION_DISCONNECT_GRACE": "0.5"}
# The close code of a socket the server closes as it stops ("service restart").
CLOSE_SERVICE_RESTART = 1012
STATES = "SELECT status, close_reason FROM avatar_sessions_avatarsession ORDER BY created_at"


def test_served_processes_start_the_way_make_run_does():
    command = daphne_command(8123)
    assert command[:3] == [sys.executable, str(ROOT / "manage.py"), "serve"]
    makefile = (ROOT / "Makefile").read_text()
    assert "$(PY) manage.py serve --host $(HOST) --port $(PORT)" in makefile


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("serve"), **QUICK_REAPER).start()
    yield server
    server.stop()


async def open_session(server: LiveServer, token: str) -> websockets.ClientConnection:
    """A session created over HTTP, its page socket open and the session active."""
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.url, headers=auth) as http:
        created = await http.post("/api/v1/sessions", json={"preset": "ada"})
    assert created.status_code == 201, created.text
    page = await websockets.connect(
        server.ws_url + created.json()["ws_path"],
        additional_headers={**auth, "Origin": server.url},
    )
    while '"active"' not in await asyncio.wait_for(page.recv(), timeout=10):
        pass
    return page


def expire_sessions(server: LiveServer) -> None:
    """Every live session's time is up, as far as the database says (its socket's own
    timer, set at connect for the full duration, does not know)."""
    server.manage(
        "shell",
        "-c",
        "from datetime import timedelta; from django.utils import timezone; "
        "from sessions.models import AvatarSession; "
        "AvatarSession.objects.filter(status='active')"
        ".update(expires_at=timezone.now() - timedelta(seconds=1))",
    )


async def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)
    return found


@pytest.mark.asyncio
async def test_serve_answers_pages_and_sockets_and_its_background_loop_reaps(served):
    assert httpx.get(f"{served.url}/accounts/login/").status_code == 200
    token = served.manage("create_api_token", "demo", "--name", "serve test").strip()
    page = await open_session(served, token)
    try:
        expire_sessions(served)
        # Nothing but the process's background loop closes it: the page is still there.
        await wait_for(
            lambda: served.query(STATES) == [("closed", "expired")],
            timeout=10,
            what=f"the reaper did not close the session: {served.query(STATES)}",
        )
        events = served.query(
            "SELECT message FROM avatar_sessions_sessionevent WHERE message LIKE 'reaper:%'"
        )
        assert events == [("reaper: its time was up and no socket of ours ended it",)]
    finally:
        await page.close()


@pytest.mark.asyncio
async def test_a_restarted_process_reaps_before_anyone_connects(tmp_path):
    # First run: it beats but does not reap; a session is created, no page connects.
    server = LiveServer(tmp_path, REAPER_INTERVAL="0").start()
    restarted = None
    try:
        token = server.manage("create_api_token", "demo").strip()
        async with httpx.AsyncClient(base_url=server.url) as http:
            created = await http.post(
                "/api/v1/sessions",
                json={"preset": "ada"},
                headers={"Authorization": f"Bearer {token}"},
            )
        assert created.status_code == 201, created.text
        server.kill()
        # Restarted, and nobody sends it a request: its background loop runs anyway.
        log = tmp_path / "restarted.log"
        with log.open("w") as out:
            restarted = subprocess.Popen(
                daphne_command(server.port),
                cwd=ROOT,
                env={**server.env, **QUICK_REAPER},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        await wait_for(
            # No page ever connected: abandoned (a session whose process stopped beating
            # while it held its socket would be `crashed`).
            lambda: server.query(STATES) == [("closed", "abandoned")],
            timeout=20,
            what="the restarted process did not reap",
        )
        assert restarted.poll() is None
        assert "HTTP" not in log.read_text() and '"GET ' not in log.read_text()
    finally:
        services.stop_process(restarted)
        server.stop()


@pytest.mark.asyncio
async def test_sigterm_closes_sockets_with_a_goodbye_then_exits_0(tmp_path):
    server = LiveServer(tmp_path).start()
    try:
        token = server.manage("create_api_token", "demo").strip()
        page = await open_session(server, token)
        for text in ("Hello there", "And again"):
            await page.send(json.dumps({"type": "chat", "text": text}))
            # The user's line comes back once the socket has counted the chat.
            while f'"{text}"' not in await asyncio.wait_for(page.recv(), timeout=10):
                pass
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        # The page's socket is closed by the server with "service restart" (a code the
        # page's relay reconnects on, to another process if need be)...
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await asyncio.wait_for(page.recv(), timeout=10)
        assert page.close_code == CLOSE_SERVICE_RESTART, page.close_code
        # ...and so does the process, soon and cleanly.
        assert await asyncio.to_thread(server.process.wait, 10) == 0
        assert time.monotonic() - started < 5
        # The socket's disconnect ran: its counters are recorded, and the session lives on
        # (the page reconnects; a close after the grace was not this process's to wait for).
        counted = "SELECT status, chat_count, frames_sent > 0 FROM avatar_sessions_avatarsession"
        assert server.query(counted) == [("active", 2, 1)]
        if "REDIS_URL" in server.env:  # presence is shared: the socket's count is gone
            owners = server.manage(
                "shell",
                "--no-imports",
                "-c",
                "from django.core.cache import cache; from sessions import keys; "
                "from sessions.models import AvatarSession; "
                "print(cache.get(keys.presence_owners(AvatarSession.objects.get().pk)))",
            )
            assert owners.strip() == "0"
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{server.url}/accounts/login/", timeout=2)
        assert "Traceback" not in server.log()
        assert "took too long to shut down" not in server.log()
    finally:
        server.stop()


# --- reap_sessions --every ------------------------------------------------------------
def test_reap_sessions_every_refuses_a_cache_of_its_own_process(settings):
    settings.CACHES = {"default": {"BACKEND": "sessions.memory_cache.MemoryCache"}}
    with pytest.raises(CommandError, match="REDIS_URL"):
        call_command("reap_sessions", "--every", "1")


@pytest.fixture
def redis(tmp_path) -> Iterator[services.Redis]:
    if services.redis_binary() is None:
        pytest.skip("redis-server is not installed")
    server = services.Redis(tmp_path).start()
    yield server
    server.stop()


@pytest.mark.asyncio
async def test_reap_sessions_every_reaps_on_its_own_until_sigterm(tmp_path: Path, redis):
    # A served process that does not reap (REAPER_INTERVAL=0) but beats, and its page's
    # socket heartbeats, in Redis, where the reaper's own process sees them.
    shared = {
        "REDIS_URL": redis.url_for_db(1),
        "HEARTBEAT_INTERVAL": "0.5",
        "SESSION_DISCONNECT_GRACE": "1",
    }
    server = LiveServer(tmp_path, REAPER_INTERVAL="0", **shared).start()
    output, errors = tmp_path / "reaper.out", tmp_path / "reaper.log"
    reaper = None
    try:
        token = server.manage("create_api_token", "demo").strip()
        expired_page = await open_session(server, token)
        expire_sessions(server)
        live_page = await open_session(server, token)  # with its page, past the grace
        await asyncio.sleep(1.5)

        with output.open("w") as out, errors.open("w") as log:
            reaper = subprocess.Popen(
                [sys.executable, "manage.py", "reap_sessions", "--every", "0.5"],
                cwd=ROOT,
                env=server.env,
                stdout=out,
                stderr=log,
            )
        await wait_for(
            lambda: len(output.read_text().splitlines()) >= 3,
            timeout=30,
            what=f"fewer than three passes: {output.read_text()}",
        )
        reaper.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(reaper.wait, 10) == 0

        lines = output.read_text().splitlines()
        assert lines[0].startswith("expired 1, abandoned 0, crashed 0,"), lines
        assert all(line.startswith("expired 0, abandoned 0, crashed 0,") for line in lines[1:])
        assert all(line.endswith("errors 0") for line in lines), lines
        assert "Traceback" not in errors.read_text()
        # The session whose page is there stays: the reaper saw its heartbeat in Redis.
        assert server.query(STATES) == [("closed", "expired"), ("active", "")]
        await expired_page.close()
        await live_page.close()
    finally:
        services.stop_process(reaper)
        server.stop()
