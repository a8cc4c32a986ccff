"""Reading AKool's answers: the data object, list pages, sessions with their join
credentials (per network) and creation time, and catalog items.

AKool documents few field names, so each reader accepts the spellings seen in its answers
and raises UpstreamProtocolError only where a wrong guess would mislead a caller.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timezone
from typing import Any

from sessions.providers.base import (
    AgoraRtc,
    CatalogAvatar,
    CatalogLanguage,
    CatalogVoice,
    LiveKitRtc,
    RtcCredentials,
    TrtcRtc,
    UpstreamProtocolError,
    UpstreamSession,
)

# Where a session's creation time may be: AKool documents no name for it, so the usual
# spellings, first found wins (top level only).
CREATED_AT_KEYS = (
    "create_time",
    "createTime",
    "created_at",
    "createdAt",
    "create_at",
    "created",
    "start_time",
    "startTime",
    "gmt_create",
)
# A unix time above this is in milliseconds (1e11 seconds is the year 5138).
MILLISECONDS_ABOVE = 1e11
# A creation time outside these years is garbage, not a session of ours.
PLAUSIBLE_YEARS = (2001, 2100)
# Join credentials are stored in the session's row and sent to its page: each must be text
# a database stores and a page can use. Real ones are a few hundred characters (a LiveKit
# token, a TRTC signature under 1 KB); anything far longer is no credential.
CREDENTIAL_MAX_CHARS = 4096
CREDENTIAL_URL_MAX_CHARS = 2048
# A numeric id (Agora's uid, TRTC's app and room ids) reaches the page's JavaScript, whose
# numbers are exact up to 2**53 - 1 (Agora's uids and TRTC's ids are 32-bit).
CREDENTIAL_MAX_NUMBER = 2**53 - 1


def data_object(answer: dict[str, Any]) -> dict[str, Any]:
    data = answer.get("data")
    if not isinstance(data, dict):
        raise UpstreamProtocolError("AKool's answer carried no data.")
    return data


def result_list(answer: dict[str, Any]) -> list[Any]:
    """The items of one list page: `data.result` as documented, `data.list` or a bare list.

    The session list's field names are undocumented, so a page with a single list under
    another name is accepted too; guessing "empty" for a page that has items would make the
    reaper believe no session is live.
    """
    data = answer.get("data")
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        for key in ("result", "list"):
            if isinstance(data.get(key), list):
                return data[key]
        lists = [value for value in data.values() if isinstance(value, list)]
        if len(lists) == 1:
            return lists[0]
        # An empty page may come without its list, but not one that counts items.
        if not lists and not data.get("count") and not data.get("total"):
            return []
    raise UpstreamProtocolError("AKool's list answer carried no list.")


# -- sessions -------------------------------------------------------------------------------


def session_key(item: dict[str, Any]) -> str:
    return _text(item.get("_id", item.get("id")))


def parse_session(data: dict[str, Any], asked: str = "agora") -> UpstreamSession:
    """A session answer; its `rtc` on the network it names (else `asked`), if it fits."""
    session_id = session_key(data)
    if not session_id:
        raise UpstreamProtocolError("AKool's session answer carried no session id.")
    status = data.get("status", 1)
    if isinstance(status, str) and re.fullmatch(r"\s*[0-9]{1,3}\s*", status):
        status = int(status)  # ASCII digits only: "²".isdigit() is true, int("²") fails
    if not isinstance(status, int) or isinstance(status, bool):
        # A wrong guess here would make us treat an ended session as live or the reverse.
        raise UpstreamProtocolError("AKool's session answer carried no valid status.")
    return UpstreamSession(
        id=session_id,
        status=status,
        rtc=parse_rtc(data, session_network(data, asked)),
        created_at=_parse_created_at(data),
        raw=data,
    )


def _parse_created_at(data: dict[str, Any]) -> datetime | None:
    """The session's creation time (aware, UTC) from the first key that holds a readable one,
    else None: a wrong guess only costs the reaper a match, so this never raises."""
    for key in CREATED_AT_KEYS:
        moment = _parse_moment(data.get(key))
        if moment is not None:
            return moment
    return None


def _parse_moment(value: Any) -> datetime | None:
    """Unix seconds or milliseconds (numbers or numeric strings) or ISO-8601 (naive = UTC)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        if isinstance(value, str):
            text = value.strip()
            try:
                value = float(text)
            except ValueError:
                # Python 3.10's fromisoformat does not read "Z" (3.11's does).
                if text[-1:] in ("Z", "z"):
                    text = text[:-1] + "+00:00"
                moment = datetime.fromisoformat(text)
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=timezone.utc)
                return _plausible(moment.astimezone(timezone.utc))
        if not isinstance(value, int | float) or value != value:  # NaN is no time
            return None
        seconds = value / 1000 if value > MILLISECONDS_ABOVE else value
        return _plausible(datetime.fromtimestamp(seconds, tz=timezone.utc))
    except (ValueError, OverflowError, OSError):
        return None


def _plausible(moment: datetime) -> datetime | None:
    return moment if PLAUSIBLE_YEARS[0] <= moment.year < PLAUSIBLE_YEARS[1] else None


def session_network(data: dict[str, Any], asked: str = "agora") -> str:
    """The network a session answer says it streams on (`stream_type`), else the one asked
    for; may be a name we do not know (the caller refuses it)."""
    return _text(data.get("stream_type")) or asked


def parse_rtc(data: dict[str, Any], network: str) -> RtcCredentials | None:
    """The join fields of `network` from the answer's credentials, or None when they are
    missing or incomplete (or the network is not one we know)."""
    credentials = data.get("credentials")
    reader = _RTC_READERS.get(network)
    if not isinstance(credentials, dict) or reader is None:
        return None
    return reader(credentials)


def _agora(credentials: dict[str, Any]) -> AgoraRtc | None:
    app_id = _credential(credentials.get("agora_app_id"))
    channel = _credential(credentials.get("agora_channel"))
    token = _credential(credentials.get("agora_token"))
    uid = _id_value(credentials.get("agora_uid"))
    if not (app_id and channel and token) or uid is None:
        return None
    return AgoraRtc(app_id=app_id, channel=channel, token=token, uid=uid)


def _livekit(credentials: dict[str, Any]) -> LiveKitRtc | None:
    url = _credential(credentials.get("livekit_url"), CREDENTIAL_URL_MAX_CHARS)
    token = _credential(credentials.get("livekit_token"))
    names = [
        _credential(credentials.get(key))
        for key in ("livekit_room_name", "livekit_client_identity", "livekit_server_identity")
    ]
    # The page connects to this URL: a secure websocket (or https) server, nothing else.
    if not token or None in names or not (url or "").lower().startswith(("wss://", "https://")):
        return None
    room, identity, avatar_identity = (name or "" for name in names)
    return LiveKitRtc(
        url=url or "", token=token, room=room, identity=identity, avatar_identity=avatar_identity
    )


def _trtc(credentials: dict[str, Any]) -> TrtcRtc | None:
    # AKool's docs spell them trtc_sdk_*, its official demo reads trtc_*: either will do.
    def field(name: str) -> Any:
        value = credentials.get(f"trtc_sdk_{name}")
        return credentials.get(f"trtc_{name}") if value in (None, "") else value

    app_id, room = _id_value(field("app_id")), _id_value(field("room_id"))
    user_id, user_sig = _credential(field("user_id")), _credential(field("user_sig"))
    if app_id is None or room is None or not (user_id and user_sig):
        return None
    return TrtcRtc(app_id=app_id, room=room, user_id=user_id, user_sig=user_sig)


_RTC_READERS = {"agora": _agora, "livekit": _livekit, "trtc": _trtc}


def _id_value(value: Any) -> int | str | None:
    """A numeric or text id as given (Agora's uid, TRTC's app and room ids), else None
    (missing or unusable)."""
    if isinstance(value, bool) or value in (None, ""):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= CREDENTIAL_MAX_NUMBER else None
    return _credential(value) or None


def _credential(value: Any, limit: int = CREDENTIAL_MAX_CHARS) -> str | None:
    """A credential's text ("" when missing), or None when it is unusable: longer than
    `limit`, or holding a control character (a NUL, which PostgreSQL cannot store, and any
    other the page has no use for) or a lone surrogate (which UTF-8 cannot encode)."""
    text = _text(value)
    if len(text) > limit or any(unicodedata.category(char) in ("Cc", "Cs") for char in text):
        return None
    return text


# -- catalog --------------------------------------------------------------------------------


def avatar_key(item: dict[str, Any]) -> str:
    return _text(item.get("avatar_id"))


def parse_avatar(item: dict[str, Any]) -> CatalogAvatar:
    return CatalogAvatar(
        avatar_id=_text(item.get("avatar_id")),
        name=_text(item.get("name")) or _text(item.get("avatar_id")),
        thumbnail_url=_text(item.get("thumbnailUrl")) or _text(item.get("url")),
        voice_id=_text(item.get("voice_id")),
        gender=_text(item.get("gender")),
        available=_flag(item.get("available"), default=True),
    )


def voice_key(item: dict[str, Any]) -> str:
    return _text(item.get("voice_id"))


def parse_voice(item: dict[str, Any]) -> CatalogVoice:
    return CatalogVoice(
        voice_id=_text(item.get("voice_id")),
        name=_text(item.get("name")) or _text(item.get("voice_id")),
        language=_text(item.get("language")) or _text(item.get("locale")),
        gender=_text(item.get("gender")),
        preview_url=_text(item.get("preview")),
    )


def parse_languages(answer: dict[str, Any]) -> list[CatalogLanguage]:
    data = answer.get("data")
    raw = data.get("lang_list", data.get("result")) if isinstance(data, dict) else data
    if not isinstance(raw, list):
        raise UpstreamProtocolError("AKool's language list had no list of languages.")
    languages = []
    for item in raw:
        if isinstance(item, dict) and _text(item.get("lang_code")):
            code = _text(item.get("lang_code"))
            languages.append(CatalogLanguage(code=code, name=_text(item.get("lang_name")) or code))
    return languages


# -- values ---------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value).strip()


def _flag(value: Any, *, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "false", "no")
    return bool(value)
