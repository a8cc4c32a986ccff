"""The site's Prometheus metrics, in plain Python (the LLM client and the AKool provider,
which know nothing of Django, count here too).

With PROMETHEUS_MULTIPROC_DIR set (in the environment, before the first import of
prometheus_client), every served process writes its values to files in that directory and
one scrape of any process reads them all (sessions/operations/scrape.py); without it, each
process counts for itself.

Nothing here costs work per relayed message: a socket's frames and bytes are the traffic
counters its consumer keeps anyway, added to the metrics once a second while it is open
and at its close; its limit refusals are tallied in a plain dict the same way.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import glob
import os
import re
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client import multiprocess as _multiprocess

MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
if MULTIPROC_DIR:
    os.makedirs(MULTIPROC_DIR, exist_ok=True)

# Seconds between two additions of the open sockets' counters.
FLUSH_INTERVAL = 1.0

SOCKETS_OPEN = Gauge(
    "avatarsite_sockets_open",
    "Session websockets open now.",
    multiprocess_mode="livesum",
)
FRAMES_SENT = Counter(
    "avatarsite_frames_sent", "Frames the session sockets sent to pages for the avatar."
)
BYTES_SENT = Counter("avatarsite_frame_bytes_sent", "Bytes of the frames sent for the avatar.")
REFUSALS = Counter(
    "avatarsite_limit_refusals", "Messages refused by a limit on the session sockets.", ["code"]
)
PACER_BACKLOG = Gauge(
    "avatarsite_pacer_backlog_bytes",
    "Bytes queued in the sockets' pacers, waiting for the stream's rate.",
    multiprocess_mode="livesum",
)
UPSTREAM_SECONDS = Histogram(
    "avatarsite_upstream_call_seconds",
    "The avatar provider's HTTP calls: time to an answer (or a failure), by endpoint.",
    ["endpoint"],
)
UPSTREAM_ERRORS = Counter(
    "avatarsite_upstream_call_errors",
    "The avatar provider's HTTP calls that failed, by endpoint.",
    ["endpoint"],
)
LLM_FIRST_TOKEN = Histogram(
    "avatarsite_llm_first_token_seconds",
    "Time from asking the operator's LLM to the first piece of its answer.",
    buckets=(0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30),
)
REAPER_ACTIONS = Counter(
    "avatarsite_reaper_actions", "What the reaper's passes did, by kind.", ["kind"]
)
SESSIONS_CLOSED = Counter(
    "avatarsite_sessions_closed", "Sessions closed, by close reason.", ["reason"]
)


# --- sockets ----------------------------------------------------------------------------
@dataclass
class _Tally:
    """What of a socket's counters the metrics have already."""

    frames: int = 0
    size: int = 0
    refusals: collections.Counter = field(default_factory=collections.Counter)


_sockets: weakref.WeakKeyDictionary[Any, _Tally] = weakref.WeakKeyDictionary()
_flusher: asyncio.Task | None = None


class MeteredSocket:
    """For the session socket's class: counted open once its connect joined it to its
    session (`joined`), closed when it goes."""

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        await super().websocket_connect(message)  # type: ignore[misc]
        if getattr(self, "joined", False):
            socket_opened(self)

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        socket_closed(self)
        await super().websocket_disconnect(message)  # type: ignore[misc]


def socket_opened(socket: Any) -> None:
    """A session socket joined: counted open, its counters followed (`frames_sent`,
    `bytes_sent`, `pacer`) until `socket_closed`."""
    global _flusher
    _sockets[socket] = _Tally()
    SOCKETS_OPEN.inc()
    loop = asyncio.get_running_loop()
    if _flusher is None or _flusher.done() or _flusher.get_loop() is not loop:
        # In a context of its own, as the reaper's loop: not the first socket's.
        _flusher = contextvars.Context().run(loop.create_task, _flush_while_open())


def refused(socket: Any, code: str) -> None:
    tally = _sockets.get(socket)
    if tally is not None:
        tally.refusals[code] += 1


def socket_closed(socket: Any) -> None:
    tally = _sockets.pop(socket, None)
    if tally is not None:
        _flush(socket, tally)
        SOCKETS_OPEN.dec()


def flush() -> None:
    """Add what the open sockets counted since the last flush; the pacers' backlog now."""
    backlog = frames = size = 0
    for socket, tally in list(_sockets.items()):
        frames_now, size_now = _sent(socket)
        frames, size = frames + frames_now - tally.frames, size + size_now - tally.size
        tally.frames, tally.size = frames_now, size_now
        _flush_refusals(tally)
        pacer = getattr(socket, "pacer", None)
        backlog += pacer.queued_bytes if pacer is not None else 0
    if frames:  # the sum of all of them: one update a second, however many sockets
        FRAMES_SENT.inc(frames)
        BYTES_SENT.inc(size)
    PACER_BACKLOG.set(backlog)


def _sent(socket: Any) -> tuple[int, int]:
    return getattr(socket, "frames_sent", 0), getattr(socket, "bytes_sent", 0)


def _flush(socket: Any, tally: _Tally) -> None:
    frames, size = _sent(socket)
    if frames > tally.frames:
        FRAMES_SENT.inc(frames - tally.frames)
        BYTES_SENT.inc(size - tally.size)
        tally.frames, tally.size = frames, size
    _flush_refusals(tally)


def _flush_refusals(tally: _Tally) -> None:
    for code, count in tally.refusals.items():
        REFUSALS.labels(code).inc(count)
    tally.refusals.clear()


async def _flush_while_open() -> None:
    while _sockets:
        await asyncio.sleep(FLUSH_INTERVAL)
        flush()
    PACER_BACKLOG.set(0)


# --- the rest ---------------------------------------------------------------------------
def upstream_call(endpoint: str, started: float, *, failed: bool) -> None:
    """One HTTP call to the avatar provider, begun at `started` (time.monotonic())."""
    UPSTREAM_SECONDS.labels(endpoint).observe(time.monotonic() - started)
    if failed:
        UPSTREAM_ERRORS.labels(endpoint).inc()


def llm_first_token(started: float) -> None:
    LLM_FIRST_TOKEN.observe(time.monotonic() - started)


def reaped(actions: dict[str, int]) -> None:
    for kind, count in actions.items():
        if count:
            REAPER_ACTIONS.labels(kind).inc(count)


def session_closed(reason: str) -> None:
    SESSIONS_CLOSED.labels(reason or "unknown").inc()


# --- processes --------------------------------------------------------------------------
_PID_FILE = re.compile(r"_(\d+)\.db$")


def forget_dead_processes() -> list[int]:
    """Remove the live gauges (open sockets, backlog) of worker processes that are gone,
    as the client library documents (`mark_process_dead`): a worker that was killed never
    cleaned up after itself, and its sockets would count as open forever. Their counters
    stay: a counter must not go back. Returns the pids forgotten."""
    if not MULTIPROC_DIR:
        return []
    pids = set()
    for path in glob.glob(os.path.join(MULTIPROC_DIR, "gauge_live*.db")):
        match = _PID_FILE.search(path)
        if match and not _running(int(match.group(1))):
            pids.add(int(match.group(1)))
    for pid in pids:
        _multiprocess.mark_process_dead(pid, MULTIPROC_DIR)
    return sorted(pids)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True
