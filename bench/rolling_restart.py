"""A rolling restart under load: nothing lost, every page back, the latency it costs.

    python bench/rolling_restart.py                     # 300 sessions, 20 s before/after
    python bench/rolling_restart.py --sessions 100 --settle 10

`make serve`'s supervisor (manage.py serve_workers) runs two workers on PostgreSQL and
Redis (tools/services.py starts both in a temporary directory), behind a round-robin
TCP proxy of the bench's own on loopback (tools/loopback_proxy.py, skipping a worker that
refuses, as nginx's proxy_next_upstream does). The sessions are created through the
proxy, and each one's page socket opened through it; each page chats every --interval
seconds and, like static/js/relay.js, reconnects after a close that is not final (1012
"service restart" among them) after 300-500 ms. After --settle seconds the supervisor
gets SIGHUP: it drains and restarts one worker, waits for it to answer, then the other.
--settle seconds after it is done, the bench stops and prints:

- sessions lost or closed (their status in the database is not `active`): must be 0;
- page sockets back (open on an active session at the end) and reconnects made;
- chat -> first `rtc_send` latency (p50, p99, max) before, during and after the restart,
  by when the chat was sent; chats left without an answer (their socket closed under
  them, the page's relay would send them again) are counted apart.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402
import websockets  # noqa: E402

from bench import load  # noqa: E402
from tools import services  # noqa: E402
from tools.loopback_proxy import LoopbackProxy  # noqa: E402
from tools.serving import manage  # noqa: E402

FINAL_CLOSES = range(4000, 5000)  # the session ended, or the socket was refused: no retry


@dataclass
class Window:
    name: str
    latencies: list[float] = field(default_factory=list)
    unanswered: int = 0


class Page:
    """One session's page, reconnecting the way the relay does."""

    def __init__(self, url: str, session: dict[str, Any], token: str) -> None:
        self.url = url.replace("http://", "ws://") + session["ws_path"]
        self.headers = {"Authorization": f"Bearer {token}", "Origin": url}
        self.ws: Any = None
        self.open = asyncio.Event()
        self.sent_at: float | None = None
        self.window: Window | None = None
        self.reconnects = 0
        self.failures = 0  # connects that failed
        self.last_failure = ""
        self.close_codes: dict[int | None, int] = {}
        self.final_close: int | None = None

    async def run(self, gate: asyncio.Semaphore) -> None:
        while self.final_close is None:
            try:
                async with gate:  # the first opens, like load.py's, a few dozen at a time
                    self.ws = await websockets.connect(
                        self.url, additional_headers=self.headers, ping_interval=None
                    )
                first = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
                if first.get("status") != "active":
                    print(f"session not active at connect: {first}", flush=True)
                    self.final_close = -1
                    return
                self.open.set()
                await self._read()
            except (OSError, websockets.InvalidHandshake, asyncio.TimeoutError) as error:
                self.failures += 1
                self.last_failure = repr(error)
            self.open.clear()
            self._chat_cut()
            if self.ws is not None:
                self.close_codes[self.ws.close_code] = (
                    self.close_codes.get(self.ws.close_code, 0) + 1
                )
            if self.ws is not None and self.ws.close_code in FINAL_CLOSES:
                self.final_close = self.ws.close_code
                return
            self.reconnects += 1
            await asyncio.sleep(0.5 - random.uniform(0, 0.2))

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                if self.sent_at is not None and '"rtc_send"' in raw:
                    assert self.window is not None
                    self.window.latencies.append(time.perf_counter() - self.sent_at)
                    self.sent_at = None
        except websockets.ConnectionClosed:
            pass

    def _chat_cut(self) -> None:
        if self.sent_at is not None and self.window is not None:
            self.window.unanswered += 1
        self.sent_at = None

    async def chat_forever(self, interval: float, windows: list[Window]) -> None:
        await asyncio.sleep(random.uniform(0, interval))
        while True:
            if self.open.is_set() and self.sent_at is None:
                self.window = windows[-1]
                self.sent_at = time.perf_counter()
                try:
                    await self.ws.send(json.dumps({"type": "chat", "text": load.CHAT_TEXT}))
                except websockets.ConnectionClosed:
                    self._chat_cut()
            await asyncio.sleep(interval * random.uniform(0.8, 1.2))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def start_supervisor(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        supervisor = subprocess.Popen(
            [sys.executable, "manage.py", "serve_workers", "--workers", "2", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            for p in (port, port + 1):
                httpx.get(f"http://127.0.0.1:{p}/api/v1/presets", timeout=1)
            return supervisor
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"workers did not start: {log.read_text()[-2000:]}")


async def wait_for_line(log: Path, pattern: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not re.search(pattern, log.read_text()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {pattern!r} in {log.read_text()[-2000:]}")
        await asyncio.sleep(0.1)


async def run(args: argparse.Namespace, workdir: Path) -> None:
    with services.running(durable=True) as (redis, postgres):
        base = {
            "DATABASE_URL": postgres.url,
            "REDIS_URL": redis.url,
            "LOG_LEVEL": "INFO",
            # A few hundred 30-minute sessions pass the account's default daily cap.
            "SPEND_MINUTES_PER_DAY": "0",
            "SPEND_MINUTES_PER_MONTH": "0",
            # A bench user holds 50 sessions, each with its page socket; at its cap, a
            # socket reconnecting before the drained process has taken its old one off
            # the owner's list would take over (4409) one of its live sockets elsewhere.
            "WS_SOCKETS_PER_PRINCIPAL": str(2 * load.SESSIONS_PER_USER),
        }
        env = load.server_env(base, args.sessions, 40)
        manage(env, "migrate", "--noinput")
        manage(env, "seed_demo")
        users = -(-args.sessions // load.SESSIONS_PER_USER)
        script = load.MAKE_TOKENS.format(users=users)
        tokens = json.loads(manage(env, "shell", "-v", "0", "-c", script).splitlines()[-1])
        port = services.free_ports_in_a_row(2)
        log = workdir / "supervisor.log"
        supervisor = start_supervisor(env, port, log)
        proxy = await LoopbackProxy([port, port + 1]).start()
        url = f"http://127.0.0.1:{proxy.port}"
        try:
            await measure(args, url, tokens, supervisor, log, postgres.url)
        finally:
            await proxy.stop()
            supervisor.send_signal(signal.SIGTERM)
            supervisor.wait(60)


async def measure(args, url, tokens, supervisor, log, database_url) -> None:
    front = argparse.Namespace(url=url)
    created = await load.create_sessions([front], tokens, args.sessions, args.preset)
    pages = [Page(url, session, token) for session, token in created]
    gate = asyncio.Semaphore(load.OPEN_CONCURRENCY)
    runners = [asyncio.create_task(p.run(gate)) for p in pages]
    await asyncio.wait_for(asyncio.gather(*(p.open.wait() for p in pages)), 180)
    print(f"{len(pages)} sessions, their page sockets open through the proxy", flush=True)
    windows = [Window("before")]
    chatters = [asyncio.create_task(p.chat_forever(args.interval, windows)) for p in pages]
    await asyncio.sleep(args.settle)
    windows.append(Window("during"))
    started = time.monotonic()
    supervisor.send_signal(signal.SIGHUP)
    await wait_for_line(log, "rolling restart done", 180)
    took = time.monotonic() - started
    windows.append(Window("after"))
    await asyncio.sleep(args.settle)
    for task in chatters:
        task.cancel()
    back = sum(p.open.is_set() for p in pages)
    reconnects = sum(p.reconnects for p in pages)
    finals = [p.final_close for p in pages if p.final_close is not None]
    codes: dict[int | None, int] = {}
    for p in pages:
        for code, n in p.close_codes.items():
            codes[code] = codes.get(code, 0) + n
    print(f"page socket closes by code: {codes}")
    logged = [line for line in log.read_text().splitlines() if " ERROR " in line]
    print(f"error lines in the workers' logs: {len(logged)}", *logged[:3], sep="\n  ")
    failures = sum(p.failures for p in pages)
    if failures:
        example = next(p.last_failure for p in pages if p.failures)
        print(f"page socket connects that failed: {failures} (e.g. {example})")
    for task in runners:
        task.cancel()
    await asyncio.gather(*(p.ws.close() for p in pages if p.ws), return_exceptions=True)
    ids = [p["id"] for p, _ in created]
    with psycopg.connect(database_url) as db:
        active = db.execute(
            "SELECT count(*) FROM avatar_sessions_avatarsession WHERE status = 'active'"
            " AND id = ANY(%s)",
            (ids,),
        ).fetchone()[0]
    report(args, windows, took, len(pages) - active, back, reconnects, finals)


def report(args, windows, took, lost, back, reconnects, finals) -> None:
    print(f"rolling restart of 2 workers took {took:.1f} s")
    print(f"sessions lost or closed: {lost}")
    print(f"page sockets back: {back} of {args.sessions} ({reconnects} reconnects)")
    if finals:
        print(f"sockets closed for good: {len(finals)} (codes {sorted(set(finals))})")
    print("| window | chats answered | p50 ms | p99 ms | max ms | unanswered (socket closed) |")
    print("|---|---|---|---|---|---|")
    for w in windows:
        print(
            f"| {w.name} | {len(w.latencies)} | {percentile(w.latencies, 0.5):.1f} "
            f"| {percentile(w.latencies, 0.99):.1f} | {percentile(w.latencies, 1.0):.0f} "
            f"| {w.unanswered} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=300)
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between chats")
    parser.add_argument("--settle", type=float, default=20.0, help="seconds before and after")
    parser.add_argument("--preset", default="ada")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rolling-") as workdir:
        asyncio.run(run(args, Path(workdir)))


if __name__ == "__main__":
    os.environ.pop("DJANGO_SETTINGS_MODULE", None)
    main()
