"""Graceful shutdown and `make serve`'s supervisor (manage.py serve_workers).

A page on a session served by process A, behind a proxy (tools/loopback_proxy.py, as
nginx would be): A gets SIGTERM, the page's socket closes with 1012, the page reconnects
as static/js/relay.js does, the proxy takes it to process B, and the session goes on,
transcript whole, until the user ends it. Two processes share their state only on
PostgreSQL and Redis: these run in make test's second pass (skipped in the first).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from django.core.management import call_command
from django.core.management.base import CommandError

from sessions import workers
from tests.support.live import LiveServer
from tools import services
from tools.loopback_proxy import LoopbackProxy
from tools.serving import ROOT

# The page's first reconnect delay (static/js/backoff.js: 500 ms less up to half jitter).
RECONNECT_DELAY = 0.3
CLOSE_SERVICE_RESTART = 1012
# A grace long enough for the reconnect, and a reaper quick enough to act within the test:
# a session it wrongly took for abandoned or crashed would show.
SHARED = {"REAPER_INTERVAL": "0.5", "SESSION_DISCONNECT_GRACE": "2", "HEARTBEAT_INTERVAL": "0.5"}


@pytest.fixture(scope="module")
def shared_backends() -> Iterator[dict[str, str]]:
    """A database of their own on the run's PostgreSQL and a Redis database number."""
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if not (database_url.startswith(("postgres://", "postgresql://")) and redis_url):
        pytest.skip("two processes share their state on PostgreSQL and Redis (second pass)")
    name = f"rolling_{uuid.uuid4().hex[:8]}"
    url = services.create_database(database_url, name)
    try:
        redis = services.with_redis_db(redis_url, 1)
        services.flush_redis(redis)
        yield {"DATABASE_URL": url, "REDIS_URL": redis}
    finally:
        services.drop_database(database_url, name)


class RelayPage:
    """The page's socket as static/js/relay.js keeps it: reconnects after a close that is
    not final (1012 among them) to the same address, here the proxy's."""

    def __init__(self, base: str, session: dict, auth: dict[str, str]) -> None:
        self.url = base.replace("http://", "ws://") + session["ws_path"]
        self.headers = {**auth, "Origin": base}
        self.ws: websockets.ClientConnection | None = None

    async def connect(self) -> dict:
        self.ws = await websockets.connect(self.url, additional_headers=self.headers)
        return await self.until(lambda m: m["type"] == "session")

    async def until(self, match) -> dict:
        assert self.ws is not None
        while not match(message := json.loads(await asyncio.wait_for(self.ws.recv(), 10))):
            pass
        return message

    async def chat(self, text: str) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps({"type": "chat", "text": text}))
        await self.until(lambda m: m["type"] == "transcript" and m.get("text") == text)

    async def closed_by_server(self) -> int | None:
        with pytest.raises(websockets.ConnectionClosed):
            await self.until(lambda m: False)
        assert self.ws is not None
        return self.ws.close_code


@pytest.mark.asyncio
async def test_a_page_moves_to_another_process_when_its_own_drains(shared_backends, tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    a = LiveServer(tmp_path / "a", **shared_backends, **SHARED)
    b = LiveServer(tmp_path / "b", **shared_backends, **SHARED)
    proxy = await LoopbackProxy([a.port, b.port], round_robin=False).start()
    base = f"http://127.0.0.1:{proxy.port}"
    try:
        a.start(), b.start()
        auth = {"Authorization": f"Bearer {a.manage('create_api_token', 'demo').strip()}"}
        async with httpx.AsyncClient(base_url=base, headers=auth) as http:
            created = await http.post("/api/v1/sessions", json={"preset": "ada"})
            assert created.status_code == 201, created.text
            session = created.json()
            page = RelayPage(base, session, auth)
            assert (await page.connect())["status"] == "active"
            assert proxy.connections == {a.port: 2, b.port: 0}  # the create and the socket
            await page.chat("Hello there")

            assert a.process is not None
            a.process.send_signal(signal.SIGTERM)
            assert await page.closed_by_server() == CLOSE_SERVICE_RESTART
            assert await asyncio.to_thread(a.process.wait, 10) == 0

            await asyncio.sleep(RECONNECT_DELAY)  # the relay's backoff, then the same address
            assert (await page.connect())["status"] == "active"
            assert proxy.connections[b.port] == 1
            await page.chat("And again")
            # Past the disconnect grace and several reaper passes on B: nothing took the
            # session for abandoned (A's socket gone) or crashed (A's beat gone).
            await asyncio.sleep(3)
            got = await http.get(f"/api/v1/sessions/{session['id']}/transcript")
            lines = [(m["role"], m["text"]) for m in got.json()["messages"]]
            assert lines == [("user", "Hello there"), ("user", "And again")]
            assert (await http.get(f"/api/v1/sessions/{session['id']}")).json()["status"] == (
                "active"
            )

            closed = await http.post(f"/api/v1/sessions/{session['id']}/close")
            assert closed.status_code == 200, closed.text
        assert b.query("SELECT status, close_reason FROM avatar_sessions_avatarsession") == [
            ("closed", "user")
        ]
        assert "Traceback" not in a.log() + b.log()
    finally:
        await proxy.stop()
        a.stop()
        b.stop()


# --- make serve -------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_several_workers_are_refused_without_shared_state(settings):
    settings.DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "x"}}
    with pytest.raises(CommandError, match="SQLite") as refused:
        call_command("serve_workers", "--workers", "2")
    assert "Set both, or run one worker (WORKERS=1)" in str(refused.value)
    settings.DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql"}}
    settings.REDIS_URL = ""
    with pytest.raises(CommandError, match="REDIS_URL is not set"):
        call_command("serve_workers", "--workers", "2")


def test_the_readme_shows_the_proxy_configuration_make_serve_prints():
    readme = (ROOT / "README.md").read_text()
    assert workers.proxy_config("127.0.0.1", [8000, 8001]) in readme
    makefile = (ROOT / "Makefile").read_text()
    assert "manage.py serve_workers --host $(HOST) --port $(PORT)" in makefile


def _pids(output: Path, port: int) -> list[int]:
    found = re.findall(rf"worker on port {port} started \(pid (\d+)\)", output.read_text())
    return [int(pid) for pid in found]


def _answers(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=1).close()
        return True
    except OSError:
        return False


def _wait(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_serve_workers_restarts_a_dead_worker_rolls_on_sighup_and_drains_on_sigterm(
    shared_backends, tmp_path
):
    port = services.free_ports_in_a_row(2)
    ports = [port, port + 1]
    env = {**os.environ, **shared_backends, "DEBUG": "true", "LOG_LEVEL": "INFO"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    output = tmp_path / "supervisor.log"
    with output.open("w") as out:
        supervisor = subprocess.Popen(
            [sys.executable, "manage.py", "serve_workers", "--workers", "2", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait(lambda: all(map(_answers, ports)), 60, f"workers not up: {output.read_text()}")
        text = output.read_text()
        assert f"server 127.0.0.1:{port} max_fails" in text and "Upgrade $http_upgrade" in text
        first = _pids(output, port)[0]

        os.kill(first, signal.SIGKILL)  # a worker dies: it is started again on its port
        _wait(lambda: len(_pids(output, port)) == 2, 10, "the dead worker was not restarted")
        _wait(lambda: _answers(port), 30, "the restarted worker does not answer")

        supervisor.send_signal(signal.SIGHUP)  # one at a time, each answering before the next
        _wait(lambda: "rolling restart done" in output.read_text(), 60, output.read_text())
        log = output.read_text()
        roll = log[log.index("rolling restart: one worker at a time") :]
        assert roll.index(f"worker on port {port} answers") < roll.index(
            f"worker on port {port + 1} started"
        )
        assert len(_pids(output, port)) == 3 and len(_pids(output, port + 1)) == 2

        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(30) == 0
        assert not any(map(_answers, ports))
        for pid in _pids(output, port) + _pids(output, port + 1):
            assert not Path(f"/proc/{pid}").exists() or "Z" in _state(pid)
    finally:
        services.stop_process(supervisor)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return "Z"
