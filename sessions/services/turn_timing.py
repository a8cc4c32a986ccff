"""How long each turn took: the end of the user's words (typed or spoken) -> the first
frame sent to the avatar -> the avatar's `audio_start` (TurnTiming rows).

Off the hot path: one insert when the turn starts and one update when `audio_start`
comes (or the turn is interrupted), both in background tasks; the first frame is only
noted in memory. Read back as p50/p95 (`summary`) on the admin session page and, per
preset, on the usage page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from sessions.services import lifecycle
from sessions.tool_models import TurnTiming

log = logging.getLogger("avatarsite.turns")


def _ms(since: float) -> int:
    return max(0, round((time.monotonic() - since) * 1000))


class TurnClock:
    """One session socket's turns, one at a time (a new turn ends the one before)."""

    def __init__(self, session_id: Any) -> None:
        self.session_id = session_id
        self._started = 0.0  # monotonic end of the user's words
        self._row: asyncio.Task | None = None  # the insert, then the row's id
        self._first_frame_ms: int | None = None
        self._done = True

    def asked(self, *, spoken: bool, ended_at: float | None = None) -> None:
        """A turn starts: the user's words ended at `ended_at` (monotonic; now if None)."""
        self._started = time.monotonic() if ended_at is None else ended_at
        self._first_frame_ms = None
        self._done = False
        asked_at = timezone.now() - timezone.timedelta(milliseconds=_ms(self._started))
        self._row = lifecycle.in_background(self._insert(spoken, asked_at))

    async def _insert(self, spoken: bool, asked_at: Any) -> int | None:
        try:
            row = await TurnTiming.objects.acreate(
                session_id=self.session_id, spoken=spoken, asked_at=asked_at
            )
        except Exception:  # a lost timing row never costs the user their answer
            log.exception("session %s: could not record a turn", self.session_id)
            return None
        return row.pk

    def frame_sent(self) -> None:
        if not self._done and self._first_frame_ms is None:
            self._first_frame_ms = _ms(self._started)

    def audio_started(self) -> None:
        if self._done or self._first_frame_ms is None:
            return  # not our turn's speech (or nothing of it went out yet)
        self._done = True
        self._update(first_frame_ms=self._first_frame_ms, audio_start_ms=_ms(self._started))

    def interrupted(self) -> None:
        """The turn's answer was cut short (whether or not the avatar began it)."""
        fields: dict[str, Any] = {"interrupted": True, "first_frame_ms": self._first_frame_ms}
        self._done = True
        self._update(**fields)

    def _update(self, **fields: Any) -> None:
        row = self._row
        if row is None:
            return

        async def update() -> None:
            with contextlib.suppress(Exception):
                pk = await row
                if pk is not None:
                    await TurnTiming.objects.filter(pk=pk).aupdate(**fields)

        lifecycle.in_background(update())


def percentile(values: list[int], share: float) -> int | None:
    """The nearest-rank percentile of `values` (None when there are none)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def summary(rows: Iterable[tuple[int | None, int | None]]) -> dict[str, int | None]:
    """p50/p95 of (first_frame_ms, audio_start_ms) pairs, each over the turns that have it."""
    rows = list(rows)
    first = [f for f, _ in rows if f is not None]
    audio = [a for _, a in rows if a is not None]
    return {
        "turns": len(rows),
        "first_frame_p50": percentile(first, 0.5),
        "first_frame_p95": percentile(first, 0.95),
        "audio_start_p50": percentile(audio, 0.5),
        "audio_start_p95": percentile(audio, 0.95),
    }
