"""Commands to the avatar (set-params, interrupt) and the settings they change.

A session's settings have one home per socket: `SessionSettings`, loaded from the row
when the socket connects and changed only when the avatar acknowledges a set-params
(the row is written then too). Everything that depends on a setting (does our LLM
answer? in which mode?) reads it there, so an acknowledged switch takes effect at once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from sessions import errors, keys, shared_cache
from sessions.models import AvatarPreset, AvatarSession, SessionEvent
from sessions.services import answers, catalog
from sessions.services.lifecycle import record_event
from sessions.stream.codec import (
    MAX_FRAME_BYTES,
    encoded_size,
    interrupt_frame,
    new_mid,
    set_params_frame,
)

Mode = AvatarPreset.Mode
ACK_OK = 1000  # AKool's code for success
# Confirmed commands replayed to a page that (re)connects, so a reload keeps the list.
REPLAYED = 8
# Commands waiting for the avatar's ack, per socket: an avatar that never answers must
# not make the socket grow.
MAX_PENDING = 100
# How long a sent set-params waits for its ack where other sockets can find it.
ACK_WAIT = 120


@dataclass
class SessionSettings:
    """What the avatar has confirmed for this session."""

    voice_id: str
    language: str
    mode: int
    background_url: str
    use_llm: bool  # the preset answers with the operator's LLM (in retelling mode)

    @classmethod
    def of(cls, session: AvatarSession) -> SessionSettings:
        return cls(
            voice_id=session.voice_id,
            language=session.language,
            mode=session.mode,
            background_url=session.background_url,
            # Our LLM answers only if it is configured now (the setting may have been
            # emptied since the session started).
            use_llm=session.use_llm and answers.llm_enabled(),
        )

    @property
    def our_llm_answers(self) -> bool:
        """Our LLM answers in retelling mode; in dialogue mode the avatar's own does."""
        return self.use_llm and self.mode == Mode.RETELLING


@dataclass
class _Pending:
    cmd: str
    changes: dict[str, Any] = field(default_factory=dict)  # row fields, applied on the ack
    params: dict[str, Any] = field(default_factory=dict)  # as the caller named them


@dataclass(frozen=True)
class Ack:
    """The avatar's answer to one of our commands, as recorded and shown."""

    cmd: str
    code: int
    msg: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    changes: dict[str, Any] = field(default_factory=dict)  # row fields it confirmed

    @property
    def ok(self) -> bool:
        return self.code == ACK_OK

    def as_data(self) -> dict[str, Any]:
        """The event's data (replayed to a reconnecting page, see `recent_acks`)."""
        data: dict[str, Any] = {"ack": self.cmd, "code": self.code, "msg": self.msg}
        if self.params:
            data["params"] = self.params
        return data


class Commands:
    """One socket's commands to the avatar, waiting for its acks, and the settings
    they change."""

    def __init__(self, session_id: str, settings: SessionSettings) -> None:
        self.session_id = session_id
        self.settings = settings
        self.pending: dict[str, _Pending] = {}
        self._prepared: dict[str, _Pending] = {}

    async def set_params(self, params: dict[str, Any]) -> tuple[str, str]:
        """The set-params frame for `params` (already checked by the shared schema,
        `api.schemas.SessionParams`; keys left out are left alone), and its mid. Nothing
        is recorded until `sent`: the caller may still refuse to send it."""
        changes: dict[str, Any] = {}
        if "voice" in params:
            changes["voice_id"] = (await catalog.voice(params["voice"])).voice_id
        for name in ("language", "mode", "background_url"):
            if name in params:
                changes[name] = params[name]
        mid = new_mid()
        frame = set_params_frame(mid=mid, **changes)
        if encoded_size(frame) > MAX_FRAME_BYTES:
            code = "invalid_background" if "background_url" in params else "invalid_params"
            raise errors.Invalid(code, "These settings do not fit in one message; shorten them.")
        self._prepared[mid] = _Pending("set-params", changes, dict(params))
        return mid, frame

    async def sent(self, mid: str) -> None:
        """The set-params `mid` went to the avatar: wait for its ack here and, so that any
        socket of the session may apply it, in the cache; record it."""
        pending = self._prepared.pop(mid)
        self._remember(mid, pending)
        stored = {"changes": pending.changes, "params": pending.params}
        await shared_cache.set(keys.pending_command(self.session_id, mid), stored, ACK_WAIT)
        await record_event(
            self.session_id, SessionEvent.Kind.COMMAND, "set-params", **pending.changes
        )

    def interrupt(self) -> str:
        mid = new_mid()
        self._remember(mid, _Pending("interrupt"))
        return interrupt_frame(mid=mid)

    def _remember(self, mid: str, pending: _Pending) -> None:
        self.pending[mid] = pending
        while len(self.pending) > MAX_PENDING:
            del self.pending[next(iter(self.pending))]

    async def on_ack(self, cmd: str, mid: str | None, code: int, msg: str | None) -> Ack:
        """The avatar acknowledged a command: a confirmed set-params changes the
        settings (here and in the row). Recorded in the event log either way."""
        pending = self.pending.pop(mid or "", None) or await self._sent_elsewhere(cmd, mid)
        ack = Ack(cmd[:40], code, (msg or "")[:200], pending.params if pending else {})
        if ack.ok and pending and pending.changes:
            self.apply(pending.changes)
            ack = dataclasses.replace(ack, changes=pending.changes)
            await AvatarSession.objects.filter(pk=self.session_id).aupdate(**pending.changes)
        await record_event(
            self.session_id,
            SessionEvent.Kind.COMMAND if ack.ok else SessionEvent.Kind.ERROR,
            f"{cmd} ack {code}: {msg}"[:200],
            **ack.as_data(),
        )
        return ack

    async def _sent_elsewhere(self, cmd: str, mid: str | None) -> _Pending | None:
        """A set-params another socket of the session sent (another tab, or this page
        before it reconnected)."""
        if cmd != "set-params" or not mid:
            return None
        stored = await shared_cache.get(keys.pending_command(self.session_id, mid))
        if not isinstance(stored, dict):
            return None
        return _Pending("set-params", stored["changes"], stored["params"])

    def apply(self, changes: dict[str, Any]) -> None:
        """Settings the avatar confirmed (here, or on another socket of the session)."""
        for name, value in changes.items():
            if hasattr(self.settings, name):
                setattr(self.settings, name, value)


async def recent_acks(session_id: Any) -> list[Ack]:
    """The last acknowledged commands, oldest first (a reconnecting page's list)."""
    events = SessionEvent.objects.filter(session_id=session_id, data__has_key="ack")
    recent = [e.data async for e in events.order_by("-created_at", "-id")[:REPLAYED]]
    return [
        Ack(d["ack"], d["code"], d.get("msg", ""), d.get("params") or {}) for d in reversed(recent)
    ]
