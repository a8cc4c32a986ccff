"""The session websocket, /ws/sessions/<id>/: chat, commands and the live transcript.

Thin on purpose: it reads a frame (realtime/frames.py), calls a service, and sends
frames. Hot path: a chat's frames go straight from this socket's pacer to this socket
(the page that asked passes them to its transport), never through the channel layer.
The session's group carries only what other sockets of the session must see (another
tab, a staff observer), and only when such a socket exists.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from sessions import embed_tokens, errors, keys, operations
from sessions.access import Caller, InvalidToken, Principal, resolve
from sessions.models import AvatarSession, CloseReason, SessionEvent, Status
from sessions.realtime import frames
from sessions.realtime.client_frames import ClientFrames
from sessions.realtime.shown_lines import ShownLines
from sessions.realtime.spoken import SpokenTurns
from sessions.services import answers, knowledge, lifecycle, presence, revocation, staff_actions
from sessions.services.avatar_feed import AvatarFeed
from sessions.services.commands import Ack, Commands, SessionSettings
from sessions.services.limits import MessageBudget, Refusal
from sessions.services.transcript import Shown, settled_for
from sessions.sockets import JsonSocketConsumer
from sessions.stream.codec import encoded_size
from sessions.stream.pacer import Pacer

log = logging.getLogger("avatarsite.ws")

# Close codes, so a client can tell why it was sent away.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404  # also for someone else's session: ids leak nothing
CLOSE_TAKEN_OVER = 4409  # a newer socket of the same owner took this one's place
CLOSE_ENDED = 4410
# The socket's presence task ended unexpectedly: a code the page reconnects on (outside
# 4000-4999), so a fresh socket (with a fresh task) takes over. Not 1011: a server may
# not send that one in a close frame (autobahn refuses it).
CLOSE_RECONNECT = 3000
SIGN_IN = gettext_lazy("Sign in to use this session.")


class SessionConsumer(SpokenTurns, ClientFrames, operations.MeteredSocket, JsonSocketConsumer):
    session_id: str
    principal: Principal
    observer: bool  # staff watching someone else's session: read-only
    joined = False
    signin: str | None = None  # a cookie socket's Django session key
    socket_scopes: list[tuple[str, int]] = []  # where it counts against the socket caps
    ending = False
    pacer: Pacer | None = None
    feed: AvatarFeed | None = None
    watch: asyncio.Task | None = None
    answerer: answers.Answerer | None = None
    shown_lines: ShownLines | None = None  # connect sets its own

    async def connect(self) -> None:
        session = await self._admit()
        if session is None:
            return
        await self._accept()
        # In the group before the row is read again: a close that lands meanwhile is
        # either in the row or heard as an event, never missed.
        group = keys.session_group(self.session_id)
        await self.channel_layer.group_add(group, self.channel_name)
        session = await lifecycle.resume(session.pk, owner=not self.observer)
        if session.status != Status.ACTIVE:
            await self.channel_layer.group_discard(group, self.channel_name)
            await self.send_json(frames.session_of(session))  # say why before closing
            await self.close(code=CLOSE_ENDED)
            return
        if self.observer:  # staff watching someone else's live session: on the record
            await staff_actions.arecord(
                self.principal.user,
                staff_actions.Kind.WATCH,
                f"Watched session {self.session_id} live (its transcript as it is said).",
                session=self.session_id,
            )
        await self._join(session)
        await self._take_over()
        await self.send_json(frames.session_of(session))
        self.shown_lines = ShownLines()  # how much of each line, for session_shown
        async for frame in frames.replay(self.session_id):
            await self.send_json(frame)
            self.shown_lines.replayed(frame)
        if self.answerer is not None:  # after the replay, so the page sees it once
            await self.answerer.greet(knowledge.opening_line(session.preset))
        watch = presence.SocketPresence(
            self.session_id,
            self.principal,
            observer=self.observer,
            expires_at=session.expires_at,
            on_revoked=lambda: self.principal_revoked({"why": watch.why}),
            on_expired=self._expire,
            signin=self.signin,
        )
        self.watch = asyncio.get_running_loop().create_task(watch.run())
        self.watch.add_done_callback(self._watch_ended)

    async def _admit(self) -> AvatarSession | None:
        """The session, if the caller may see it; else the socket is refused."""
        try:
            principal = await database_sync_to_async(resolve)(Caller.from_scope(self.scope))
        except InvalidToken as bad:
            return await self._refuse(CLOSE_UNAUTHENTICATED, "not_authenticated", bad.say(SIGN_IN))
        if principal is None:
            return await self._refuse(CLOSE_UNAUTHENTICATED, "not_authenticated", str(SIGN_IN))
        self.session_id = str(self.scope["url_route"]["kwargs"]["session_id"])
        visible = AvatarSession.objects.visible_to(principal).select_related("preset")
        session = await visible.filter(pk=self.session_id).afirst()
        if session is None:
            return await self._refuse(CLOSE_NOT_FOUND, "session_not_found", _("No such session."))
        self.principal = principal
        self.observer = not principal.owns(session)
        # A cookie socket stands on its sign-in: signing out or a password change ends it.
        cookie = principal.user is not None and principal.token_id is None
        self.signin = self.scope["session"].session_key if cookie else None
        return session

    async def _accept(self) -> None:
        # An embed page's socket offers a subprotocol (sessions.embed_tokens); a browser
        # drops a socket whose answer names none.
        offered = embed_tokens.SOCKET_PROTOCOL in (self.scope.get("subprotocols") or [])
        await self.accept(subprotocol=embed_tokens.SOCKET_PROTOCOL if offered else None)

    async def _refuse(self, code: int, error: str, message: str) -> None:
        """Accept, say why, close: a handshake refused before accepting reaches the page
        as a bare failure (HTTP 403), which it cannot tell from a network fault."""
        await self._accept()
        await self._error(error, message)
        await self.close(code=code)

    async def _take_over(self) -> None:
        """Count this socket against the caps; the older sockets beyond them close (the
        newest wins, so a reload or a reconnect is never refused), in any process."""
        self.socket_scopes = presence.socket_scopes(
            self.session_id, self.principal, observer=self.observer
        )
        for channel in await presence.admit_socket(self.channel_name, self.socket_scopes):
            await self.channel_layer.send(channel, {"type": keys.SOCKET_TAKEN_OVER})

    async def _join(self, session: AvatarSession) -> None:
        user_id = self.principal.user.pk if self.principal.user is not None else None
        revocable = keys.principal_groups(user_id, self.principal.token_id)
        if self.signin:
            revocable.append(keys.signin_group(self.signin))
        for group in revocable:  # the session's own group is joined already
            await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined = [keys.session_group(self.session_id), *revocable]
        self.joined = True
        self.expires_at = session.expires_at
        self.budget_key = session.budget_key  # who pays for what is said, whoever talks
        # A socket of the session is back: a close pending after a beacon or a
        # disconnect sees the new marker and stands down.
        await presence.joined(self.session_id, owner=not self.observer)
        self.pacer = Pacer(
            self._emit_frame,
            limit=settings.STREAM_BYTES_PER_SECOND,
            allowance=settings.STREAM_JITTER_ALLOWANCE,
            backlog=int(settings.STREAM_BACKLOG_SECONDS * settings.STREAM_BYTES_PER_SECOND),
        )
        self.commands = Commands(self.session_id, SessionSettings.of(session))
        self.budget = MessageBudget()
        self.frames_sent = self.bytes_sent = self.chats = 0
        if session.use_llm and answers.llm_enabled() and not self.observer:
            self.answerer = answers.Answerer(
                session_id=self.session_id,
                # Budgets are the session's creator's, never the socket's own caller's
                # (behind a proxy a visitor's socket may resolve to the proxy's address).
                principal_key=self.budget_key,
                preset_slug=session.preset_slug,
                # The preset's prompt and its knowledge base's instructions.
                system_prompt=knowledge.system_prompt(session.preset),
                pacer=self.pacer,
                show=self.shown,
                warn=lambda code, text: self._fan_out(frames.error(code, text)),
                # Guardrails (services.answers): the preset's declined topics, and the
                # language its decline line is said in.
                declined_topics=session.preset.declined_topics if session.preset else "",
                language=lambda: self.commands.settings.language,
            )
            await self.answerer.load_history()
        self._start_hearing(session)  # spoken questions (realtime/spoken.py), turn timings
        self.feed = AvatarFeed(
            self.session_id, self.commands, self, lambda: self.answerer and self.answerer.mid
        )

    async def disconnect(self, code: int) -> None:
        if self.watch is not None:
            self.watch.cancel()
        if self.feed is not None:
            await self.feed.aclose()
        self._stop_hearing()
        if self.answerer is not None:
            await self.answerer.aclose()
        if self.pacer is not None:
            await self.pacer.aclose()
        if self.joined:
            await self._leave()

    async def _leave(self) -> None:
        if self.chats:
            await settled_for(self.session_id)  # a reload may land on another worker
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        await presence.forget_socket(self.channel_name, self.socket_scopes)
        remaining = await presence.left(self.session_id, owner=not self.observer)
        if remaining == 0 and not self.observer:
            # The last socket went without a goodbye (or with one: closing an ended
            # session is a no-op). Close unless someone reconnects in time.
            marker = await presence.marker(self.session_id)
            lifecycle.in_background(lifecycle.close_if_abandoned(self.session_id, marker))
        if self.frames_sent or self.chats:
            await lifecycle.count_traffic(
                self.session_id, chats=self.chats, frames=self.frames_sent, size=self.bytes_sent
            )

    # --- input ---------------------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        await self._guarded(self._receive(text_data))

    async def _receive(self, text_data: str | None) -> None:
        if not self.joined:
            return
        self.budget.spend()  # every message costs work: counted before it is read
        if text_data is None:
            raise errors.BadInput("binary_not_supported", _("Send JSON text frames, not binary."))
        # What Channels' receive does, but an empty frame is bad JSON too (Channels
        # reads it as "no text" and raises).
        await self.receive_json(await self.decode_json(text_data))

    @classmethod
    async def decode_json(cls, text_data: str) -> dict[str, Any]:
        """The size, JSON and text rules of a client's frame (realtime/frames.py)."""
        return frames.decode(text_data)

    async def receive_json(self, message: dict[str, Any], **kwargs: Any) -> None:
        if self.observer:
            raise errors.Forbidden(
                "read_only", _("You are watching this session; it is read-only.")
            )
        await getattr(self, "on_" + message["type"])(message)

    async def _guarded(self, work: Awaitable[None]) -> None:
        """A refusal becomes an error frame; no message, however strange, takes the socket down."""
        try:
            await work
        except errors.DomainError as exc:
            await self._error(exc.code, exc.message, retry_after=exc.retry_after)
            if isinstance(exc, errors.LimitExceeded) and self._worth_recording(exc):
                await lifecycle.record_event(
                    self.session_id, SessionEvent.Kind.LIMIT, exc.message, code=exc.code
                )
        except Exception:
            log.exception("session %s: failed to handle a message", self.session_id)
            await self.failed()

    def _worth_recording(self, refusal: errors.LimitExceeded) -> bool:
        """Each limit's refusal is counted (metrics) and recorded, a rate's only once a window
        (a flood would otherwise write a row per message it sends), a backlog's never."""
        operations.metrics.refused(self, refusal.code)  # a tally of this socket's, no lock
        return not isinstance(refusal, Refusal) or refusal.worth_recording

    # --- what the avatar's side says (services.avatar_feed.Listener) ----------------------
    async def shown(self, update: Shown) -> None:
        for frame in frames.shown(update):  # a long line in pieces under the frame limit
            await self._fan_out(frame)

    async def acknowledged(self, ack: Ack) -> None:
        await self._fan_out(frames.command_result(ack))
        if ack.changes and await presence.sockets(self.session_id) > 1:
            # The session's other sockets (tabs, processes) follow the confirmed settings.
            event = {"type": keys.SESSION_SETTINGS, "origin": self.channel_name}
            await self.channel_layer.group_send(
                keys.session_group(self.session_id), event | {"changes": ack.changes}
            )

    async def speaking(self, speaking: bool) -> None:
        self.avatar_speaking = speaking
        if speaking and self.turns is not None:
            self.turns.audio_started()
        await self._fan_out(frames.avatar(speaking))

    async def violation(self, reason: str) -> None:
        await self._error(
            "stream_violation", _("The avatar dropped a message (%(reason)s).") % {"reason": reason}
        )

    async def failed(self) -> None:
        await self._error("internal_error", _("That message could not be handled."))

    # --- output ----------------------------------------------------------------------------
    @classmethod
    async def encode_json(cls, content: dict[str, Any]) -> str:
        return frames.encode(content)

    async def _emit_frame(self, frame: str) -> None:
        self.frames_sent += 1
        if self.turns is not None:
            self.turns.frame_sent()
        self.bytes_sent += encoded_size(frame)
        await self.send_json(frames.rtc_send(frame))

    async def _error(self, code: str, message: str, *, retry_after: float | None = None):
        await self.send_json(frames.error(code, message, retry_after=retry_after))

    async def _fan_out(self, frame: dict[str, Any]) -> None:
        """Send to this socket directly, and to the session's other sockets if any."""
        await self.send_json(frame)
        if await presence.sockets(self.session_id) > 1:
            await self.channel_layer.group_send(
                keys.session_group(self.session_id),
                {"type": keys.SESSION_RELAY, "origin": self.channel_name, "message": frame},
            )

    # --- group events ----------------------------------------------------------------------
    async def session_relay(self, event: dict[str, Any]) -> None:
        if event.get("origin") != self.channel_name:
            await self.send_json(event["message"])

    async def session_shown(self, event: dict[str, Any]) -> None:
        """A transcript update recorded beside the session's sockets (what the sandbox
        avatar said): every socket of the session shows it, once and whole (shown_lines)."""
        for frame in self.shown_lines.frames(event) if self.shown_lines else ():
            await self.send_json(frame)

    async def session_state(self, event: dict[str, Any]) -> None:
        if event["status"] != Status.ACTIVE:
            self._stop_talking()
        frame = frames.session(
            event["status"], event.get("expires_at"), event.get("close_reason"), event.get("error")
        )
        await self.send_json(frame)
        if event["status"] in (Status.CLOSED, Status.FAILED):
            await self.close(code=CLOSE_ENDED)

    async def session_settings(self, event: dict[str, Any]) -> None:
        if event.get("origin") != self.channel_name and self.joined:
            self.commands.apply(event["changes"])

    async def principal_revoked(self, event: dict[str, Any]) -> None:
        await self._error("access_revoked", event.get("why") or _("Your access was revoked."))
        await self.close(code=CLOSE_UNAUTHENTICATED)

    async def socket_taken_over(self, event: dict[str, Any]) -> None:
        self._stop_talking()
        await self._error("taken_over", _("This session went on in another tab or window."))
        await self.close(code=CLOSE_TAKEN_OVER)

    async def signin_check(self, event: dict[str, Any]) -> None:
        """The user's password changed: this socket's sign-in may no longer stand."""
        if self.signin:
            lifecycle.in_background(self._check_signin())

    async def _check_signin(self) -> None:
        if await revocation.signin_lost(self.signin, self.principal.user.pk):
            await self.principal_revoked({"why": revocation.SIGNED_OUT})

    # --- the end ------------------------------------------------------------------------------
    def _stop_talking(self) -> None:
        """The session is ending: nothing more goes to the avatar (a streaming answer is
        cancelled, frames not yet released are dropped) and no new chat is taken."""
        self.ending = True
        if self.answerer is not None:
            self.answerer.cancel()
        elif self.pacer is not None:
            self.pacer.drop_pending()

    async def _expire(self) -> None:
        """Time is up: stop talking at once, then close the session (upstream too)."""
        self._stop_talking()
        if self.observer:
            return  # the owner's socket (or the reaper) ends it
        session = await lifecycle.close_quietly(self.session_id, CloseReason.EXPIRED)
        if session.status in (Status.CLOSED, Status.FAILED):
            # Closed already (no broadcast comes): say so and go.
            await self.send_json(frames.session_of(session))
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
