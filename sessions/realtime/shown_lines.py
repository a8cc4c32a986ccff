"""How much of each transcript line one session socket has shown, replayed and live, so
that what the sandbox avatar says (`session_shown` events, sent to every socket of the
session) is shown by each socket exactly once, whole.

A socket's replay reads the transcript from the database, and the sandbox writes the line
being said only now and then (providers/sandbox/line_writer.py): a socket that connects
mid-line may replay less of it than was said. Its next piece then starts after what the
socket has shown (a gap), and the event carries the line so far: the socket puts the line
in place, as a replay does, then shows the piece. A piece starting inside what the socket
has shown (its replay read it) is not shown again.
"""

from __future__ import annotations

from typing import Any

from sessions.realtime import frames
from sessions.services.transcript import Shown


class ShownLines:
    def __init__(self) -> None:
        self._shown: dict[str, int] = {}  # characters of each line shown, by mid

    def replayed(self, frame: frames.Frame) -> None:
        """A frame of the socket's replay went out."""
        if frame["type"] == "transcript":
            mid = frame["mid"]
            self._shown[mid] = self._shown.get(mid, 0) + len(frame["text"])

    def frames(self, event: dict[str, Any]) -> list[frames.Frame]:
        """What this socket sends for a `session_shown` event: the update, after the line
        so far if this socket lacks part of it; nothing if it showed the update already."""
        update = Shown(**event["shown"])
        at, line = event["at"], event.get("line")  # no `line`: a process of an older release
        shown = self._shown.get(update.mid, 0)
        if at < shown:
            return []  # in this socket's replay already
        out = []
        if at > shown and line is not None:
            out += frames.replayed_line(update.role, update.mid, line[:at], final=False, cut=False)
        out += frames.shown(update)
        if update.final:
            self._shown.pop(update.mid, None)  # nothing more of it comes
        else:
            self._shown[update.mid] = at + len(update.text)
        return out
