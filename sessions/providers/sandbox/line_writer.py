"""The sandbox avatar's line being said, kept in memory and written whole (issue 22).

A database write per piece cost the shuttled bench half the server's CPU. The sandbox
is the only witness of its avatar's lines and says them in order, in whole characters,
so a line needs no pieces stored: it is written once at its end (`fin`, a cut, a cap),
and while it goes on, at most every WRITE_BEHIND_SECONDS after its first unwritten
piece. A crash of the process loses at most that much of what the avatar was saying.
Every piece still goes to the page at once (SessionSide._show): only the database lags.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone

from sessions.models import TranscriptEntry
from sessions.services import transcript

log = logging.getLogger("avatarsite.sandbox")


@dataclass
class _Line:
    mid: str
    created_at: datetime  # when its first piece was said: its place in the transcript
    text: str = ""
    pk: int | None = None  # its row, once written
    written: int = 0  # characters of `text` in the database


class LineWriter:
    """One sandbox avatar's open line (it says one at a time) and its writes."""

    def __init__(self, session_id: Any) -> None:
        self.session_id = session_id
        self._line: _Line | None = None
        self._lock = asyncio.Lock()  # one write at a time: the first creates the row
        self._timer: asyncio.Task[None] | None = None
        self._waiting = False  # the timer sleeps (a write under way is never cancelled)

    def text_of(self, mid: str) -> str:
        """What the open line `mid` holds so far ("" if it is not the open line)."""
        return self._line.text if self._line is not None and self._line.mid == mid else ""

    async def add(self, mid: str, text: str) -> None:
        """A piece said: onto its line (a new one when `mid` is new), in memory."""
        if self._line is not None and self._line.mid != mid:
            await self.close()  # a line never ended (cannot happen in order): kept as is
        if self._line is None:
            self._line = _Line(mid, timezone.now())
        self._line.text += text
        if self._timer is None or self._timer.done():
            self._timer = asyncio.get_running_loop().create_task(self._write_later(self._line))

    async def end(self, *, cut: bool) -> None:
        """The open line is over (`cut`: cut short): written final."""
        line, self._line = self._line, None
        await self._stop_timer()
        if line is not None and line.text:
            await self._write(line, final=True, cut=cut)

    async def close(self) -> None:
        """The avatar is gone: what is unwritten of an open line is written, as it stands
        (an interrupted line was ended by `end` already), and no timer outlives it."""
        line, self._line = self._line, None
        await self._stop_timer()
        if line is not None:
            await self._write(line, behind_only=True)

    async def _write_later(self, line: _Line) -> None:
        self._waiting = True
        try:
            await asyncio.sleep(settings.WRITE_BEHIND_SECONDS)
        finally:
            self._waiting = False
        try:
            await self._write(line, behind_only=True)
        except Exception:
            # The line's end writes it again; the page was shown it live anyway.
            log.exception("session %s: failed to write the sandbox avatar's line", self.session_id)

    async def _stop_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is None or timer.done():
            return
        if self._waiting:
            timer.cancel()
        await asyncio.wait({timer})  # a write under way finishes first (it holds the row)

    async def _write(
        self, line: _Line, *, final: bool = False, cut: bool = False, behind_only: bool = False
    ) -> None:
        async with self._lock:
            text = line.text
            if behind_only and line.written >= len(text):
                return
            line.pk = await _write_line(
                self.session_id,
                line.mid,
                text,
                created_at=line.created_at,
                pk=line.pk,
                final=final,
                cut=cut,
            )
            line.written = len(text)


async def _write_line(
    session_id: Any,
    mid: str,
    text: str,
    *,
    created_at: datetime,
    pk: int | None,
    final: bool = False,
    cut: bool = False,
) -> int:
    """A line of the sandbox avatar's as said so far (it says its lines in order and whole
    characters, one writer a line: no pieces to store). Its first write creates it
    (`pk` None; placed by `created_at`, when its first piece was said), later ones update
    it by `pk`: the text, and on its last (`final`) its end. A line never goes back to
    open (a session's close may have ended it meanwhile). Returns the row's pk."""
    if pk is not None:
        ended = {"final": True, "cut": cut} if final else {}
        await TranscriptEntry.objects.filter(pk=pk).aupdate(text=text, **ended)
        return pk
    line = {"session_id": session_id, "role": TranscriptEntry.Role.AVATAR, "mid": mid}
    entry = TranscriptEntry(
        **line, text=text, final=final, cut=cut and final, created_at=created_at
    )
    try:
        await transcript.LINES.write(entry)  # with the other lines of this moment
    except IntegrityError:  # a line of that id exists: ours to write (ids are fresh)
        pk = await TranscriptEntry.objects.filter(**line).values_list("pk", flat=True).aget()
        return await _write_line(
            session_id, mid, text, created_at=created_at, pk=pk, final=final, cut=cut
        )
    return entry.pk
