"""Turn latency for staff (TurnTiming rows, services.turn_timing): p50/p95 of the end of
the user's words -> the first frame sent, and -> the avatar's `audio_start`, on the
session page of the audit and per preset on the usage page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from sessions.models import AvatarSession
from sessions.services.turn_timing import summary
from sessions.tool_models import TurnTiming

#: Turns read for one table: the newest this many (the percentiles of a busy month stay a
#: bounded read).
MAX_TURNS = 20_000


def _ms(value: int | None) -> str:
    return "—" if value is None else f"{value} ms"


def _words(figures: dict[str, Any], key: str) -> str:
    return _("p50 %(p50)s, p95 %(p95)s") % {
        "p50": _ms(figures[f"{key}_p50"]),
        "p95": _ms(figures[f"{key}_p95"]),
    }


def _figures(turns: QuerySet) -> dict[str, Any]:
    rows = turns.order_by("-asked_at").values_list("first_frame_ms", "audio_start_ms")
    figures = summary(rows[:MAX_TURNS])
    figures["spoken"] = turns.filter(spoken=True).count()
    figures["interrupted"] = turns.filter(interrupted=True).count()
    return figures


def session_rows(session: AvatarSession) -> list[tuple[str, str, str]]:
    """Rows for the session page's timings table: (label, value, what it measures)."""
    figures = _figures(TurnTiming.objects.filter(session=session))
    if not figures["turns"]:
        return []
    counts = _("%(spoken)d spoken, %(interrupted)d interrupted") % figures
    return [
        (
            pgettext("timing", "Turns (%(count)d)") % {"count": figures["turns"]},
            counts,
            _("each question, typed or spoken, and whether its answer was cut short"),
        ),
        (
            pgettext("timing", "To the first frame"),
            _words(figures, "first_frame"),
            _("the end of the user's words → the first frame sent to the avatar"),
        ),
        (
            pgettext("timing", "To the avatar's voice"),
            _words(figures, "audio_start"),
            _("the end of the user's words → the avatar starting to speak"),
        ),
    ]


@dataclass
class PresetTurns:
    label: str
    turns: int
    spoken: int
    interrupted: int
    first_frame: str
    audio_start: str


def per_preset(sessions: QuerySet) -> list[PresetTurns]:
    """Turn latency per preset of `sessions` (the usage page's window), busiest first."""
    turns = TurnTiming.objects.filter(session__in=sessions)
    presets = turns.values_list("session__preset_slug", "session__preset__name").distinct()
    out = []
    for slug, name in presets.order_by():
        figures = _figures(turns.filter(session__preset_slug=slug))
        out.append(
            PresetTurns(
                label=name or slug or _("(none)"),
                turns=figures["turns"],
                spoken=figures["spoken"],
                interrupted=figures["interrupted"],
                first_frame=_words(figures, "first_frame"),
                audio_start=_words(figures, "audio_start"),
            )
        )
    return sorted(out, key=lambda row: (-row.turns, row.label))
