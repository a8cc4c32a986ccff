"""Many live sessions at once: latency from a chat to its first `rtc_send`, under load.

    python bench/load.py                      # the whole table (about 10 minutes)
    python bench/load.py --setups memory --sessions 100 --duration 15

For each setup the bench starts its own servers on loopback, creates the sessions
through the API (spread over the processes), then, for each N, has N page sockets open
and chatting, each every --interval seconds (with random phase and +-20% jitter), for
--duration seconds, and measures:

- chat -> first rtc_send: from just before the client sends `{"type": "chat"}` to the
  arrival of the first `rtc_send` frame of that chat on the same socket (p50, p99, max).
  Measured on the client, so it includes both ends' event loops and the loopback.
- messages per second: every message the server sent to the page sockets during the
  window (rtc_send, transcript, ...), and chats per second;
- errors: sockets that failed to open or closed, `error` frames, chats with no
  `rtc_send` within 5 s;
- memory: resident memory (VmRSS) of the daphne processes before the first socket and
  after N sockets are open, per socket; and the processes' CPU during the window;
- the load generator itself: its CPU, and how late its own event loop wakes up (p99),
  so that a slow client is not mistaken for a slow server.

The sockets of a step all open within a few seconds, as after a restart when every page
reconnects at once; the sockets of the earlier steps stay open.

Setups:
- memory: one daphne on the embedded defaults (SQLite, local-memory cache, in-memory
  channel layer);
- redis: two daphnes sharing PostgreSQL and Redis (tools/services.py starts them in a
  temporary directory, PostgreSQL with its durable defaults), every session's socket on
  the process that did not create it.

By default the page does not pass frames on to an avatar (only chat -> first rtc_send is
measured, the part the site controls). --shuttle opens each session's sandbox socket too
(on the other process) and passes frames both ways, as the page does: the avatar reads
out every chat (preset cleo, mode 1) and every piece it speaks comes back as an
`rtc_message` the site records; a heavier load per session.

The servers run with DEBUG off and limits raised for the load. Everything is on
127.0.0.1, every phase is bounded in time, and the servers are stopped at the end.

Finding where the time goes: --profile DIR records each server's stacks with py-spy
(`pip install py-spy`; raw collapsed stacks, one file per server and step, all threads,
only while on the CPU: where the CPU goes, not where threads wait), and --app serves
another ASGI application, e.g. a module on PYTHONPATH that patches one thing, to measure a
change before making it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import websockets  # noqa: E402

from tools import services  # noqa: E402
from tools.serving import daphne_command, manage  # noqa: E402

SESSIONS_PER_USER = 50
REPLY_TIMEOUT = 5.0
OPEN_CONCURRENCY = 50
CREATE_CONCURRENCY = 16
CHAT_TEXT = "Hello there, how are you today?"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- servers ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Variant:
    """What is served, and from which tree: by default this tree's `manage.py serve`.
    bench/compare.py also serves an older revision from its own worktree, one from before
    `manage.py serve`, under plain daphne (`plain_daphne`), as it was served then."""

    name: str = ""  # in the setup column, when set
    root: Path = ROOT
    app: str = "avatarsite.asgi:application"
    plain_daphne: bool = False

    def command(self, port: int) -> list[str]:
        if not self.plain_daphne:
            return daphne_command(port, self.app)
        daphne = str(Path(sys.executable).with_name("daphne"))
        return [
            daphne, "--websocket-max-message-size", "65536",
            "-b", "127.0.0.1", "-p", str(port), self.app,
        ]  # fmt: skip

    def env(self, env: dict[str, str]) -> dict[str, str]:
        """The environment with this tree first on PYTHONPATH (the app's module, e.g.
        bench.floor, is found there; an older tree's packages are its own)."""
        path = [str(self.root), *filter(None, [env.get("PYTHONPATH")])]
        return {**env, "PYTHONPATH": os.pathsep.join(path)}

    def manage(self, env: dict[str, str], *args: str) -> str:
        return manage(self.env(env), *args, cwd=self.root)


class Daphne:
    """One served process, production-like: DEBUG off, logs at WARNING."""

    def __init__(self, workdir: Path, env: dict[str, str], name: str, variant: Variant) -> None:
        self.variant = variant
        self.port = services.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.env = variant.env(env)
        self.log_path = workdir / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> Daphne:
        log = open(self.log_path, "a")  # noqa: SIM115 - the child keeps it
        self.process = subprocess.Popen(
            self.variant.command(self.port),
            cwd=self.variant.root,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne exited: {self.log_path.read_text()[-2000:]}")
            try:
                httpx.get(f"{self.url}/api/v1/presets", timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("daphne did not start in 30 s")

    def stop(self) -> None:
        services.stop_process(self.process, timeout=15)

    def rss_kib(self) -> int:
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def cpu_seconds(self) -> float:
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime

    def errors_in_log(self) -> list[str]:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return [line for line in lines if " ERROR " in line or "Traceback" in line]

    def first_traceback(self) -> str:
        """The first logged traceback, to say what went wrong (the logs go with the run)."""
        text = self.log_path.read_text(errors="replace")
        start = text.find("Traceback")
        if start < 0:
            return ""
        lines = text[start:].splitlines()
        end = next((i for i, line in enumerate(lines[1:], 1) if not line.startswith(" ")), 0)
        return "\n".join(lines[: end + 1])


MAKE_TOKENS = """
import json
from django.contrib.auth import get_user_model
from sessions.models import ApiToken
tokens = []
for i in range({users}):
    user, _ = get_user_model().objects.get_or_create(username=f"bench{{i}}")
    tokens.append(ApiToken.issue(user, "bench")[1])
print(json.dumps(tokens))
"""


def server_env(base: dict[str, str], sessions: int, words_per_second: float) -> dict[str, str]:
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "bench-" + os.urandom(16).hex(),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
        "SESSION_CONCURRENT_GLOBAL": str(sessions),
        "SESSION_CONCURRENT_PER_PRINCIPAL": str(SESSIONS_PER_USER),
        "SESSION_CREATES_PER_HOUR": "100000",
        # The account's spend caps and an owner's socket cap would refuse a bench's
        # hundreds of sessions long before its load is reached.
        "SPEND_MINUTES_PER_DAY": "0",
        "SPEND_MINUTES_PER_MONTH": "0",
        "WS_SOCKETS_PER_PRINCIPAL": str(SESSIONS_PER_USER * 2),
        "CHAT_MESSAGES_PER_MINUTE": "1000",
        "SESSION_DISCONNECT_GRACE": "600",
        "SANDBOX_WORDS_PER_SECOND": str(words_per_second),
        **base,
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


# --- the page side -----------------------------------------------------------------------
@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    chats: int = 0
    messages: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


class PageSocket:
    """One session's page socket (and with --shuttle its sandbox socket)."""

    def __init__(self, session: dict[str, Any], token: str, page: Daphne, avatar: Daphne):
        self.session = session
        self.token = token
        self.page_server = page
        self.avatar_server = avatar
        self.ws: Any = None
        self.sandbox: Any = None
        self.sent_at: float | None = None
        self.stats: Stats | None = None  # set while a measurement window runs
        self.tasks: list[asyncio.Task] = []

    async def open(self, shuttle: bool) -> None:
        if shuttle:
            rtc = self.session["rtc"]
            self.sandbox = await websockets.connect(
                f"{self.avatar_server.ws_url}/ws/sandbox/{rtc['channel']}/"
                f"?token={quote(rtc['token'])}",
                origin=self.avatar_server.url,
                ping_interval=None,
                compression=None,
            )
        self.ws = await websockets.connect(
            self.page_server.ws_url + self.session["ws_path"],
            additional_headers={"Authorization": f"Bearer {self.token}"},
            ping_interval=None,
            compression=None,
            max_queue=None,
        )
        first = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
        if first.get("type") != "session" or first.get("status") != "active":
            raise RuntimeError(f"unexpected first message {first}")
        self.tasks.append(asyncio.create_task(self._read()))
        if self.sandbox is not None:
            self.tasks.append(asyncio.create_task(self._read_avatar()))

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                message = json.loads(raw)
                stats = self.stats
                if stats is not None:
                    stats.messages += 1
                kind = message.get("type")
                if kind == "rtc_send":
                    if self.sent_at is not None:
                        if stats is not None:
                            stats.latencies.append(time.perf_counter() - self.sent_at)
                        self.sent_at = None
                    if self.sandbox is not None:
                        await self.sandbox.send(message["frame"])
                elif kind == "error" and stats is not None:
                    stats.error(f"error frame {message.get('code')}")
        except websockets.ConnectionClosed:
            pass
        if self.stats is not None:
            self.stats.error("page socket closed")

    async def _read_avatar(self) -> None:
        try:
            async for frame in self.sandbox:
                if "sandbox_violation" in frame and self.stats is not None:
                    self.stats.error("sandbox violation")
                await self.ws.send(json.dumps({"type": "rtc_message", "data": frame}))
        except websockets.ConnectionClosed:
            if self.stats is not None:
                self.stats.error("sandbox socket closed")

    async def chat_for(self, stats: Stats, interval: float, until: float) -> None:
        await asyncio.sleep(random.uniform(0, interval))
        while time.monotonic() < until:
            if self.sent_at is not None:
                stats.error("no rtc_send within the interval")
            self.sent_at = time.perf_counter()
            stats.chats += 1
            await self.ws.send(json.dumps({"type": "chat", "text": CHAT_TEXT}))
            await asyncio.sleep(interval * random.uniform(0.8, 1.2))

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for ws in (self.ws, self.sandbox):
            if ws is not None:
                await ws.close()


@dataclass
class Profile:
    """py-spy's raw (collapsed) stacks of every server during every window."""

    py_spy: str
    directory: Path


# --- one setup ---------------------------------------------------------------------------
@dataclass
class Row:
    setup: str
    sessions: int
    sockets: int
    chats: int
    p50: float
    p99: float
    max: float
    messages_per_second: float
    chats_per_second: float
    errors: int
    error_kinds: dict[str, int]
    rss_per_socket_kib: float
    cpu_percent: float
    client_cpu_percent: float
    client_lag_p99: float
    server_cpu_seconds: float  # over the window and the wait for its last replies
    elapsed: float

    @property
    def cpu_ms_per_chat(self) -> float:
        return 1000 * self.server_cpu_seconds / self.chats if self.chats else float("nan")


async def create_sessions(
    servers: list[Daphne], tokens: list[str], count: int, preset: str
) -> list[tuple[dict[str, Any], str]]:
    gate = asyncio.Semaphore(CREATE_CONCURRENCY)
    clients = [httpx.AsyncClient(base_url=s.url, timeout=60) for s in servers]

    async def create(i: int) -> tuple[dict[str, Any], str]:
        token = tokens[i // SESSIONS_PER_USER]
        async with gate:
            response = await clients[i % len(servers)].post(
                "/api/v1/sessions",
                json={"preset": preset, "duration": 1800},
                headers={"Authorization": f"Bearer {token}"},
            )
        if response.status_code != 201:
            raise RuntimeError(f"create {i}: {response.status_code} {response.text[:300]}")
        return response.json(), token

    try:
        return await asyncio.gather(*(create(i) for i in range(count)))
    finally:
        for client in clients:
            await client.aclose()


async def measure(
    setup: str,
    servers: list[Daphne],
    pages: list[PageSocket],
    rss_before: int,
    interval: float,
    duration: float,
    profile: Profile | None = None,
) -> Row:
    stats = Stats()
    for page in pages:
        page.stats = stats
    rss_open = sum(s.rss_kib() for s in servers)
    cpu_before = sum(s.cpu_seconds() for s in servers)
    profilers = [
        subprocess.Popen(
            [
                profile.py_spy,
                "record",
                "--pid",
                str(server.process.pid),
                "--duration",
                str(int(duration)),
                "--rate",
                "200",
                "--threads",
                "--format",
                "raw",
                "--output",
                str(profile.directory / f"{setup.split()[0]}-{len(pages)}-{i}.txt"),
            ],  # fmt: skip
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i, server in enumerate(servers)
        if profile is not None and server.process is not None
    ]
    client_cpu_before = time.process_time()
    started = time.monotonic()
    until = started + duration
    lag = asyncio.create_task(loop_lag(until))
    await asyncio.gather(*(page.chat_for(stats, interval, until) for page in pages))
    lags = await lag
    # The last chats get their replies (or count as lost).
    deadline = time.monotonic() + REPLY_TIMEOUT
    while any(p.sent_at is not None for p in pages) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    elapsed = time.monotonic() - started
    cpu = sum(s.cpu_seconds() for s in servers) - cpu_before
    client_cpu = time.process_time() - client_cpu_before
    for profiler in profilers:
        profiler.wait(timeout=60)
    for page in pages:
        page.stats = None
        if page.sent_at is not None:
            stats.error("no rtc_send within 5 s")
            page.sent_at = None
    sockets = sum(1 + (page.sandbox is not None) for page in pages)
    latencies = sorted(stats.latencies)
    ms = [x * 1000 for x in latencies] or [float("nan")]
    return Row(
        setup=setup,
        sessions=len(pages),
        sockets=sockets,
        chats=stats.chats,
        p50=statistics.median(ms),
        p99=ms[min(len(ms) - 1, int(len(ms) * 0.99))],
        max=ms[-1],
        messages_per_second=stats.messages / elapsed,
        chats_per_second=stats.chats / elapsed,
        errors=sum(stats.errors.values()),
        error_kinds=dict(stats.errors),
        rss_per_socket_kib=(rss_open - rss_before) / sockets,
        cpu_percent=100 * cpu / elapsed,
        client_cpu_percent=100 * client_cpu / elapsed,
        client_lag_p99=lags[min(len(lags) - 1, int(len(lags) * 0.99))] * 1000,
        server_cpu_seconds=cpu,
        elapsed=elapsed,
    )


async def loop_lag(until: float, period: float = 0.01) -> list[float]:
    """How late the client's own event loop wakes up (sorted): what of the latency is
    the load generator's, not the server's."""
    lags = []
    while time.monotonic() < until:
        before = time.perf_counter()
        await asyncio.sleep(period)
        lags.append(time.perf_counter() - before - period)
    return sorted(lags) or [0.0]


async def open_pages(pages: list[PageSocket], shuttle: bool) -> int:
    gate = asyncio.Semaphore(OPEN_CONCURRENCY)
    failed = 0

    async def open_one(page: PageSocket) -> None:
        nonlocal failed
        async with gate:
            try:
                await page.open(shuttle)
            except Exception as exc:  # counted as errors, and the bench goes on
                failed += 1
                if failed <= 3:
                    print(f"    open failed: {exc!r}", flush=True)

    await asyncio.gather(*(open_one(p) for p in pages))
    return failed


def print_row(row: Row) -> None:
    print("  " + format_row(row), flush=True)


async def run_setup(
    args: argparse.Namespace,
    setup: str,
    workdir: Path,
    variant: Variant | None = None,
    report: Callable[[Row], None] = print_row,
) -> list[Row]:
    """One setup of one variant (by default this tree, serving args.app): its rows, each
    reported as it comes."""
    variant = variant or Variant(app=args.app)
    counts = sorted(args.sessions)
    total = counts[-1]
    users = -(-total // SESSIONS_PER_USER)
    rows: list[Row] = []
    with ExitStack() as stack:
        if setup == "redis":
            redis, postgres = stack.enter_context(services.running(durable=True))
            base = {"DATABASE_URL": postgres.url, "REDIS_URL": redis.url}
            processes = 2
        else:
            base = {"DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}"}
            processes = 1
        env = server_env(base, total, args.words_per_second)
        variant.manage(env, "migrate", "--noinput")
        variant.manage(env, "seed_demo")
        script = MAKE_TOKENS.format(users=users)
        output = variant.manage(env, "shell", "-v", "0", "-c", script)
        tokens = json.loads(output.splitlines()[-1])
        servers = []
        for i in range(processes):
            server = Daphne(workdir, env, f"{setup}-{i}", variant)
            stack.callback(server.stop)
            servers.append(server.start())
        label = variant.name or f"{setup} ({processes} process{'es' if processes > 1 else ''})"
        print(f"{label}: creating {total} sessions...", flush=True)
        started = time.monotonic()
        created = await asyncio.wait_for(
            create_sessions(servers, tokens, total, args.preset), args.phase_timeout
        )
        took = time.monotonic() - started
        print(f"  {total} sessions created in {took:.1f} s ({total / took:.0f}/s)", flush=True)
        await asyncio.sleep(1)
        rss_before = sum(s.rss_kib() for s in servers)

        pages: list[PageSocket] = []
        try:
            for count in counts:
                # Each session's socket goes to the process that did not create it (with
                # two processes), its sandbox socket to the other one.
                new = [
                    PageSocket(
                        session,
                        token,
                        servers[(i + 1) % processes],
                        servers[i % processes],
                    )
                    for i, (session, token) in enumerate(created[len(pages) : count], len(pages))
                ]
                failed = await asyncio.wait_for(open_pages(new, args.shuttle), args.phase_timeout)
                pages += [p for p in new if p.tasks]
                print(f"  {count} sockets: {failed} failed to open; chatting...", flush=True)
                row = await asyncio.wait_for(
                    measure(
                        label,
                        servers,
                        pages,
                        rss_before,
                        args.interval,
                        args.duration,
                        args.profile,
                    ),
                    args.duration + args.phase_timeout,
                )
                if failed:
                    row.errors += failed
                    row.error_kinds["socket failed to open"] = failed
                rows.append(row)
                report(row)
        finally:
            await asyncio.gather(*(p.close() for p in pages), return_exceptions=True)
        for server in servers:
            logged = server.errors_in_log()
            if logged:
                print(f"  {server.log_path.name}: {len(logged)} error lines, e.g. {logged[0]}")
                print("    " + server.first_traceback().replace("\n", "\n    "))
    return rows


HEADER = (
    "| setup | sessions | sockets | chats | p50 ms | p99 ms | max ms | msgs/s | chats/s | errors "
    "| RSS/socket KiB | server CPU % | client CPU % | client lag p99 ms |"
)


def format_row(row: Row) -> str:
    return (
        f"| {row.setup} | {row.sessions} | {row.sockets} | {row.chats} "
        f"| {row.p50:.1f} | {row.p99:.1f} | {row.max:.0f} "
        f"| {row.messages_per_second:.0f} | {row.chats_per_second:.0f} "
        f"| {row.errors} | {row.rss_per_socket_kib:.0f} | {row.cpu_percent:.0f} "
        f"| {row.client_cpu_percent:.0f} | {row.client_lag_p99:.1f} |"
    )


def raise_file_limit() -> None:
    """Each socket is a file descriptor on both ends."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--setups", nargs="+", default=["memory", "redis"])
    parser.add_argument("--sessions", nargs="+", type=int, default=[100, 500, 1000])
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between chats")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per window")
    parser.add_argument("--shuttle", action="store_true", help="pass frames to the avatar")
    parser.add_argument("--words-per-second", type=float, default=40.0)
    parser.add_argument("--phase-timeout", type=float, default=300.0)
    parser.add_argument(
        "--profile", type=Path, help="record py-spy stacks of the servers into this directory"
    )
    parser.add_argument(
        "--app",
        default="avatarsite.asgi:application",
        help="the ASGI application to serve (to measure a variant; PYTHONPATH reaches it)",
    )
    args = parser.parse_args()
    raise_file_limit()
    if args.profile:
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        args.profile.mkdir(parents=True, exist_ok=True)
        args.profile = Profile(py_spy, args.profile)
    args.preset = "cleo"
    print(f"load average before: {loadavg()} ({os.cpu_count()} CPUs)", flush=True)
    rows: list[Row] = []
    for setup in args.setups:
        with tempfile.TemporaryDirectory(prefix=f"bench-{setup}-") as tmp:
            rows += await run_setup(args, setup, Path(tmp))
    print(f"\nload average after: {loadavg()}")
    mode = "page <-> avatar shuttled" if args.shuttle else "page socket only"
    print(
        f"\nchat -> first rtc_send, {mode}, a chat every {args.interval:g} s per socket, "
        f"{args.duration:g} s per window\n"
    )
    print(HEADER)
    print("|" + "---|" * HEADER.count(" | ") + "---|")
    for row in rows:
        print(format_row(row))
    for row in rows:
        if row.error_kinds:
            print(f"errors in {row.setup} / {row.sessions}: {row.error_kinds}")


if __name__ == "__main__":
    asyncio.run(main())
