"""The API's request and response schemas (pydantic, through django-ninja): they validate
requests and generate the OpenAPI document. `SessionParams` is shared with the session
socket's set_params, so the API and the socket accept exactly the same settings;
`VoiceParams` is the one rule for voice parameters (set_params' and a preset's)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from ninja import Schema
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticError

from sessions.models import CloseReason
from sessions.networks import NETWORKS
from sessions.services import catalog
from sessions.stream.codec import encode, encoded_size, is_storable

Network = Literal[tuple(NETWORKS)]  # type: ignore[valid-type]


class ErrorDetail(Schema):
    code: str
    message: str


class ErrorOut(Schema):
    error: ErrorDetail


# The join fields of each network (DESIGN.md "Transports"), told apart by `provider`.
class AgoraRtcOut(Schema):
    provider: Literal["agora"]
    app_id: str
    channel: str
    token: str
    uid: int | str


class LiveKitRtcOut(Schema):
    provider: Literal["livekit"]
    url: str
    token: str
    room: str
    identity: str
    avatar_identity: str  # the participant that is the avatar


class TrtcRtcOut(Schema):
    provider: Literal["trtc"]
    app_id: int | str
    room: int | str
    user_id: str
    user_sig: str


class SandboxRtcOut(Schema):
    provider: Literal["sandbox"]
    channel: str
    token: str
    uid: int | str
    network: Network  # the network whose page and limits the sandbox plays


RtcOut = Annotated[
    AgoraRtcOut | LiveKitRtcOut | TrtcRtcOut | SandboxRtcOut, Field(discriminator="provider")
]


class SessionOut(Schema):
    id: uuid.UUID
    status: Literal["starting", "active", "closing", "closed", "failed"]
    preset: str
    avatar_id: str
    voice_id: str
    language: str
    mode: int
    duration: int
    created_at: datetime
    started_at: datetime | None
    expires_at: datetime | None
    closed_at: datetime | None
    close_reason: Literal[tuple(CloseReason.values)] | None  # type: ignore[valid-type]
    error: str | None
    background_url: str
    ws_path: str
    rtc: RtcOut | None
    # The network it streams on, and those it may still move to when the page cannot join
    # it (POST .../fallback): the other networks of AKOOL_NETWORKS; none after a fallback
    # or while one runs.
    network: Network | None
    fallback_networks: list[Network]
    # A page of the owner has this live session's socket open now (any tab or device):
    # the page asks before joining a session another page holds.
    connected: bool = False


class SessionPage(Schema):
    items: list[SessionOut]
    count: int
    page: int
    pages: int


def _integral(value: Any) -> Any:
    """JSON has one number type: 600.0 is the integer 600, but true and "600" are not."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("must be a whole number")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be a whole number")
        return int(value)
    return value


def integral(low: int, high: int) -> Any:
    # The bounds go on the int itself, before the validator wraps it, so the schema says
    # minimum/maximum.
    return Annotated[int, Field(ge=low, le=high), BeforeValidator(_integral)]


# The active provider's languages (read at start-up, as the provider is): what the page
# offers, the API and the socket accept, and the OpenAPI document lists are one list.
Language = Literal[tuple(lang["code"] for lang in catalog.languages())]  # type: ignore[valid-type]
# A voice preset's slug (or id); an empty or unknown one is voice_not_found, on the API
# and the socket alike.
Voice = Annotated[str, Field(max_length=200)]
Mode = integral(1, 2)
_http_url = URLValidator(schemes=["http", "https"])


def _background_url(value: str) -> str:
    if value:  # empty: the preset's own background
        try:
            _http_url(value)
        except DjangoValidationError:
            raise ValueError("must be an http(s) URL") from None
    return value


BackgroundUrl = Annotated[str, Field(max_length=1000), AfterValidator(_background_url)]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


# Voice parameters travel in set-params, one data-stream message of at most 1,024 bytes,
# beside the voice id, the other settings and the envelope: they get at most this much.
VOICE_PARAMS_MAX_BYTES = 600
PRON_MAP_MAX_WORDS = 20
Word = Annotated[str, Field(min_length=1, max_length=40), AfterValidator(_not_blank)]
Pronunciation = Annotated[str, Field(min_length=1, max_length=80), AfterValidator(_not_blank)]
Speed = Annotated[float, Field(ge=0.5, le=2.0, strict=True, allow_inf_nan=False)]


class TurnDetection(Schema):
    """When the speech recogniser decides the user has finished speaking."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["server_vad"] = "server_vad"
    threshold: Annotated[float, Field(ge=0, le=1, strict=True, allow_inf_nan=False)] = None  # type: ignore[assignment]
    prefix_padding_ms: integral(0, 2000) = None  # type: ignore[valid-type,assignment]
    silence_duration_ms: integral(100, 5000) = None  # type: ignore[valid-type,assignment]


class VoiceParams(Schema):
    """Voice parameters (AKool's create `voice_params` and set-params `vparams`), as a
    preset holds them and as the socket's set_params changes them. A key left out is
    left alone; null is not a value. `elevenlabs_settings` is refused: it can carry an
    ElevenLabs key, and set-params messages pass through the page."""

    model_config = ConfigDict(extra="forbid")

    speed: Speed = None  # type: ignore[assignment]
    # word -> how to say it, e.g. {"akool": "ai ku er"}
    pron_map: Annotated[dict[Word, Pronunciation], Field(max_length=PRON_MAP_MAX_WORDS)] = None  # type: ignore[assignment]
    stt_type: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,40}$")] = None  # type: ignore[assignment]
    turn_detection: TurnDetection = None  # type: ignore[assignment]

    @model_validator(mode="after")
    def _fits_in_a_message(self) -> VoiceParams:
        size = encoded_size(encode(self.as_data()))
        if size > VOICE_PARAMS_MAX_BYTES:
            raise ValueError(
                f"the voice parameters take {size} bytes of JSON; at most"
                f" {VOICE_PARAMS_MAX_BYTES} fit in one set-params message"
            )
        return self

    def as_data(self) -> dict[str, Any]:
        """As sent to AKool: the fields given (and turn detection's type)."""
        return self.model_dump(exclude_none=True)


def voice_params_problems(exc: PydanticError, prefix: str = "") -> list[str]:
    """What is wrong, one line per error, naming the field ("speed: ...", or with a
    prefix "voice_params.speed: ..."); a pron_map word is never quoted ("a word")."""
    problems = []
    for error in exc.errors():
        parts = [str(part) for part in error["loc"] if part != "voice_params"]
        if parts[:1] == ["pron_map"] and len(parts) > 1:
            parts = ["pron_map (a word)" if parts[-1] == "[key]" else "pron_map (a pronunciation)"]
        where = ".".join([prefix, *parts] if prefix else parts)
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        problems.append(f"{where}: {message}" if where else message)
    return problems


class SessionParams(Schema):
    """What a running session may change: the socket's `set_params` (validated with this
    very schema, so the API and the socket accept the same values). A key left out is
    left alone; null is not a value."""

    model_config = ConfigDict(extra="forbid")

    voice: Voice = None  # type: ignore[assignment]
    language: Language = None  # type: ignore[assignment]
    mode: Mode = None  # type: ignore[valid-type,assignment]
    background_url: BackgroundUrl = None  # type: ignore[assignment]
    voice_params: VoiceParams = None  # type: ignore[assignment]


class CreateSessionIn(Schema):
    model_config = ConfigDict(extra="forbid")

    preset: Annotated[str, Field(min_length=1, max_length=50)]
    voice: Voice | None = None
    language: Language | None = None
    mode: Mode | None = None  # type: ignore[valid-type]
    # Bounds as configured at start-up (the view checks the live setting again).
    duration: integral(settings.SESSION_MIN_DURATION, settings.SESSION_MAX_DURATION) | None = None  # type: ignore[valid-type]
    # The recording notice was accepted (a preset with `consent_required` needs it).
    consent: Annotated[bool, Field(strict=True)] = False


def _storable(value: str) -> str:
    # Recorded in the session's events: PostgreSQL stores no NUL, and no database a lone
    # surrogate (accepted, either failed the close with a 500).
    if not is_storable(value):
        raise ValueError("must not hold a NUL or a lone surrogate")
    return value


class ExtendSessionIn(Schema):
    """Optional: the recording notice was accepted (a preset that requires it now needs it
    for the follow-on too, even if it did not when the session started)."""

    model_config = ConfigDict(extra="forbid")

    consent: Annotated[bool, Field(strict=True)] = False


class CloseSessionIn(Schema):
    """Why the owner ends the session: by choice ("user", the default) or because it
    failed on their side ("error", e.g. the video channel could not be joined)."""

    model_config = ConfigDict(extra="forbid")

    reason: Literal["user", "error"] = "user"
    detail: Annotated[
        str,
        # The schema says it too (no NUL); the validator says why, in words.
        Field(max_length=300, json_schema_extra={"pattern": "^[^\\u0000]*$"}),
        AfterValidator(_storable),
    ] = ""


class FallbackIn(Schema):
    """Optional: the network to move to (default: the first of `fallback_networks`)."""

    model_config = ConfigDict(extra="forbid")

    # Checked by the service (400 `unknown_network`), so a wrong name gets words of ours.
    network: Annotated[str, Field(max_length=40)] | None = None


class AvatarPresetOut(Schema):
    slug: str
    name: str
    avatar_id: str
    thumbnail_url: str
    default_voice: str | None
    language: str
    mode: int
    background_url: str
    use_llm: bool
    consent_required: bool  # the recording notice must be ticked (`consent: true`)
    extend_allowed: bool  # a live session may go on in a follow-on (POST .../extend)
    # The modes a session of it may use: [1] alone for a preset whose own assistant's
    # answers are checked (declined topics, moderation): dialogue would skip the checks.
    modes: list[int]
    # In the sandbox only, the page may hear through the browser's own speech recognition
    # (which sends the audio to the browser's vendor): the preset's opt-in, off by default.
    browser_speech: bool


class VoicePresetOut(Schema):
    slug: str
    name: str
    # Empty for a cloned voice: AKool gets its URL (kept on the server) instead.
    voice_id: str = Field(description="AKool's voice id; empty for a cloned voice (by URL).")
    language: str
    gender: str
    preview_url: str


class LanguageOut(Schema):
    code: str
    name: str


class PresetsOut(Schema):
    avatars: list[AvatarPresetOut]
    voices: list[VoicePresetOut]
    languages: list[LanguageOut]


class TranscriptLine(Schema):
    role: Literal["user", "avatar"]
    mid: str
    text: str
    at: datetime
    cut: bool  # the avatar was cut short (an interrupt, the end of the time, a reload)
    # Of our LLM's answer cut short: what went out but the avatar never said (`text` is
    # what it said).
    unspoken: str = ""


class TranscriptOut(Schema):
    messages: list[TranscriptLine]


class EmbedTokenOut(Schema):
    """A renewed embed visitor token (POST /embed/token): the same visitor, a new expiry."""

    token: str
    expires_in: int = Field(description="Seconds until it expires; renew before then.")
