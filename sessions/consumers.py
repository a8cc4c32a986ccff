"""The session websocket, /ws/sessions/<id>/: chat, commands and the live transcript.

Hot path: a chat's frames go straight from this socket's pacer to this socket (the
page that asked passes them to its transport), never through the channel layer. The
session's group carries only what other sockets of the session must see (another tab,
a staff observer), and only when such a socket exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import random
import time
from collections.abc import Awaitable
from datetime import datetime
from typing import Any, NamedTuple

from channels.db import aclose_old_connections, database_sync_to_async
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import URLValidator
from django.db import IntegrityError
from django.db.models import F, QuerySet, Value
from django.db.models.functions import Concat, Length
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone

from . import answers, catalog, lifecycle, limits, presence, protocol, revocation
from .errors import ApiError, LimitExceeded
from .models import (
    AvatarSession,
    CloseReason,
    SessionEvent,
    Status,
    TranscriptEntry,
    TranscriptPiece,
)
from .principals import (
    Principal,
    anonymous_allowed,
    bearer_from_header,
    still_valid,
    token_principal,
    user_principal,
    visitor_principal,
)
from .protocol import ChatMessage, CommandMessage, EventMessage, StreamMessage
from .socket_base import SocketConsumer

log = logging.getLogger("avatarsite.ws")

# Close codes, so a client can tell why it was sent away.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404  # also for someone else's session: ids leak nothing
CLOSE_ENDED = 4410
# The socket's presence task ended unexpectedly: a code the page reconnects on, so a
# fresh socket (with a fresh task) takes over.
CLOSE_RECONNECT = 1011

_validate_url = URLValidator(schemes=["http", "https"])
MAX_BACKGROUND_URL = 1000
SET_PARAM_KEYS = {"voice", "language", "mode", "background_url"}
MAX_MID_CHARS = 100
MESSAGE_WINDOW = 10.0  # seconds, for WS_MESSAGES_PER_10S
# Pieces of one line are numbered from 0. Each piece rebuilds its line from all of
# them, so their number is bounded (an answer comes in tens of pieces, each at most
# 1 KB, Agora's limit).
MAX_PIECE_IDX = 500
# How long a closing socket waits for what the page forwarded to be recorded.
AVATAR_DRAIN_SECONDS = 5.0
# Confirmed commands replayed to a page that (re)connects, so a reload keeps the list.
REPLAYED_COMMANDS = 8
# Commands waiting for the avatar's ack, per socket.
MAX_PENDING_COMMANDS = 100


class ForwardedMessage(NamedTuple):
    """A stream message the page forwarded from the avatar, waiting to be recorded."""

    message: StreamMessage
    received_at: datetime
    cut: bool  # an audio_end after an interrupt: the speech it ends was cut short


async def resolve_principal(scope: dict[str, Any]) -> Principal | None:
    """Bearer token from the headers, else the session cookie's user, else (if allowed)
    an anonymous visitor with a Django session."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            raw = bearer_from_header(value.decode("latin1"))
            return await database_sync_to_async(token_principal)(raw) if raw else None
    user = scope.get("user")
    if user is not None and user.is_authenticated:
        return user_principal(user)
    django_session = scope.get("session")
    if anonymous_allowed() and django_session is not None and django_session.session_key:
        client = scope.get("client") or ("", 0)
        return visitor_principal(django_session.session_key, client[0])
    return None


def _principal_groups(principal: Principal) -> list[str]:
    groups = []
    if principal.user is not None:
        groups.append(revocation.user_group(principal.user.pk))
    if principal.token_id is not None:
        groups.append(revocation.token_group(principal.token_id))
    return groups


def _dumps(message: dict[str, Any]) -> str:
    # An error may quote what the client sent; lone surrogates in it must not reach the
    # wire raw (UTF-8 cannot carry them, and daphne would drop the connection).
    return protocol.escape_surrogates(
        json.dumps(message, cls=DjangoJSONEncoder, ensure_ascii=False)
    )


class SessionConsumer(SocketConsumer):
    session_id: str
    principal: Principal
    observer: bool  # staff watching someone else's session: read-only

    async def connect(self) -> None:
        self.principal_groups: list[str] = []
        self.avatar_recorder = None
        self.pacer: protocol.Pacer | None = None
        self.watch: asyncio.Task | None = None
        self.answerer: answers.Answerer | None = None
        self.joined = False
        principal = await resolve_principal(self.scope)
        if principal is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.session_id = str(self.scope["url_route"]["kwargs"]["session_id"])
        session = (
            await AvatarSession.objects.select_related("preset").filter(pk=self.session_id).afirst()
        )
        if session is None or not await principal.can_see(session):
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.principal = principal
        self.observer = not principal.owns(session)
        self.group = lifecycle.session_group(self.session_id)
        await self.accept()
        # In the group before the row is read again: a close that lands meanwhile is
        # either in the row or heard as an event, never missed.
        await self.channel_layer.group_add(self.group, self.channel_name)
        session = await AvatarSession.objects.select_related("preset").aget(pk=self.session_id)
        if session.status == Status.ACTIVE and not self.observer:
            session = await lifecycle.claim_for_this_process(session)
            if session.expires_at and session.expires_at <= timezone.now():
                # Overdue (the process that held it died at the wrong moment): end it
                # now rather than tell the page it goes on.
                session = await lifecycle.close_quietly(session.pk, CloseReason.EXPIRED)
        if session.status != Status.ACTIVE:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            # Say why before closing, so the page can tell the user.
            await self._send_session(session)
            await self.close(code=CLOSE_ENDED)
            return
        self.expires_at = session.expires_at
        self.ending = False
        self.principal_groups = _principal_groups(principal)
        for group in self.principal_groups:
            await self.channel_layer.group_add(group, self.channel_name)
        self.joined = True
        # A socket of the session is back: a close pending after a beacon or a
        # disconnect sees the new marker and stands down.
        await presence.joined(self.session_id, owner=not self.observer)
        self.pacer = protocol.Pacer(self._emit_frame, limit=settings.STREAM_BYTES_PER_SECOND)
        self.voice_id, self.language, self.mode = session.voice_id, session.language, session.mode
        self.pending_params: dict[str, dict[str, Any]] = {}
        self.interrupted = False
        self.avatar_inbox: asyncio.Queue[ForwardedMessage] = asyncio.Queue()
        self.avatar_recorder: asyncio.Task | None = None
        if session.use_llm and answers.llm_enabled() and not self.observer:
            self.answerer = answers.Answerer(
                session_id=self.session_id,
                principal_key=principal.key,
                preset_slug=session.preset_slug,
                system_prompt=session.preset.system_prompt if session.preset else "",
                pacer=self.pacer,
                emit=self._fan_out,
            )
            await self.answerer.load_history()
        self.frames_sent = 0
        self.bytes_sent = 0
        self.chats = 0
        self.window_start, self.window_count = time.monotonic(), 0
        await self._send_session(session)
        await self._replay()
        self.watch = asyncio.get_running_loop().create_task(self._watch())
        self.watch.add_done_callback(self._watch_ended)

    async def _replay(self) -> None:
        """What a (re)connecting page needs to show the whole session again: the
        transcript (with the lines cut short marked) and the last confirmed commands."""
        async for entry in TranscriptEntry.objects.filter(session_id=self.session_id).order_by(
            "created_at", "id"
        ):
            await self._send(
                {
                    "type": "transcript",
                    "role": entry.role,
                    "mid": entry.mid,
                    "text": entry.text,
                    "final": True,
                    "cut": entry.cut,
                    "replay": True,
                }
            )
        acks = SessionEvent.objects.filter(session_id=self.session_id, data__has_key="ack")
        recent = [event async for event in acks.order_by("-created_at", "-id")[:REPLAYED_COMMANDS]]
        for event in reversed(recent):
            await self._send(_command_result(event.data) | {"replay": True})

    async def disconnect(self, code: int) -> None:
        if self.watch is not None:
            self.watch.cancel()
        if self.avatar_recorder is not None:
            # What the page forwarded before it went is still recorded.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.avatar_inbox.join(), AVATAR_DRAIN_SECONDS)
            self.avatar_recorder.cancel()
        if self.answerer is not None:
            await self.answerer.aclose()
        if self.pacer is not None:
            await self.pacer.aclose()
        if self.joined:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            for group in self.principal_groups:
                await self.channel_layer.group_discard(group, self.channel_name)
            remaining = await presence.left(self.session_id, owner=not self.observer)
            if remaining == 0 and not self.observer:
                # The last socket went without a goodbye (or with one: closing an
                # ended session is a no-op). Close unless someone reconnects in time.
                lifecycle.in_background(
                    lifecycle.close_if_abandoned(
                        self.session_id, await presence.marker(self.session_id)
                    )
                )
            if self.frames_sent or self.chats:
                # Counters are kept here and written once, not per message.
                await AvatarSession.objects.filter(pk=self.session_id).aupdate(
                    chat_count=F("chat_count") + self.chats,
                    frames_sent=F("frames_sent") + self.frames_sent,
                    bytes_sent=F("bytes_sent") + self.bytes_sent,
                )

    # --- input ---------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        await self._guarded(self._receive(text_data, bytes_data))

    async def _guarded(self, work: Awaitable[None]) -> None:
        """Run the handling of one message: a refusal becomes an error frame, and no
        message, however strange, takes the socket down."""
        try:
            await work
        except ApiError as exc:
            await self._error(exc.code, exc.message, retry_after=exc.retry_after)
            if exc.status == 429:
                await lifecycle.record_event(
                    self.session_id, SessionEvent.Kind.LIMIT, exc.message, code=exc.code
                )
        except Exception:
            log.exception("session %s: failed to handle a message", self.session_id)
            await self._error("internal_error", "That message could not be handled.")

    async def _receive(self, text_data: str | None, bytes_data: bytes | None) -> None:
        if not self.joined:
            return
        if text_data is None:
            raise ApiError(400, "binary_not_supported", "Send JSON text frames, not binary.")
        size = len(text_data.encode("utf-8", "surrogatepass"))
        if size > settings.WS_MAX_MESSAGE_BYTES:
            raise ApiError(
                413,
                "frame_too_large",
                f"The message is {size} bytes; the limit is {settings.WS_MAX_MESSAGE_BYTES}.",
            )
        self._count_message()
        try:
            message = json.loads(text_data)
        except ValueError:
            raise ApiError(400, "bad_json", "The message is not valid JSON.") from None
        if not protocol.is_storable(message):
            # Not text any database keeps: it could be neither stored nor sent on.
            raise ApiError(
                400, "bad_message", "The message holds invalid text (a NUL or a lone surrogate)."
            )
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise ApiError(400, "bad_message", "A message is a JSON object with a 'type'.")
        handler = {
            "chat": self.on_chat,
            "interrupt": self.on_interrupt,
            "set_params": self.on_set_params,
            "rtc_message": self.on_rtc_message,
            "rtc_send_failed": self.on_rtc_send_failed,
        }.get(message["type"])
        if handler is None:
            raise ApiError(400, "unknown_type", f"Unknown message type '{message['type'][:40]}'.")
        if self.observer:
            raise ApiError(403, "read_only", "You are watching this session; it is read-only.")
        await handler(message)

    def _count_message(self) -> None:
        """Every message costs work; past the per-socket budget they are refused unread."""
        now = time.monotonic()
        if now - self.window_start >= MESSAGE_WINDOW:
            self.window_start, self.window_count = now, 0
        self.window_count += 1
        if self.window_count > settings.WS_MESSAGES_PER_10S:
            raise LimitExceeded(
                "message_rate_limit",
                f"Too many messages (more than {settings.WS_MESSAGES_PER_10S} in 10 s).",
                retry_after=MESSAGE_WINDOW - (now - self.window_start),
            )

    async def on_chat(self, message: dict[str, Any]) -> None:
        text = message.get("text")
        if not isinstance(text, str):
            raise ApiError(400, "bad_message", "'text' must be a string.")
        if not text.strip():
            raise ApiError(400, "empty_message", "The message is empty.")
        self._refuse_if_expired()
        await limits.check_chat(self.session_id, text)
        if self._llm_answers():
            await limits.check_llm_budget(self.session_id, self.principal.key)
        mid = protocol.new_mid()
        self.chats += 1
        self._refuse_if_expired()  # again: the checks above may have waited on the cache
        if not self._llm_answers():
            # The frames go first (the pacer releases them from its own task), so the
            # first one is on its way while the line is recorded: the database write is
            # off the path to the avatar's ear.
            assert self.pacer is not None
            self.pacer.submit(
                protocol.chat_frames(text, mid=mid, budget=settings.STREAM_FRAME_BUDGET)
            )
        await TranscriptEntry.objects.acreate(
            session_id=self.session_id, role="user", mid=mid, text=text, final=True
        )
        await self._transcript("user", mid, text, final=True)
        if self._llm_answers():
            assert self.answerer is not None
            if self.answerer.answering:
                # A new message cuts the answer in progress short, as a person would.
                await self._interrupt_avatar("new message")
            await self.answerer.start(text)

    def _remember(self, mid: str, pending: dict[str, Any]) -> None:
        """A command waiting for its ack; the oldest are forgotten past a bound (an avatar
        that never answers must not make the socket grow)."""
        self.pending_params[mid] = pending
        while len(self.pending_params) > MAX_PENDING_COMMANDS:
            del self.pending_params[next(iter(self.pending_params))]

    def _refuse_if_expired(self) -> None:
        """Nothing new for the avatar once the session's time is up or it is ending."""
        if timezone.now() >= self.expires_at:
            raise ApiError(
                410, "session_expired", "The session's time is up; start a new one to go on."
            )
        if self.ending:
            raise ApiError(409, "session_ending", "The session is ending; start a new one.")

    def _llm_answers(self) -> bool:
        """Our LLM answers in retelling mode; in dialogue mode the avatar's own does."""
        return self.answerer is not None and self.mode == 1

    async def on_interrupt(self, message: dict[str, Any]) -> None:
        await self._interrupt_avatar("interrupt")

    async def _interrupt_avatar(self, why: str) -> None:
        """Stop the answer in progress: the LLM stream (if any), the frames not yet
        released, and the avatar's speech."""
        assert self.pacer is not None
        # Synchronous up to the submit: nothing of the old answer can slip in between.
        dropped = self.answerer.cancel() if self.answerer else self.pacer.drop_pending()
        self.interrupted = True
        mid = protocol.new_mid()
        self._remember(mid, {"cmd": "interrupt"})
        self.pacer.submit([protocol.interrupt_frame(mid=mid)])
        await lifecycle.record_event(
            self.session_id, SessionEvent.Kind.COMMAND, "interrupt", why=why, dropped_frames=dropped
        )

    async def on_set_params(self, message: dict[str, Any]) -> None:
        params = message.get("params")
        if not isinstance(params, dict) or not params:
            raise ApiError(400, "bad_message", "'params' must be a non-empty object.")
        self._refuse_if_expired()
        unknown = set(params) - SET_PARAM_KEYS
        if unknown:
            raise ApiError(
                422, "invalid_params", f"Unknown parameter(s): {', '.join(sorted(unknown))[:200]}."
            )
        changes: dict[str, Any] = {}
        frame_args: dict[str, Any] = {}
        if "voice" in params:
            voice = params["voice"]
            found = await catalog.active_voice(voice) if isinstance(voice, str) else None
            if found is None:
                raise ApiError(422, "invalid_voice", "Unknown voice.")
            changes["voice_id"] = frame_args["voice_id"] = found.voice_id
        if "language" in params:
            language = params["language"]
            if not isinstance(language, str) or language not in catalog.KNOWN_LANGUAGES:
                raise ApiError(422, "invalid_language", "Unknown language.")
            changes["language"] = frame_args["language"] = language
        if "mode" in params:
            mode = params["mode"]
            if type(mode) is not int or mode not in (1, 2):
                raise ApiError(422, "invalid_mode", "mode must be 1 or 2.")
            changes["mode"] = frame_args["mode"] = mode
        if "background_url" in params:
            url = params["background_url"]
            if not isinstance(url, str) or len(url) > MAX_BACKGROUND_URL:
                raise ApiError(422, "invalid_background", "background_url must be a short URL.")
            if url:
                try:
                    _validate_url(url)
                except ValidationError:
                    raise ApiError(
                        422, "invalid_background", "background_url must be an http(s) URL."
                    ) from None
            changes["background_url"] = frame_args["background_url"] = url
        mid = protocol.new_mid()
        frame = protocol.set_params_frame(mid=mid, **frame_args)
        if protocol.encoded_size(frame) > protocol.MAX_FRAME_BYTES:
            code = "invalid_background" if "background_url" in params else "invalid_params"
            raise ApiError(422, code, "These settings do not fit in one message; shorten them.")
        self._refuse_if_expired()  # again: the voice lookup waited on the database
        self._remember(mid, {"cmd": "set-params", "changes": changes, "params": params})
        assert self.pacer is not None
        self.pacer.submit([frame])
        await lifecycle.record_event(
            self.session_id, SessionEvent.Kind.COMMAND, "set-params", **changes
        )

    async def on_rtc_send_failed(self, message: dict[str, Any]) -> None:
        reason = str(message.get("reason", ""))[:200]
        await lifecycle.record_event(
            self.session_id, SessionEvent.Kind.ERROR, f"page could not send a frame: {reason}"
        )
        await self._error(
            "send_failed", "A message could not reach the avatar; please send it again."
        )

    async def on_rtc_message(self, message: dict[str, Any]) -> None:
        data = message.get("data")
        if not isinstance(data, str):
            raise ApiError(400, "bad_message", "'data' must be the stream message as text.")
        if protocol.encoded_size(data) > protocol.MAX_FRAME_BYTES:
            return  # over Agora's 1 KB: not a message any avatar sent through the channel
        parsed = protocol.parse(data)
        if parsed is not None and not protocol.is_storable(dataclasses.asdict(parsed)):
            return  # escaped NULs or lone surrogates: no avatar sends them, nor can we store them
        if parsed is None:
            return  # not a v2 stream message: ignored, like the avatar would
        cut = False
        if isinstance(parsed, EventMessage) and parsed.event == "audio_end":
            # Whether the avatar stopped because it was interrupted is decided here, in
            # the order the socket's messages came in.
            cut, self.interrupted = self.interrupted, False
        self.avatar_inbox.put_nowait(ForwardedMessage(parsed, timezone.now(), cut))
        if self.avatar_recorder is None:
            self.avatar_recorder = asyncio.get_running_loop().create_task(self._record_avatar())

    async def _record_avatar(self) -> None:
        """Record what the page forwards from the avatar, in order, beside the socket's
        own handling: a chat or an interrupt sent next does not wait for these database
        writes (under load they were most of the time from a chat to its first frame)."""
        while True:
            forwarded = await self.avatar_inbox.get()
            try:
                await self._guarded(self._on_forwarded(forwarded))
            finally:
                self.avatar_inbox.task_done()

    async def _on_forwarded(self, forwarded: ForwardedMessage) -> None:
        message = forwarded.message
        if isinstance(message, ChatMessage):
            await self._on_avatar_chat(message, forwarded.received_at)
        elif isinstance(message, CommandMessage):
            await self._on_ack(message)
        elif message.event in ("audio_start", "audio_end"):
            speaking = message.event == "audio_start"
            if not speaking:
                await self._finish_avatar_lines(cut=forwarded.cut)
            await self._fan_out({"type": "avatar", "speaking": speaking})
        elif message.event == "sandbox_violation":
            reason = str(message.data.get("reason", ""))[:50]
            log.warning("session %s: sandbox reported a violation: %r", self.session_id, reason)
            await lifecycle.record_event(
                self.session_id, SessionEvent.Kind.ERROR, f"stream violation: {reason}"
            )
            await self._error("stream_violation", f"The avatar dropped a message ({reason}).")

    # --- the avatar's side -------------------------------------------------------
    async def _on_avatar_chat(self, msg: ChatMessage, received_at: datetime) -> None:
        if not msg.mid or len(msg.mid) > MAX_MID_CHARS:
            return  # not a message id any avatar sends
        if msg.idx is not None and msg.idx > MAX_PIECE_IDX:
            return  # nor a piece number
        role = "user" if msg.sender == "user" else "avatar"
        if role == "avatar" and self._llm_answers():
            return  # the avatar speaking our LLM's answer: streamed into the transcript already
        if role == "user" and await self._lines("user", msg.mid).aexists():
            return  # the avatar echoing what was typed: already in the transcript
        final = msg.fin is not False
        if msg.idx is None:
            await self._append_line(role, msg.mid, msg.text, final, received_at)
            await self._transcript(role, msg.mid, msg.text, final=final)
            return
        line = await self._place_piece(role, msg.mid, msg.idx, msg.text, final, received_at)
        if line is None:
            return  # a piece already recorded (another tab forwarded it too)
        text, in_order, line_final = line
        if in_order and (final or not line_final):
            await self._transcript(role, msg.mid, msg.text, final=final)
        elif line_final:
            # Late, or after the line's end: a final frame carries the whole line, which
            # the page puts in place of what it has (static/js/transcript.js).
            await self._transcript(role, msg.mid, text, final=True)
        # Late into a line still being spoken: the page shows it on its next replay.

    async def _place_piece(
        self, role: str, mid: str, idx: int, text: str, final: bool, received_at: datetime
    ) -> tuple[str, bool, bool] | None:
        """Record piece `idx` of a line and rebuild the line from its pieces in order.

        Returns (the line's text, whether the piece came last so far, whether the line
        is final), or None when the piece was recorded already.
        """
        try:
            await TranscriptPiece.objects.acreate(
                session_id=self.session_id, role=role, mid=mid, idx=idx, text=text
            )
        except IntegrityError:
            return None
        pieces = TranscriptPiece.objects.filter(session_id=self.session_id, role=role, mid=mid)
        parts = [row async for row in pieces.order_by("idx").values_list("idx", "text")]
        whole = "".join(part for _, part in parts)
        in_order = parts[-1][0] == idx
        first = len(parts) == 1
        return whole, in_order, await self._store_line(role, mid, whole, final, first, received_at)

    def _lines(self, role: str, mid: str) -> QuerySet[TranscriptEntry]:
        return TranscriptEntry.objects.filter(session_id=self.session_id, role=role, mid=mid)

    async def _store_line(
        self, role: str, mid: str, whole: str, final: bool, first: bool, received_at: datetime
    ) -> bool:
        """Write the line rebuilt from its pieces; returns whether the line is final.

        Pieces only ever add text, so a process that read fewer of them (it lost a race
        with another one) must not overwrite the longer line; and a final line stays
        final. Ordered so that the usual cases take one query: the first piece creates
        the line, a later one extends an open line. A new line is placed in the transcript
        by when its piece reached us, however long its recording waited.
        """
        line = {"session_id": self.session_id, "role": role, "mid": mid, "created_at": received_at}
        lines = self._lines(role, mid)
        changes: dict[str, Any] = {"text": whole, "final": True} if final else {"text": whole}
        if first:
            try:
                await TranscriptEntry.objects.acreate(**line, text=whole, final=final)
                return final
            except IntegrityError:
                pass  # a late first piece: the line exists
        grows = lines.filter(LessThanOrEqual(Length("text"), len(whole)))
        if final:
            if await grows.aupdate(**changes):
                return True
        elif await grows.filter(final=False).aupdate(text=whole):
            return False
        elif await grows.aupdate(text=whole):
            return True  # only a final line fails the update just above
        # No line yet (its first piece is late), or a longer one.
        try:
            await TranscriptEntry.objects.acreate(**line, text=whole, final=final)
            return final
        except IntegrityError:
            pass
        # Another process created the line between our update and our create: ours may
        # still be the longer text (it read more pieces), so write it if it is.
        if not await grows.aupdate(**changes) and final:
            await lines.aupdate(final=True)
        return final or await lines.filter(final=True).aexists()

    async def _append_line(
        self, role: str, mid: str, text: str, final: bool, received_at: datetime
    ) -> None:
        """A line in one message (no `idx`), or a piece of one that does not number
        its pieces: appended in arrival order."""
        lines = self._lines(role, mid)
        updated = await lines.aupdate(text=Concat(F("text"), Value(text)), final=final)
        if updated:
            return
        try:
            await TranscriptEntry.objects.acreate(
                session_id=self.session_id,
                role=role,
                mid=mid,
                text=text,
                final=final,
                created_at=received_at,
            )
        except IntegrityError:  # another socket created it just now
            await lines.aupdate(text=Concat(F("text"), Value(text)), final=final)

    async def _finish_avatar_lines(self, *, cut: bool) -> None:
        """The avatar stopped speaking: what it was saying is final (and cut short, if
        it stopped because of an interrupt: an interrupted answer never gets `fin`)."""
        open_lines = TranscriptEntry.objects.filter(
            session_id=self.session_id, role="avatar", final=False
        )
        if self.answerer is not None and self.answerer.mid:
            open_lines = open_lines.exclude(mid=self.answerer.mid)  # its own to finish
        mids = [mid async for mid in open_lines.values_list("mid", flat=True)]
        if not mids:
            return
        await open_lines.filter(mid__in=mids).aupdate(final=True, cut=cut)
        for mid in mids:
            await self._transcript("avatar", mid, "", final=True)

    async def _on_ack(self, msg: CommandMessage) -> None:
        if msg.code is None or not -(2**31) <= msg.code < 2**31:
            return  # a command, not an ack (the avatar does not command us), or no code AKool sends
        pending = self.pending_params.pop(msg.mid or "", None)
        ok = msg.code == 1000
        if ok and pending and pending.get("changes"):
            await AvatarSession.objects.filter(pk=self.session_id).aupdate(**pending["changes"])
        # The ack's fields go in the event's data, so a reconnecting page gets the list of
        # confirmed changes back (see _replay) without parsing the message text.
        ack: dict[str, Any] = {
            "ack": msg.cmd[:40],
            "code": msg.code,
            "msg": (msg.msg or "")[:200],
        }
        if pending and pending.get("params"):
            ack["params"] = pending["params"]
        await lifecycle.record_event(
            self.session_id,
            SessionEvent.Kind.COMMAND if ok else SessionEvent.Kind.ERROR,
            f"{msg.cmd} ack {msg.code}: {msg.msg}"[:200],
            **ack,
        )
        await self._fan_out(_command_result(ack))

    # --- output ------------------------------------------------------------------
    async def _emit_frame(self, frame: str) -> None:
        self.frames_sent += 1
        self.bytes_sent += protocol.encoded_size(frame)
        await self._send({"type": "rtc_send", "frame": frame})

    async def _send(self, message: dict[str, Any]) -> None:
        await self.send(text_data=_dumps(message))

    async def _error(self, code: str, message: str, *, retry_after: float | None = None):
        frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
        if retry_after is not None:
            frame["retry_after"] = retry_after
        await self._send(frame)

    async def _transcript(self, role: str, mid: str, text: str, *, final: bool) -> None:
        await self._fan_out(
            {"type": "transcript", "role": role, "mid": mid, "text": text, "final": final}
        )

    async def _fan_out(self, message: dict[str, Any]) -> None:
        """Send to this socket directly, and to the session's other sockets if any."""
        await self._send(message)
        if await presence.sockets(self.session_id) > 1:
            await self.channel_layer.group_send(
                self.group,
                {"type": "session.relay", "origin": self.channel_name, "message": message},
            )

    async def _send_session(self, session: AvatarSession) -> None:
        await self._send(
            {
                "type": "session",
                "status": session.status,
                "expires_at": session.expires_at,
                "close_reason": session.close_reason or None,
                "error": session.error or None,
            }
        )

    # --- group events ------------------------------------------------------------
    async def session_relay(self, event: dict[str, Any]) -> None:
        if event.get("origin") != self.channel_name:
            await self._send(event["message"])

    async def session_state(self, event: dict[str, Any]) -> None:
        if event["status"] != Status.ACTIVE:
            self._stop_talking()
        await self._send(
            {
                "type": "session",
                "status": event["status"],
                "expires_at": event.get("expires_at"),
                "close_reason": event.get("close_reason"),
            }
        )
        if event["status"] in (Status.CLOSED, Status.FAILED):
            await self.close(code=CLOSE_ENDED)

    async def principal_revoked(self, event: dict[str, Any]) -> None:
        await self._error("access_revoked", event.get("why") or "Your access was revoked.")
        await self.close(code=CLOSE_UNAUTHENTICATED)

    def _stop_talking(self) -> None:
        """The session is ending: nothing more goes to the avatar (a streaming answer is
        cancelled, frames not yet released are dropped) and no new chat is taken."""
        self.ending = True
        if self.answerer is not None:
            self.answerer.cancel()
        elif self.pacer is not None:
            self.pacer.drop_pending()

    async def _watch(self) -> None:
        """This socket's presence: a heartbeat while it is open, revocation checks, and
        the end of the session at `expires_at`.

        Nothing a beat does may end this task: a failing check is logged and tried again
        next beat (a session must never be reaped because a check failed).
        """
        # A random phase: after a restart every page reconnects at once, and heartbeats
        # in step would hit the database and the cache together every interval.
        pause = random.uniform(0, settings.HEARTBEAT_INTERVAL)
        while (left := (self.expires_at - timezone.now()).total_seconds()) > 0:
            await asyncio.sleep(min(left, pause))
            pause = settings.HEARTBEAT_INTERVAL
            if self.expires_at <= timezone.now():
                break
            if not await self._beat():
                return
        await self._expire()

    async def _beat(self) -> bool:
        """One heartbeat; False when the principal's access was revoked."""
        if not self.observer:  # watching staff do not keep a session alive
            try:
                await presence.heartbeat(self.session_id)
            except Exception:
                log.exception("session %s: heartbeat failed; trying again", self.session_id)
        # Revocations by bulk update send no signal: re-check now and then.
        try:
            valid = await still_valid(self.principal)
        except Exception:
            # The database went away (a restart), or something unexpected: drop a broken
            # connection and keep going; the check runs again next beat.
            log.exception("session %s: revocation check failed; trying again", self.session_id)
            with contextlib.suppress(Exception):
                await aclose_old_connections()
            return True
        if not valid:
            await self.principal_revoked({"why": "Your access was revoked."})
        return valid

    async def _expire(self) -> None:
        """Time is up: stop talking at once, then close the session (upstream too)."""
        self._stop_talking()
        if self.observer:
            return  # the owner's socket (or the reaper) ends it
        session = await lifecycle.close_quietly(self.session_id, CloseReason.EXPIRED)
        if session.status in (Status.CLOSED, Status.FAILED):
            # Closed already (no broadcast comes): say so and go.
            await self._send_session(session)
            await self.close(code=CLOSE_ENDED)

    def _watch_ended(self, task: asyncio.Task) -> None:
        if task.cancelled() or task.exception() is None:
            return  # the socket closed, the session expired, or access was revoked
        log.error(
            "session %s: the presence task died; closing the socket so the page reconnects",
            self.session_id,
            exc_info=task.exception(),
        )
        lifecycle.in_background(self.close(code=CLOSE_RECONNECT))


def _command_result(ack: dict[str, Any]) -> dict[str, Any]:
    """The `command_result` frame for an avatar's ack (as recorded in its event)."""
    ok = ack["code"] == 1000
    frame = {
        "type": "command_result",
        "cmd": ack["ack"],
        "ok": ok,
        "code": ack["code"],
        "message": ack.get("msg") or ("ok" if ok else "failed"),
    }
    if ack.get("params"):
        frame["params"] = ack["params"]
    return frame
