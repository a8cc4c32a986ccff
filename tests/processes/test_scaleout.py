"""Two served processes sharing PostgreSQL and Redis, as behind a load balancer.

Nothing may assume that both sockets of a session, or two requests of one user, land in
the same process: here the page's socket is on one daphne and the sandbox avatar's on
the other, the page moves to the other process mid-answer, and 50 creates spread over
both never exceed the global cap; a piece of the avatar's speech that reaches a stalled
process late still takes its place in the line.

Runs on the run's own PostgreSQL and Redis when DATABASE_URL and REDIS_URL point at them
(`make test` starts both for its second pass), else starts them here (tools/services.py),
else is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import pytest
import websockets

from sessions.stream.parser import ChatMessage, parse
from tests.support.live import LiveServer, seeded_database
from tools import services

pytestmark = pytest.mark.asyncio

GLOBAL_CAP = 5
CREATES = 50
# Numbered words: a lost, repeated or misplaced piece shows in the text. 240 words take
# 6 s to speak at the live server's 40 words a second.
LONG_TEXT = " ".join(f"w{i:03d}" for i in range(240))
# The page's first reconnect delay (static/js/backoff.js: 500 ms less up to half jitter).
RECONNECT_DELAY = 0.3


@dataclass
class Backends:
    database_url: str
    redis_url: str


@pytest.fixture(scope="module")
def backends() -> Iterator[Backends]:
    """A database of their own on the run's PostgreSQL, and a Redis database number of
    their own (the test process flushes its cache between tests; the served processes'
    state must survive that)."""
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if database_url.startswith(("postgres://", "postgresql://")) and redis_url:
        yield from _own_database(database_url, redis_url)
    elif services.available():
        with services.running(install=False) as (redis, postgres):
            yield from _own_database(postgres.url, redis.url)
    else:
        pytest.skip("needs PostgreSQL and Redis (make test installs and starts them)")


def _own_database(server_url: str, redis_url: str) -> Iterator[Backends]:
    name = f"scaleout_{uuid.uuid4().hex[:8]}"
    url = seeded_database(server_url, name) or services.create_database(server_url, name)
    try:
        yield Backends(url, services.with_redis_db(redis_url, 1))
    finally:
        services.drop_database(server_url, name)


@dataclass
class Site:
    a: LiveServer
    b: LiveServer
    token: str
    database_url: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def live_sessions(self) -> int:
        with psycopg.connect(self.database_url) as db:
            row = db.execute(
                "SELECT COUNT(*) FROM avatar_sessions_avatarsession WHERE status = 'active'"
            ).fetchone()
        return row[0]

    def transcript_rows(self, session_id: str) -> list[tuple[str, str, bool]]:
        """(role, text, final) of the session's stored lines, in order."""
        with psycopg.connect(self.database_url) as db:
            return db.execute(
                "SELECT role, text, final FROM avatar_sessions_transcriptentry"
                " WHERE session_id = %s ORDER BY created_at, id",
                (session_id,),
            ).fetchall()


@pytest.fixture(scope="module")
def site(backends: Backends, tmp_path_factory) -> Iterator[Site]:
    settings = {
        "DATABASE_URL": backends.database_url,
        "REDIS_URL": backends.redis_url,
        "SESSION_CONCURRENT_GLOBAL": str(GLOBAL_CAP),
        "SESSION_CONCURRENT_PER_PRINCIPAL": str(CREATES),
        "SESSION_CREATES_PER_HOUR": "1000",
    }
    a = LiveServer(tmp_path_factory.mktemp("process-a"), **settings)
    b = LiveServer(tmp_path_factory.mktemp("process-b"), **settings)
    try:
        a.start()  # migrates the shared database (unless seeded), b's then has nothing to do
        b.start()
        token = a.manage("create_api_token", "demo", "--name", "scale-out").strip()
        yield Site(a, b, token, backends.database_url)
    finally:
        a.stop()
        b.stop()


class Page:
    """The page's side of one session, played as static/js/relay.js plays it: a socket to
    whichever process the balancer picked; `rtc_send` frames passed on to the avatar in
    order; the avatar's stream messages forwarded as `rtc_message`, and kept in an outbox
    while the socket is away."""

    def __init__(self, site: Site, session: dict[str, Any]) -> None:
        self.site = site
        self.session = session
        self.ws: Any = None
        self.avatar: Any = None
        self.connected = False
        self.outbox: list[str] = []
        self.sockets: list[list[dict[str, Any]]] = []  # what each socket received
        self.spoken: list[Any] = []  # the avatar's chat pieces, as it sent them
        self.violations: list[str] = []
        self.forwarded = 0  # avatar pieces sent to the current socket
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    async def connect(self, server: LiveServer) -> None:
        self.ws = await websockets.connect(
            server.ws_url + self.session["ws_path"],
            additional_headers={**self.site.auth, "Origin": server.url},
        )
        self.sockets.append([])
        self.forwarded = 0
        self.connected = True
        self._tasks.append(asyncio.create_task(self._read_page(self.ws, self.sockets[-1])))
        queued, self.outbox = self.outbox, []
        for frame in queued:
            await self._forward(frame)

    async def open_avatar(self, server: LiveServer) -> None:
        rtc = self.session["rtc"]
        self.avatar = await websockets.connect(
            f"{server.ws_url}/ws/sandbox/{rtc['channel']}/?token={quote(rtc['token'])}",
            origin=server.url,
        )
        self._tasks.append(asyncio.create_task(self._read_avatar()))

    async def drop(self) -> None:
        """The connection to the page's process is lost (no close handshake). Frames the
        process had in flight are waited for first: a real drop could lose them, and no
        server can keep what never reached it."""
        self.connected = False
        await self.wait_for(lambda: self.echoed() >= self.forwarded, timeout=5)
        self.ws.transport.abort()

    def lose_connection(self) -> None:
        """The page's end of the connection goes (a network change, a proxy timeout):
        what was already sent still reaches the process, whenever it gets to read it."""
        self.connected = False
        self.ws.transport.close()

    async def chat(self, text: str) -> None:
        await self.ws.send(json.dumps({"type": "chat", "text": text}))

    async def wait_for(self, predicate, timeout: float = 15.0) -> None:
        async def poll() -> None:
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(poll(), timeout)

    def received(self, kind: str) -> list[dict[str, Any]]:
        return [m for socket in self.sockets for m in socket if m["type"] == kind]

    def done_speaking(self) -> bool:
        return any(m.get("speaking") is False for m in self.received("avatar"))

    def spoken_text(self) -> str:
        return "".join(piece.text for piece in self.spoken)

    def live_avatar_text(self, socket: int) -> str:
        return "".join(
            m["text"]
            for m in self.sockets[socket]
            if m["type"] == "transcript" and m["role"] == "avatar" and not m.get("replay")
        )

    def replayed_avatar_text(self, socket: int) -> str:
        """The avatar's line as the socket's last replayed frame put it in place (a replay
        lagging the line being said is followed by the line so far, replayed in place)."""
        replayed = [
            m["text"]
            for m in self.sockets[socket]
            if m["type"] == "transcript" and m["role"] == "avatar" and m.get("replay")
        ]
        return replayed[-1] if replayed else ""

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for ws in (self.ws, self.avatar):
            if ws is not None:
                await ws.close()

    def echoed(self) -> int:
        """Avatar pieces the current socket's process has recorded and echoed back."""
        return sum(
            1
            for m in self.sockets[-1]
            if m["type"] == "transcript" and m["role"] == "avatar" and m["text"]
        )

    async def _read_page(self, ws: Any, log: list[dict[str, Any]]) -> None:
        try:
            async for raw in ws:
                message = json.loads(raw)
                if message["type"] == "rtc_send":
                    await self.avatar.send(message["frame"])
                else:
                    log.append(message)
                self._changed.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self._changed.set()

    async def _read_avatar(self) -> None:
        try:
            async for frame in self.avatar:
                parsed = parse(frame)
                if isinstance(parsed, ChatMessage):
                    self.spoken.append(parsed)
                if "sandbox_violation" in frame:
                    self.violations.append(frame)
                if self.connected:
                    await self._forward(frame)
                else:
                    self.outbox.append(frame)
                self._changed.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self._changed.set()

    async def _forward(self, frame: str) -> None:
        if isinstance(parse(frame), ChatMessage):
            self.forwarded += 1
        await self.ws.send(json.dumps({"type": "rtc_message", "data": frame}))


async def _create(site: Site, server: LiveServer, preset: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.url, headers=site.auth) as http:
        created = await http.post("/api/v1/sessions", json={"preset": preset})
    assert created.status_code == 201, created.text
    return created.json()


async def _transcript(site: Site, server: LiveServer, session_id: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=server.url, headers=site.auth) as http:
        response = await http.get(f"/api/v1/sessions/{session_id}/transcript")
    assert response.status_code == 200, response.text
    return response.json()["messages"]


async def _close(site: Site, server: LiveServer, session_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.url, headers=site.auth) as http:
        response = await http.post(f"/api/v1/sessions/{session_id}/close")
    assert response.status_code == 200, response.text
    return response.json()


async def _rows_written(site: Site, session_id: str, count: int) -> None:
    for _ in range(50):
        if len(site.transcript_rows(session_id)) >= count:
            return
        await asyncio.sleep(0.1)


def _avatar_row(site: Site, session_id: str) -> tuple[str, str, bool]:
    """The avatar's line as stored (the user's line may still wait in a stopped process:
    it is written within WRITE_BEHIND_SECONDS of the process going on)."""
    rows = [row for row in site.transcript_rows(session_id) if row[0] == "avatar"]
    return rows[0] if rows else ("avatar", "", False)


async def _finish(page: Page, server: LiveServer) -> None:
    """Close the page's sockets, and its session (closing is idempotent), so that a failed
    test leaves nothing live for the next one."""
    await page.aclose()
    await _close(page.site, server, page.session["id"])


async def test_a_conversation_with_the_page_on_one_process_and_the_avatar_on_the_other(site):
    session = await _create(site, site.a, "ada")
    page = Page(site, session)
    try:
        await page.open_avatar(site.b)
        await page.connect(site.a)
        await page.wait_for(lambda: page.received("session"))
        await page.chat("Tell me about your day")
        await page.wait_for(page.done_speaking)
        # The typed line may wait up to WRITE_BEHIND_SECONDS in A, which B cannot see.
        await _rows_written(site, session["id"], 2)

        messages = await _transcript(site, site.b, session["id"])
        assert [m["role"] for m in messages] == ["user", "avatar"]
        assert messages[0]["text"] == "Tell me about your day"
        assert messages[1]["text"] == page.spoken_text() == page.live_avatar_text(0)
        assert [final for _, _, final in site.transcript_rows(session["id"])] == [True, True]
        assert page.spoken_text().strip()
        assert page.violations == []

        # Closed through the other process: both sockets hear it, wherever they are.
        assert (await _close(site, site.b, session["id"]))["status"] == "closed"
        await page.wait_for(lambda: page.ws.close_code is not None, timeout=10)
        await page.wait_for(lambda: page.avatar.close_code is not None, timeout=10)
        assert page.received("session")[-1]["status"] == "closed"
        assert page.ws.close_code == 4410
        assert page.avatar.close_code == 4410
    finally:
        await _finish(page, site.b)


async def test_the_page_moves_to_the_other_process_mid_answer_and_the_transcript_stays_whole(
    site,
):
    session = await _create(site, site.a, "cleo")  # mode 1: the avatar reads out the text
    page = Page(site, session)
    try:
        await page.open_avatar(site.b)
        await page.connect(site.a)
        await page.wait_for(lambda: page.received("session"))
        await page.chat(LONG_TEXT)
        # A quarter of the answer spoken, the page's connection drops.
        await page.wait_for(lambda: len(page.spoken) >= 15)
        await page.drop()
        await asyncio.sleep(RECONNECT_DELAY)
        assert page.outbox, "the avatar should have spoken while the page was away"
        await page.connect(site.b)
        await page.wait_for(page.done_speaking, timeout=20)

        # The avatar said every word once, in order.
        assert page.spoken_text() == LONG_TEXT
        assert [p.idx for p in page.spoken] == list(range(len(page.spoken)))
        # Persisted once, whole, in order, final.
        assert site.transcript_rows(session["id"]) == [
            ("user", LONG_TEXT, True),
            ("avatar", LONG_TEXT, True),
        ]
        messages = await _transcript(site, site.a, session["id"])
        assert [(m["role"], m["text"]) for m in messages] == [
            ("user", LONG_TEXT),
            ("avatar", LONG_TEXT),
        ]
        # The page's view: what the first socket showed, then the second socket's replay
        # of that and of what the sandbox recorded meanwhile, then the rest live: nothing
        # missing, nothing twice.
        before, after = page.live_avatar_text(0), page.live_avatar_text(1)
        replayed = page.replayed_avatar_text(1)
        assert before and after
        assert replayed.startswith(before) and len(replayed) > len(before)
        assert replayed + after == LONG_TEXT
        assert page.violations == []
        assert page.received("error") == []
    finally:
        await _finish(page, site.b)


async def test_a_reload_to_the_other_process_replays_the_lines_typed_just_before(site):
    # Typed lines wait up to WRITE_BEHIND_SECONDS in the process that took them; a reload
    # the balancer sends to the other process reads the database for its replay.
    session = await _create(site, site.a, "ada")
    page = Page(site, session)
    typed = ["first", "second", "third"]
    try:
        await page.open_avatar(site.a)
        await page.connect(site.a)
        await page.wait_for(lambda: page.received("session"))
        for text in typed:
            await page.chat(text)
        await page.wait_for(lambda: len(page.received("transcript")) >= len(typed))
        await page.ws.close()  # the reload: the old page goes, the new one connects
        await asyncio.sleep(0.1)  # a page loads in more than this, well under a second
        await page.connect(site.b)

        def replayed() -> list[str]:
            return [
                m["text"]
                for m in page.sockets[1]
                if m["type"] == "transcript" and m["role"] == "user" and m.get("replay")
            ]

        with contextlib.suppress(TimeoutError):  # a replay is whole in its first frames
            await page.wait_for(lambda: len(replayed()) >= len(typed), timeout=3)
        assert replayed() == typed
    finally:
        await _finish(page, site.b)


async def test_fifty_creates_over_both_processes_never_exceed_the_global_cap(site):
    assert site.live_sessions() == 0
    clients = [
        httpx.AsyncClient(base_url=server.url, headers=site.auth, timeout=60)
        for server in (site.a, site.b)
    ]
    try:
        start = asyncio.Event()

        async def create(i: int) -> httpx.Response:
            await start.wait()
            return await clients[i % 2].post("/api/v1/sessions", json={"preset": "ada"})

        attempts = [asyncio.create_task(create(i)) for i in range(CREATES)]
        start.set()
        responses = await asyncio.gather(*attempts)

        created = [r for r in responses if r.status_code == 201]
        refused = [r for r in responses if r.status_code != 201]
        assert len(created) == GLOBAL_CAP, [r.text for r in responses]
        assert {r.status_code for r in refused} == {429}
        assert {r.json()["error"]["code"] for r in refused} == {"global_sessions_limit"}
        assert site.live_sessions() == GLOBAL_CAP
        # Closing one on either process frees its slot for the other.
        first = created[0].json()["id"]
        await clients[1].post(f"/api/v1/sessions/{first}/close")
        again = await clients[0].post("/api/v1/sessions", json={"preset": "ada"})
        assert again.status_code == 201, again.text
        ids = [r.json()["id"] for r in created[1:]] + [again.json()["id"]]
        for i, session_id in enumerate(ids):
            closed = await clients[i % 2].post(f"/api/v1/sessions/{session_id}/close")
            assert closed.json()["status"] == "closed"
        assert site.live_sessions() == 0
    finally:
        for client in clients:
            await client.aclose()


async def test_a_piece_late_from_a_stalled_process_keeps_its_place_in_the_transcript(site):
    session = await _create(site, site.a, "cleo")
    page = Page(site, session)
    stopped = False
    try:
        await page.open_avatar(site.b)
        await page.connect(site.a)
        await page.wait_for(lambda: page.received("session"))
        await page.chat(LONG_TEXT)
        await page.wait_for(lambda: len(page.spoken) >= 10 and page.echoed() >= page.forwarded)
        # Process A stalls (a long GC pause, a starved CPU): the next piece the page
        # forwards waits in its socket, unread, and the page's connection goes.
        os.kill(site.a.process.pid, signal.SIGSTOP)
        stopped = True
        forwarded = page.forwarded
        await page.wait_for(lambda: page.forwarded > forwarded)
        page.lose_connection()
        await asyncio.sleep(RECONNECT_DELAY)
        await page.connect(site.b)
        await page.wait_for(page.done_speaking, timeout=20)
        assert _avatar_row(site, session["id"])[2] is True  # B finished the line
        # A wakes up and handles what it had received: the late piece.
        os.kill(site.a.process.pid, signal.SIGCONT)
        stopped = False
        for _ in range(50):
            if len(_avatar_row(site, session["id"])[1]) == len(LONG_TEXT):
                break
            await asyncio.sleep(0.1)

        assert page.spoken_text() == LONG_TEXT
        await _rows_written(site, session["id"], 2)  # A's waiting typed line too
        assert site.transcript_rows(session["id"]) == [
            ("user", LONG_TEXT, True),
            ("avatar", LONG_TEXT, True),
        ]
    finally:
        if stopped:
            os.kill(site.a.process.pid, signal.SIGCONT)
        await _finish(page, site.b)
