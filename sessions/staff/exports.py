"""Exports of the session audit: sessions with their transcripts, as CSV or JSON.

Both formats stream: sessions are read in chunks with their transcripts and events
prefetched per chunk, so a month of sessions never sits in memory at once. Under ASGI
the chunks are produced in the request's sync thread (one database connection) and
handed to the server as an async iterator, which Django streams without buffering.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

from asgiref.sync import sync_to_async
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone

from sessions.models import AvatarSession, SessionEvent, TranscriptEntry
from sessions.services import staff_actions
from sessions.staff import audit

CHUNK_SIZE = 200
FORMATS = {"csv": "text/csv; charset=utf-8", "json": "application/json"}

CSV_COLUMNS = [
    "id",
    "created_at",
    "started_at",
    "closed_at",
    "status",
    "close_reason",
    "owner",
    "principal",
    "preset",
    "provider",
    "upstream_id",
    "avatar_id",
    "voice_id",
    "language",
    "mode",
    "reserved_seconds",
    "used_seconds",
    "start_seconds",
    "first_avatar_seconds",
    "first_reply_seconds",
    "median_reply_seconds",
    "chat_count",
    "error",
    "page_reported_lines",
    "transcript",
]

# A cell starting with one of these is a formula to a spreadsheet; transcripts are typed
# by anyone, so such cells are defused with a leading apostrophe (OWASP's advice).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _with_history(queryset: QuerySet[AvatarSession]) -> QuerySet[AvatarSession]:
    return queryset.select_related("owner").prefetch_related(
        Prefetch("transcript", queryset=TranscriptEntry.objects.order_by("created_at", "id")),
        Prefetch("events", queryset=SessionEvent.objects.order_by("created_at", "id")),
    )


def session_record(session: AvatarSession) -> dict[str, Any]:
    """One session as the JSON export shows it (and the CSV flattens it).

    Starts from the API's own dict, so the export and the API cannot drift apart; the
    per-session credentials are never part of it.
    """
    transcript = list(session.transcript.all())
    events = list(session.events.all())
    record = session.to_dict()
    del record["rtc"], record["ws_path"]
    record.update(
        owner=session.owner.get_username() if session.owner else None,
        principal=session.principal,
        provider=session.provider,
        upstream_id=session.upstream_id,
        chat_count=session.chat_count,
        frames_sent=session.frames_sent,
        bytes_sent=session.bytes_sent,
        timings=audit.timings(session, transcript, events).as_dict(),
        transcript=[
            {
                "role": e.role,
                "mid": e.mid,
                "text": e.text,
                "at": e.created_at,
                "final": e.final,
                "cut": e.cut,
                "unspoken": e.unspoken,  # of an answer cut short: sent, never said
                # Only the user's page witnessed it (audit.PAGE_REPORTED_NOTE).
                "reported_by_page": e.reported_by_page,
            }
            for e in transcript
        ],
        events=[
            {"kind": e.kind, "message": e.message, "data": e.data, "at": e.created_at}
            for e in events
        ],
    )
    return record


def _safe_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _transcript_text(lines: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"[{line['at']:%Y-%m-%d %H:%M:%S}] {line['role']}: {line['text']}"
        + (" (interrupted)" if line["cut"] else "")
        + (f" [not said: {line['unspoken']}]" if line.get("unspoken") else "")
        + (f" ({audit.PAGE_REPORTED_NOTE})" if line["reported_by_page"] else "")
        for line in lines
        if line["text"] or line.get("unspoken")
    )


def csv_row(record: dict[str, Any]) -> list[Any]:
    timings = record["timings"]
    values = {
        **record,
        "created_at": record["created_at"].isoformat(),
        "started_at": record["started_at"].isoformat() if record["started_at"] else "",
        "closed_at": record["closed_at"].isoformat() if record["closed_at"] else "",
        "reserved_seconds": timings["reserved_seconds"],
        "used_seconds": timings["used_seconds"],
        "start_seconds": timings["start_seconds"],
        "first_avatar_seconds": timings["first_avatar_seconds"],
        "first_reply_seconds": timings["first_reply_seconds"],
        "median_reply_seconds": timings["median_reply_seconds"],
        # How many lines only the user's page reported; each is marked in the transcript.
        "page_reported_lines": sum(line["reported_by_page"] for line in record["transcript"]),
        "transcript": _transcript_text(record["transcript"]),
    }
    return [_safe_cell(values[column]) for column in CSV_COLUMNS]


def csv_chunks(queryset: QuerySet[AvatarSession]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for session in _with_history(queryset).iterator(chunk_size=CHUNK_SIZE):
        writer.writerow(csv_row(session_record(session)))
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def json_chunks(queryset: QuerySet[AvatarSession]) -> Iterator[str]:
    exported_at = json.dumps(timezone.now(), cls=DjangoJSONEncoder)
    notes = json.dumps({"reported_by_page": audit.PAGE_REPORTED_NOTE})
    yield f'{{"exported_at": {exported_at}, "notes": {notes}, "sessions": ['
    count = 0
    for session in _with_history(queryset).iterator(chunk_size=CHUNK_SIZE):
        record = json.dumps(session_record(session), cls=DjangoJSONEncoder, ensure_ascii=False)
        yield ("," if count else "") + "\n" + record
        count += 1
    yield f'\n], "count": {count}}}\n'


_DONE = object()


async def _in_sync_thread(chunks: Iterator[str]) -> AsyncIterator[str]:
    # Each chunk is produced in the request's thread-sensitive sync thread, where the
    # queryset's cursor lives; the server awaits them one at a time.
    while (chunk := await sync_to_async(next)(chunks, _DONE)) is not _DONE:
        yield chunk  # type: ignore[misc]


def recorded_export(
    request: HttpRequest, queryset: QuerySet[AvatarSession], fmt: str
) -> StreamingHttpResponse:
    """An export by a staff member, recorded (how many sessions, which filters) before a
    byte of it is sent."""
    count = queryset.count()
    noun = "session" if count == 1 else "sessions"
    staff_actions.record(
        request.user,
        staff_actions.Kind.EXPORT,
        f"Exported {count} {noun} with transcripts as {fmt.upper()}.",
        session=queryset.values_list("pk", flat=True).first() if count == 1 else None,
        format=fmt,
        filters=request.GET.urlencode(),
    )
    return export_response(queryset, fmt)


def export_response(
    queryset: QuerySet[AvatarSession], fmt: str, *, filename: str = "sessions"
) -> StreamingHttpResponse:
    """The queryset's sessions with transcripts as a download (`fmt`: "csv" or "json")."""
    chunks = csv_chunks(queryset) if fmt == "csv" else json_chunks(queryset)
    response = StreamingHttpResponse(_in_sync_thread(chunks), content_type=FORMATS[fmt])
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="{filename}-{stamp}.{fmt}"'
    response["Cache-Control"] = "no-store"
    return response
