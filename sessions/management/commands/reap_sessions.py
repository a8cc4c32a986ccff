"""The reaper outside the served processes: one pass (for cron), or a process of its own.

The reaper's process runs no sockets, so it does not beat: presence lists the processes
that hold sockets, and a session's `served_by` never names this one.
"""

import asyncio
import math
import signal

from asgiref.sync import async_to_sync, sync_to_async
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

from sessions.services.reaper import reap


class Command(BaseCommand):
    help = (
        "One reaper pass: close expired, abandoned and stuck sessions, retry failed "
        "closes, and close upstream sessions we do not hold as live. For cron; with "
        "--every N, a pass every N seconds until SIGTERM or SIGINT (needs Redis)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--every",
            type=float,
            metavar="SECONDS",
            help="run a pass every SECONDS until SIGTERM or SIGINT (each ends after its pass)",
        )

    def handle(self, *args, every: float | None = None, **options) -> None:
        if every is None:
            self.stdout.write(str(async_to_sync(reap)()))
            return
        if not math.isfinite(every) or every <= 0:  # NaN compares false to anything
            raise CommandError(f"--every takes a finite number of seconds above 0, not {every}")
        if isinstance(caches["default"], LocMemCache):
            # Presence (which sessions have a socket, which processes are alive) would be
            # this process's own, empty: every live session would look abandoned.
            raise CommandError(
                "--every needs a cache shared with the served processes (set REDIS_URL); "
                "on the embedded defaults each served process runs the reaper itself"
            )
        asyncio.run(self._every(every))

    async def _every(self, every: float) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(number, stop.set)
        while not stop.is_set():
            try:
                result = await reap()
            except Exception as exc:  # the database or the cache is away: try again
                self.stderr.write(f"pass failed: {exc!r}")
            else:
                self.stdout.write(str(result))
            self.stdout.flush()
            # A connection held between passes may have gone stale meanwhile.
            await sync_to_async(close_old_connections)()
            try:
                await asyncio.wait_for(stop.wait(), timeout=every)
            except TimeoutError:
                pass
