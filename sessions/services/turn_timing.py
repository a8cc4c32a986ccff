"""How long each turn took: the end of the user's words (typed or spoken) -> the first
frame sent to the avatar -> the avatar's `audio_start` (TurnTiming rows).

Off the hot path: a turn is noted in memory and becomes one row when it is over (the
avatar began to speak, it was interrupted, the next turn began, or the socket closed),
written with the others of that second (services.write_behind). Read back as p50/p95
(`summary`) on the admin session page and, per preset, on the usage page.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from sessions.services.background import in_background
from sessions.services.write_behind import Batch
from sessions.tool_models import TurnTiming

TURNS = Batch(TurnTiming)


def _ms(since: float) -> int:
    return max(0, round((time.monotonic() - since) * 1000))


class TurnClock:
    """One session socket's turns, one at a time (a new turn ends the one before)."""

    def __init__(self, session_id: Any) -> None:
        self.session_id = session_id
        self._started = 0.0  # monotonic end of the user's words
        self._turn: TurnTiming | None = None  # the turn in progress, not written yet
        self._spoken: TurnTiming | None = None  # the last turn, while its answer is spoken

    def asked(self, *, spoken: bool, ended_at: float | None = None) -> None:
        """A turn starts: the user's words ended at `ended_at` (monotonic; now if None)."""
        self.close()  # the turn before, as far as it got
        self._started = time.monotonic() if ended_at is None else ended_at
        asked_at = timezone.now() - timezone.timedelta(milliseconds=_ms(self._started))
        self._turn = TurnTiming(session_id=self.session_id, spoken=spoken, asked_at=asked_at)

    def frame_sent(self) -> None:
        if self._turn is not None and self._turn.first_frame_ms is None:
            self._turn.first_frame_ms = _ms(self._started)

    def audio_started(self) -> None:
        if self._turn is None or self._turn.first_frame_ms is None:
            return  # not our turn's speech (or nothing of it went out yet)
        self._turn.audio_start_ms = _ms(self._started)
        spoken = self._turn
        self.close()
        self._spoken = spoken

    def interrupted(self) -> None:
        """The turn's answer was cut short (whether or not the avatar began it)."""
        if self._turn is not None:
            self._turn.interrupted = True
            self.close()
        elif (spoken := self._spoken) is not None:
            # Cut while the avatar spoke it: still waiting to be written, the row just
            # changes; written already (rare: a second had passed), it is updated.
            spoken.interrupted = True
            if spoken.pk is not None:
                update = TurnTiming.objects.filter(pk=spoken.pk).aupdate(interrupted=True)
                in_background(update)
        self._spoken = None

    def close(self) -> None:
        """The turn is over: its row goes to be written."""
        self._spoken = None
        if self._turn is not None:
            TURNS.add(self._turn)
            self._turn = None


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
