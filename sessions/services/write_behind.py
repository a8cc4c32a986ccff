"""Rows of one model written together rather than one database round trip each.

Each `acreate` is a trip through Django's one async-ORM thread and a commit of its own;
with hundreds of sockets chatting, those trips were most of the server's CPU per chat
(bench/load.py). Two ways to share them:

- `add`: for records nobody waits for: a turn's timings (services.turn_timing), a user's
  typed line (services.transcript: the page was shown it, the avatar has it). Every row
  added within WRITE_BEHIND_SECONDS goes in one `bulk_create` (a bad row fails alone). A
  crash loses at most that last second of them; a served process that stops normally
  writes them first (serve.py cancels its tasks and lets them finish: the wait ends, the
  write still runs). Readers that need them now flush first, or look at `waiting`.
- `write`: for records the caller must know are stored (a user's line,
  services.transcript): returns once the row is committed. Rows written within
  GATHER_SECONDS of each other, or while an earlier batch is on its way, go together (a
  group commit). A batch that fails is written again row by row, so that one bad row fails
  alone. A commit cancelled while it gathers (the process stops) still writes its rows.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import models

from sessions.services.background import in_background

log = logging.getLogger("avatarsite.writes")

# How long a group commit waits for more rows before it goes (each writer waits that much
# longer; the page was shown its line already).
GATHER_SECONDS = 0.02


class Batch:
    """The rows of one model waiting to be written, in this process's event loop."""

    def __init__(self, model: type[models.Model]) -> None:
        self.model = model
        self._loop: asyncio.AbstractEventLoop | None = None
        self._later: list[models.Model] = []  # added: written within a second
        self._writer: asyncio.Task | None = None
        # Added rows taken by a flush whose insert is under way, and when that is over: a
        # reader still sees them (`waiting`) and waits for them (`flush`).
        self._on_way: list[models.Model] = []
        self._stores: set[asyncio.Future] = set()
        self._waiting: list[tuple[models.Model, asyncio.Future]] = []  # written now
        self._committer: asyncio.Task | None = None

    def _this_loop(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # What waited in a loop that is gone (a test's) died with it, like its tasks.
            self._loop, self._later, self._waiting, self._on_way = loop, [], [], []
            self._writer = self._committer = None
            self._stores = set()
        return loop

    # --- written within a second ------------------------------------------------------
    def add(self, row: models.Model) -> None:
        self._this_loop()
        self._later.append(row)
        if self._writer is None:
            self._writer = in_background(self._write_soon())

    async def _write_soon(self) -> None:
        try:
            await asyncio.sleep(settings.WRITE_BEHIND_SECONDS)
        finally:  # also when cancelled at shutdown: what waits is written
            self._writer = None
            await self.flush()

    async def flush(self) -> None:
        """Write what was added, now (tests, readers, and the end of the process); returns
        once every row added before it is stored (or failed), a flush under way too."""
        rows, self._later = self._later, []
        loop = _running_loop()
        earlier = [store for store in self._stores if store.get_loop() is loop]
        if rows:
            stored = loop.create_future()
            self._stores.add(stored)
            self._on_way += rows
            try:
                await self._store(rows)
            finally:
                gone = {id(row) for row in rows}
                self._on_way = [row for row in self._on_way if id(row) not in gone]
                self._stores.discard(stored)
                stored.set_result(None)
        if earlier:
            await asyncio.wait(earlier)  # not cancelled with us: others wait for them too

    async def _store(self, rows: list[models.Model]) -> None:
        try:
            failures = await _in_orm_thread(self.model, rows)
        except Exception as exc:  # the database is away: nobody waits to be told
            failures = [exc] * len(rows)
        failed = [exc for exc in failures if exc is not None]
        if failed:
            log.error(
                "could not write %d of %d %s row(s): %r",
                len(failed),
                len(rows),
                self.model.__name__,
                failed[0],
            )

    def waiting(self, match: Callable[[models.Model], bool]) -> bool:
        """Whether a row added and not written yet matches."""
        rows = itertools.chain(self._later, self._on_way)
        return self._loop is _running_loop() and any(match(row) for row in rows)

    # --- written now, with whatever else is being written -----------------------------
    async def write(self, row: models.Model) -> None:
        """Store `row`; returns once it is committed (raises what its insert raised)."""
        done = self._this_loop().create_future()
        self._waiting.append((row, done))
        if self._committer is None:
            self._committer = in_background(self._commit())
        await done

    async def _commit(self) -> None:
        try:
            while self._waiting:
                # A moment for the other sockets' rows of this moment to join the batch.
                await asyncio.sleep(GATHER_SECONDS)
                await self._commit_batch()
        finally:
            self._committer = None
            if self._waiting:  # cancelled while gathering (shutdown): written all the same
                await self._commit_batch()

    async def _commit_batch(self) -> None:
        batch, self._waiting = self._waiting, []
        failures = await _in_orm_thread(self.model, [r for r, _ in batch])
        for (_, done), failure in zip(batch, failures, strict=True):
            if done.done():
                continue  # its writer was cancelled (the socket closed): stored anyway
            if failure is None:
                done.set_result(None)
            else:
                done.set_exception(failure)


async def _in_orm_thread(model: type[models.Model], rows: list[models.Model]) -> list:
    """On the thread Django's async ORM queries run on, keeping its connection open
    (channels' database_sync_to_async closes it after every call: a reconnect each time)."""
    return await sync_to_async(_insert)(model, rows)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _insert(model: type[models.Model], rows: list[models.Model]) -> list[Exception | None]:
    """Insert the rows in one statement; if that fails, each on its own: per row, what
    its insert raised (None when it is stored)."""
    try:
        model.objects.bulk_create(rows)
        return [None] * len(rows)
    except Exception as exc:
        if len(rows) == 1:
            return [exc]
    failures: list[Exception | None] = []
    for row in rows:
        try:
            row.save(force_insert=True)
            failures.append(None)
        except Exception as exc:
            failures.append(exc)
    return failures
