"""The transcript: what the user and the avatar said, recorded as it arrives.

The user's typed lines are written whole. The avatar's lines (and the avatar side's
transcript of the user's speech) arrive in pieces, forwarded by the page from the data
stream, possibly through several sockets and processes at once (a reconnect, two tabs):
- a numbered piece (`idx`) is stored once (`TranscriptPiece`), and its line is rebuilt
  from all its pieces in order, so a late piece keeps its place;
- a line only grows and a final line stays final, whatever order two processes write in;
- pieces without numbers are appended in arrival order;
- a character cut in half at the edge of two numbered pieces (AKool's client cuts text by
  UTF-16 code units) is whole once both pieces are in: each half waits, escaped, in its
  piece's row (no database stores a lone surrogate), and neither the line nor what the
  page is shown ever holds half a character. A half whose neighbour holds no partner is
  dropped.
Each function says what the page should be shown (a `Shown`), or None.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asgiref.sync import async_to_sync
from django.db import IntegrityError
from django.db.models import F, QuerySet, Value
from django.db.models.functions import Concat, Length
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone

from sessions.models import AvatarSession, TranscriptEntry, TranscriptPiece
from sessions.services import limits
from sessions.services.write_behind import Batch
from sessions.stream.codec import edge_halves, escape_surrogates, is_storable, join_pieces

Role = TranscriptEntry.Role

# Ids and piece numbers no avatar sends: a line is rebuilt from all its pieces on every
# piece, so their number is bounded (an answer comes in tens of pieces of at most 1 KB).
MAX_MID_CHARS = 100
MAX_PIECE_IDX = 500
# Lines of every socket of the process, stored together: typed lines within
# WRITE_BEHIND_SECONDS, the sandbox avatar's new lines in the group commit of the moment.
LINES = Batch(TranscriptEntry)


@dataclass(frozen=True)
class Shown:
    """A transcript update for the page: `text` is appended to the line `mid` unless
    `whole`, when it replaces it (a late piece brings the whole line)."""

    role: str
    mid: str
    text: str
    final: bool
    cut: bool | None = None  # said on a line's final update when it was cut short
    # An answer of ours cut short: what went out but was never said (`text` is then the
    # whole line as said, put in place of what the page has).
    unspoken: str = ""


def _lines(session_id: Any, role: str, mid: str) -> QuerySet[TranscriptEntry]:
    return TranscriptEntry.objects.filter(session_id=session_id, role=role, mid=mid)


async def has_line(session_id: Any, role: str, mid: str) -> bool:
    return _waiting(session_id, role, mid) or await _lines(session_id, role, mid).aexists()


async def _typed(session_id: Any, mid: str) -> bool:
    """A user's line typed here (not one the page reported, which grows piece by piece)."""
    if _waiting(session_id, Role.USER, mid):
        return True
    return await _lines(session_id, Role.USER, mid).filter(reported_by_page=False).aexists()


def record_user_line(session_id: Any, mid: str, text: str) -> Shown:
    """A message the user typed: one whole, final line. Written within
    WRITE_BEHIND_SECONDS, with every line typed in the process meanwhile, in one query;
    until then the reads below see it here (`_waiting`)."""
    LINES.add(
        TranscriptEntry(
            session_id=session_id,
            role=Role.USER,
            mid=mid,
            text=text,
            final=True,
            # Stamped now: its place in the transcript is when it was typed.
            created_at=timezone.now(),
        )
    )
    return Shown(Role.USER, mid, text, True)


def _waiting(session_id: Any, role: str, mid: str) -> bool:
    """A line of this process's not written yet (only typed lines wait: LINES.add)."""
    sid = str(session_id)
    return LINES.waiting(lambda r: r.mid == mid and r.role == role and str(r.session_id) == sid)


async def settled() -> None:
    """Write this process's lines still waiting: before the transcript is read whole."""
    await LINES.flush()


def settled_now() -> None:
    """`settled` for sync code (the admin's pages, a user's export): run on the served
    process's event loop, where the lines wait."""
    async_to_sync(settled)()


async def settled_for(session_id: Any) -> None:
    """Write this process's lines still waiting if one is this session's: as its page's
    socket leaves, since a reload may land on another worker, whose replay reads the
    database (nothing to write, as after most chats: no query)."""
    sid = str(session_id)
    if LINES.waiting(lambda r: str(r.session_id) == sid):
        await LINES.flush()


async def record_piece(
    session_id: Any,
    *,
    role: str,
    mid: str,
    idx: int | None,
    text: str,
    fin: bool | None,
    received_at: datetime,
    by_page: bool,
) -> Shown | None:
    """A piece of a line from the avatar's side (`role` avatar, or user for its
    transcript of the user's speech); `by_page` when the user's page reported it (a line
    it starts is marked `reported_by_page`). None when there is nothing to show: an id,
    number or text no avatar sends, an echo of a typed line, a piece recorded already, or
    a late piece of a line still being spoken (the page gets it on its next replay).

    Refuses (limits.CapReached) a piece beyond the session's transcript size, or one that
    would make its line longer than `limits.line_max_chars`: that line is ended there
    (final, cut) and keeps what it had."""
    if not could_be_sent(mid, idx, text):
        return None
    if role == Role.USER and await _typed(session_id, mid):
        return None  # the avatar echoing what was typed: already in the transcript
    await limits.take_transcript_room(session_id, len(text))
    final = fin is not False
    line = {
        "session_id": session_id,
        "role": role,
        "mid": mid,
        "created_at": received_at,
        "reported_by_page": by_page,
    }
    if idx is None:
        if not await _append(line, text, final):
            raise await _ended_at_cap(line)
        return Shown(role, mid, text, final)
    placed = await _place(line, idx, text, final)
    if placed is None:
        return None  # another tab forwarded it too
    whole, said, in_order, line_final = placed
    if in_order and (final or not line_final):
        return Shown(role, mid, said, final)
    if line_final:
        # Late, or after the line's end: a final update carries the whole line, which
        # the page puts in place of what it has.
        return Shown(role, mid, whole, True)
    return None


def could_be_sent(mid: str, idx: int | None, text: str) -> bool:
    """Ids and numbers in bounds, and text any database stores: no NUL, and no lone
    surrogate but half a character at a numbered piece's edge (it waits for its partner)."""
    if not mid or len(mid) > MAX_MID_CHARS or (idx is not None and idx > MAX_PIECE_IDX):
        return False
    return is_storable(text if idx is None else edge_halves(text)[1])


async def _place(
    line: dict[str, Any], idx: int, text: str, final: bool
) -> tuple[str, str, bool, bool] | None:
    """Record piece `idx` of a line (the line's fields, as it would be created) and
    rebuild the line from its pieces in order.

    Returns (the line's text, what this piece adds to it, whether the piece came last so
    far, whether the line is final), or None when the piece was recorded already.
    """
    session_id, role, mid = line["session_id"], line["role"], line["mid"]
    opening, body, closing = edge_halves(text)
    try:
        await TranscriptPiece.objects.acreate(
            session_id=session_id,
            role=role,
            mid=mid,
            idx=idx,
            text=body,
            opening_half=escape_surrogates(opening),
            closing_half=escape_surrogates(closing),
        )
    except IntegrityError:
        return None
    pieces = TranscriptPiece.objects.filter(session_id=session_id, role=role, mid=mid)
    rows = pieces.order_by("idx").values_list("idx", "opening_half", "text", "closing_half")
    said = _said([row async for row in rows])
    whole = "".join(said.values())
    if len(whole) > limits.line_max_chars(role):
        await pieces.filter(idx=idx).adelete()
        raise await _ended_at_cap(line)
    in_order = max(said) == idx
    first = len(said) == 1
    return whole, said[idx], in_order, await _store(line, whole, final, first)


def _said(rows: list[tuple[int, str, str, str]]) -> dict[int, str]:
    """What each stored piece (idx, opening half, text, closing half; in idx order) adds
    to its line: its text, after the character whose halves span the edge before it when
    both halves are in. So a piece's closing half is shown with the next piece, never on
    its own; a half whose neighbour is not in yet adds nothing for now, and one whose
    neighbour holds no partner never does."""
    said: dict[int, str] = {}
    before_idx, before_half = -1, ""
    for idx, opening, text, closing in rows:
        joined = None
        if opening and before_half and before_idx == idx - 1:
            joined = join_pieces([_unescaped(before_half), _unescaped(opening)])
        said[idx] = (joined or "") + text
        before_idx, before_half = idx, closing
    return said


def _unescaped(half: str) -> str:
    """A half character as stored (``\\udXXX``, as `escape_surrogates` writes it)."""
    return chr(int(half[2:], 16))


async def _store(line: dict[str, Any], whole: str, final: bool, first: bool) -> bool:
    """Write the line rebuilt from its pieces; returns whether the line is final.

    Pieces only ever add text, so a process that read fewer of them (it lost a race with
    another one) must not overwrite the longer line; and a final line stays final.
    Ordered so that the usual cases take one query: the first piece creates the line, a
    later one extends an open line. A new line is placed in the transcript by when its
    piece reached us, however long its recording waited.
    """
    lines = _lines(line["session_id"], line["role"], line["mid"])
    if first and await _create(line, whole, final):
        return final
    grows = lines.filter(LessThanOrEqual(Length("text"), len(whole)))
    if final and await grows.aupdate(text=whole, final=True):
        return True
    if not final:
        if await grows.filter(final=False).aupdate(text=whole):
            return False
        if await grows.aupdate(text=whole):
            return True  # only a final line fails the update just above
    # No line yet (its first piece is late), or a longer one.
    if await _create(line, whole, final):
        return final
    # Another process created the line between our update and our create: ours may
    # still be the longer text (it read more pieces), so write it if it is.
    changes: dict[str, Any] = {"text": whole, "final": True} if final else {"text": whole}
    if not await grows.aupdate(**changes) and final:
        await lines.aupdate(final=True)
    return final or await lines.filter(final=True).aexists()


async def _create(line: dict[str, Any], text: str, final: bool) -> bool:
    """Create the line; False when it exists already (another piece or process)."""
    try:
        await TranscriptEntry.objects.acreate(**line, text=text, final=final)
    except IntegrityError:
        return False
    return True


async def _append(line: dict[str, Any], text: str, final: bool) -> bool:
    """A line in one message (no `idx`), or a piece of one that does not number its
    pieces: appended in arrival order. False when it would make the line too long."""
    room = limits.line_max_chars(line["role"]) - len(text)
    if room < 0:
        return False
    lines = _lines(line["session_id"], line["role"], line["mid"])
    fits = lines.filter(LessThanOrEqual(Length("text"), room))  # counted by the database
    grown = {"text": Concat(F("text"), Value(text)), "final": final}
    if await fits.aupdate(**grown):
        return True
    if await _create(line, text, final):
        return True
    # It exists (another socket created it just now, or it is too long already).
    return bool(await fits.aupdate(**grown))


async def _ended_at_cap(line: dict[str, Any]) -> limits.CapReached:
    """A line reached its length cap: it ends there, marked cut short."""
    await _lines(line["session_id"], line["role"], line["mid"]).aupdate(final=True, cut=True)
    return limits.line_too_long(limits.line_max_chars(line["role"]))


async def finish_avatar_lines(session_id: Any, *, cut: bool, keep: str | None = None) -> list[str]:
    """The avatar stopped speaking (or nobody passes its words on any more): what it
    was saying is final, and marked cut short when `cut` (an interrupted answer never
    gets `fin`). `keep`: a line another owner finishes (our LLM's answer in progress).
    Returns the ids of the lines finished."""
    open_lines = TranscriptEntry.objects.filter(
        session_id=session_id, role=Role.AVATAR, final=False
    )
    if keep:
        open_lines = open_lines.exclude(mid=keep)
    mids = [mid async for mid in open_lines.values_list("mid", flat=True)]
    if mids:
        await open_lines.filter(mid__in=mids).aupdate(final=True, cut=cut)
    return mids


# --- our LLM's answers: one line each, written as it streams --------------------------


async def start_answer(session_id: Any, mid: str) -> None:
    await TranscriptEntry.objects.acreate(
        session_id=session_id, role=Role.AVATAR, mid=mid, text="", final=False
    )


async def extend_answer(session_id: Any, mid: str, piece: str) -> Shown:
    await _lines(session_id, Role.AVATAR, mid).aupdate(text=Concat(F("text"), Value(piece)))
    return Shown(Role.AVATAR, mid, piece, False)


async def end_answer(
    session_id: Any, mid: str, said: str, *, cut: bool, unspoken: str = ""
) -> Shown:
    """The answer is over (or was cut short): final, or gone if nothing went out.
    `unspoken`: of an interrupted answer, the sentences sent that the avatar never began;
    the line is then `said` (what it began), with that rest kept apart."""
    answer = _lines(session_id, Role.AVATAR, mid)
    if unspoken:
        return await _split(answer, mid, said, unspoken)
    if said:
        await answer.aupdate(final=True, cut=cut)
    else:
        await answer.adelete()  # nothing was said: no empty line
    return Shown(Role.AVATAR, mid, "", True, cut=True if cut else None)


async def cut_answer(session_id: Any, mid: str, said: str, unspoken: str) -> Shown | None:
    """An answer that had all gone out was interrupted while the avatar spoke it: marked
    cut short, its line what the avatar began (`said`) and the rest kept apart as unsaid
    (the avatar's words coming back tell how far it got; "" when they do not)."""
    answer = _lines(session_id, Role.AVATAR, mid)
    if not await answer.aexists():
        return None
    if unspoken:
        return await _split(answer, mid, said, unspoken)
    await answer.aupdate(cut=True)
    return Shown(Role.AVATAR, mid, said, True, cut=True)


async def _split(answer: QuerySet[TranscriptEntry], mid: str, said: str, unspoken: str) -> Shown:
    """An answer cut short: what was said, and apart from it the rest that was not."""
    await answer.aupdate(text=said, unspoken=unspoken, final=True, cut=True)
    return Shown(Role.AVATAR, mid, said, True, cut=True, unspoken=unspoken)


# Extend chains sessions; a conversation goes back this many sessions at most.
MAX_CONTINUED = 50


async def conversation_ids(session_id: Any) -> list[Any]:
    """The session and those it continues (Extend), oldest first."""
    ids = [session_id]
    while len(ids) <= MAX_CONTINUED:
        prior = (
            await AvatarSession.objects.filter(pk=ids[0])
            .values_list("continues_id", flat=True)
            .afirst()
        )
        if prior is None or prior in ids:
            break
        ids.insert(0, prior)
    return ids


async def lines(session_id: Any) -> AsyncIterator[TranscriptEntry]:
    """The whole conversation in order, through the sessions it continues (Extend): a
    (re)connecting page's replay, and our own LLM's history, so a follow-on session shows
    and remembers what was said before it."""
    await settled()  # this process's lines typed a moment ago too
    ids = await conversation_ids(session_id)
    async for entry in TranscriptEntry.objects.filter(session_id__in=ids).order_by(
        "created_at", "id"
    ):
        yield entry
