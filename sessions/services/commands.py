"""Commands to the avatar (set-params, interrupt) and the settings they change.

A session's settings have one home per socket: `SessionSettings`, loaded from the row
when the socket connects and changed only when the avatar acknowledges a set-params
(the row is written then too). Everything that depends on a setting (does our LLM
answer? in which mode?) reads it there, so an acknowledged switch takes effect at once.

Voice parameters (speed, pronunciation map, speech recognition, turn detection) are not
in the row: the session starts with its preset's, a set_params' `voice_params` changes
the fields it names (each replaced whole, the others kept), and the avatar's ack of it
is recorded with the whole set, which a socket reads back (from the preset, or from the
last such ack) the first time it needs them. Every set-params that touches the voice
carries the whole set with the voice's id (`vparams`), as AKool's demo does: whether
AKool merges `vparams` or replaces it, the avatar ends up with the same parameters.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings as site
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from sessions import errors, keys, shared_cache
from sessions.models import (
    AvatarPreset,
    AvatarSession,
    SessionEvent,
)
from sessions.services import answers, catalog, limits, modes
from sessions.services.lifecycle import record_event
from sessions.stream.codec import (
    MAX_FRAME_BYTES,
    encoded_size,
    interrupt_frame,
    new_mid,
    set_params_frame,
)
from sessions.voice_params import checked_voice_params, usable_voice_params

Mode = AvatarPreset.Mode
ACK_OK = 1000  # AKool's code for success
# Confirmed commands replayed to a page that (re)connects, so a reload keeps the list.
REPLAYED = 8
# Commands waiting for the avatar's ack, per socket: an avatar that never answers must
# not make the socket grow.
MAX_PENDING = 100
# The key of an ack event's data holding the voice parameters it confirmed (whole).
VOICE_PARAMS = "voice_params"

log = logging.getLogger("avatarsite.ws")
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
    preset_id: int | None = None
    # The whole set of voice parameters; None until first needed (see confirmed_voice_params).
    voice_params: dict[str, Any] | None = None
    provider: str = ""  # the sandbox records what its avatar says itself

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
            preset_id=session.preset_id,
            provider=session.provider,
        )

    @property
    def our_llm_answers(self) -> bool:
        """Our LLM answers in retelling mode; in dialogue mode the avatar's own does."""
        return self.use_llm and self.mode == Mode.RETELLING

    @property
    def sandbox_witnesses(self) -> bool:
        """The sandbox records what its avatar says, and ends its lines: the page's copies
        of the avatar's words (and their audio_end) are not the record."""
        return self.provider == "sandbox"

    @property
    def llm_answers(self) -> bool:
        """Whether the operator's LLM answers a chat (and so the LLM budget applies): our
        own in retelling mode, or, in the sandbox's dialogue mode, the sandbox avatar's
        stand-in for AKool's own LLM, charged to the same budget."""
        sandbox_dialogue = self.provider == "sandbox" and self.mode == Mode.DIALOGUE
        return self.our_llm_answers or (sandbox_dialogue and answers.llm_enabled())


@dataclass
class _Pending:
    cmd: str
    changes: dict[str, Any] = field(default_factory=dict)  # row fields, applied on the ack
    params: dict[str, Any] = field(default_factory=dict)  # as the caller named them
    voice_params: dict[str, Any] | None = None  # the whole set sent, if any
    data: dict[str, Any] = field(default_factory=dict)  # the frame's, for the sandbox's check
    at: float = field(default_factory=time.monotonic)  # when it was prepared


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
        is recorded until `sent`: the caller may still refuse to send it. Refused while
        COMMANDS_AWAITING_ACK of this socket's wait for their ack."""
        self._prepared.clear()  # one the caller refused to send is not coming
        self._refuse_if_too_many_waiting()
        changes: dict[str, Any] = {}
        if "mode" in params:  # dialogue would skip a guarded preset's checks
            preset = await AvatarPreset.objects.filter(pk=self.settings.preset_id).afirst()
            modes.check_mode(preset, params["mode"])
        voice_url = ""  # a cloned voice goes as `vurl` (not a row field: frame only)
        if "voice" in params:
            voice = await catalog.voice(params["voice"])
            changes["voice_id"], voice_url = voice.voice_id, voice.voice_url
        for name in ("language", "mode", "background_url"):
            if name in params:
                changes[name] = params[name]
        voice_params = None
        if "voice" in params or "voice_params" in params:
            voice_params = await self._voice_params_with(params.get("voice_params") or {})
        if not changes and voice_params is None:
            raise errors.BadInput("bad_message", _("'params' must be a non-empty object."))
        mid = new_mid()
        frame = set_params_frame(
            mid=mid, voice_url=voice_url, **self._frame_values(changes, voice_params)
        )
        size = encoded_size(frame)
        if size > MAX_FRAME_BYTES:
            code = "invalid_background" if "background_url" in params else "invalid_params"
            raise errors.Invalid(
                code,
                _(
                    "These settings take %(size)d bytes in one message, over the limit of "
                    "%(limit)d; shorten them."
                )
                % {"size": size, "limit": MAX_FRAME_BYTES},
            )
        data = json.loads(frame)["pld"]["data"]
        self._prepared[mid] = _Pending("set-params", changes, dict(params), voice_params, data)
        return mid, frame

    async def sent(self, mid: str) -> None:
        """The set-params `mid` went to the avatar: wait for its ack here and, so that any
        socket of the session may apply it, in the cache; record it."""
        pending = self._prepared.pop(mid)
        self._remember(mid, pending)
        stored = {
            "changes": pending.changes,
            "params": pending.params,
            VOICE_PARAMS: pending.voice_params,
            "data": pending.data,  # the sandbox avatar applies only what we sent
        }
        await shared_cache.set(keys.pending_command(self.session_id, mid), stored, ACK_WAIT)
        recorded = pending.changes
        if pending.voice_params is not None:
            recorded = {**recorded, VOICE_PARAMS: pending.voice_params}
        await record_event(self.session_id, SessionEvent.Kind.COMMAND, "set-params", **recorded)

    def _frame_values(
        self, changes: dict[str, Any], voice_params: dict[str, Any] | None
    ) -> dict[str, Any]:
        """set_params_frame's arguments: with voice parameters goes the voice (the new
        one, else the current one), so that vparams always names it."""
        values = dict(changes)
        if voice_params is not None:
            # A cloned voice (voice_id "") must not carry the previous voice's id along.
            values["voice_id"] = changes.get("voice_id", self.settings.voice_id)
            values["voice_params"] = voice_params
        return values

    async def _voice_params_with(self, change: dict[str, Any]) -> dict[str, Any]:
        """The whole set of voice parameters once `change` (checked fields) applies to
        the last set sent: each frame carries the whole set, so the avatar holds that of
        the last one it accepted, and a change sent before the previous one's ack keeps it."""
        if self.settings.voice_params is None:
            self.settings.voice_params = await confirmed_voice_params(
                self.session_id, self.settings.preset_id
            )
        sent = [p.voice_params for p in self.pending.values() if p.voice_params is not None]
        merged = {**(sent[-1] if sent else self.settings.voice_params), **change}
        try:
            return checked_voice_params(merged)
        except ValidationError as exc:  # each part fits, not the whole
            text = "voice_params: " + "; ".join(exc.messages)
            raise errors.Invalid("invalid_voice_params", text[:300]) from None

    def interrupt(self) -> str:
        mid = new_mid()
        self._remember(mid, _Pending("interrupt"))
        return interrupt_frame(mid=mid)

    def _remember(self, mid: str, pending: _Pending) -> None:
        self._forget_unanswered()
        self.pending[mid] = pending
        while len(self.pending) > MAX_PENDING:
            del self.pending[next(iter(self.pending))]

    def _forget_unanswered(self) -> None:
        """Commands whose ack did not come within ACK_WAIT never will (oldest first)."""
        now = time.monotonic()
        while self.pending and next(iter(self.pending.values())).at + ACK_WAIT <= now:
            del self.pending[next(iter(self.pending))]

    def _refuse_if_too_many_waiting(self) -> None:
        self._forget_unanswered()
        waiting = [p for p in self.pending.values() if p.cmd == "set-params"]
        if len(waiting) >= site.COMMANDS_AWAITING_ACK:
            raise limits.Refusal(
                "commands_pending",
                f"{len(waiting)} settings changes are still waiting for the avatar's answer;"
                " try again once it answers.",
                retry_after=waiting[0].at + ACK_WAIT - time.monotonic(),
                worth_recording=False,
            )

    async def on_ack(self, cmd: str, mid: str | None, code: int, msg: str | None) -> Ack:
        """The avatar acknowledged a command: a confirmed set-params changes the
        settings (here and in the row). Recorded in the event log either way, if it is
        one of ours: an ack for a command never sent (or forgotten, ACK_WAIT) changes
        nothing, and the page, its only witness, writes no row with it."""
        pending = await self._claim(cmd, mid, self.pending.pop(mid or "", None))
        ack = Ack(cmd[:40], code, (msg or "")[:200], pending.params if pending else {})
        confirmed: dict[str, Any] = {}
        if ack.ok and pending and pending.changes:
            self.apply(pending.changes)
            ack = dataclasses.replace(ack, changes=pending.changes)
            await AvatarSession.objects.filter(pk=self.session_id).aupdate(**pending.changes)
        if ack.ok and pending and pending.voice_params is not None:
            self.settings.voice_params = confirmed[VOICE_PARAMS] = pending.voice_params
        if pending is None:
            return ack
        await record_event(
            self.session_id,
            SessionEvent.Kind.COMMAND if ack.ok else SessionEvent.Kind.ERROR,
            f"{cmd} ack {code}: {msg}"[:200],
            **ack.as_data(),
            **confirmed,
        )
        return ack

    async def _claim(self, cmd: str, mid: str | None, mine: _Pending | None) -> _Pending | None:
        """The command an ack answers, for its first ack only: `mine` if this socket sent
        it, else a set-params another socket of the session sent (another tab, or this
        page before it reconnected). An ack forwarded again (two tabs, or a page
        replaying it) applies and is recorded once, whichever process gets it."""
        if cmd != "set-params" or not mid:
            return mine
        if mine is None:
            stored = await shared_cache.get(keys.pending_command(self.session_id, mid))
            if not isinstance(stored, dict):
                return None
            mine = _Pending(
                "set-params", stored["changes"], stored["params"], stored.get(VOICE_PARAMS)
            )
        first = await shared_cache.add(keys.command_acked(self.session_id, mid), 1, ACK_WAIT)
        return mine if first else None

    def apply(self, changes: dict[str, Any]) -> None:
        """Settings the avatar confirmed (here, or on another socket of the session)."""
        for name, value in changes.items():
            if hasattr(self.settings, name):
                setattr(self.settings, name, value)


async def confirmed_voice_params(session_id: Any, preset_id: int | None) -> dict[str, Any]:
    """The session's voice parameters: those of the last set-params the avatar
    confirmed with them, else its preset's (read now: staff may have changed them since
    the session started). A preset's that the schema refuses (saved before it checked
    them) are not sent on."""
    acks = SessionEvent.objects.filter(
        session_id=session_id, data__has_keys=["ack", VOICE_PARAMS], data__code=ACK_OK
    )
    last = await acks.order_by("-created_at", "-id").values_list("data", flat=True).afirst()
    if last is not None:
        return last[VOICE_PARAMS]
    if preset_id is None:
        return {}
    presets = AvatarPreset.objects.filter(pk=preset_id)
    stored = await presets.values_list("voice_params", flat=True).afirst()
    return usable_voice_params(stored, preset_id=preset_id)


async def recent_acks(session_id: Any) -> list[Ack]:
    """The last acknowledged commands, oldest first (a reconnecting page's list)."""
    events = SessionEvent.objects.filter(session_id=session_id, data__has_key="ack")
    recent = [e.data async for e in events.order_by("-created_at", "-id")[:REPLAYED]]
    return [
        Ack(d["ack"], d["code"], d.get("msg", ""), d.get("params") or {}) for d in reversed(recent)
    ]
