"""The sandbox avatar's check of a set-params payload (its values, not who sent it)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

_MAX_SHORT = 200
_MAX_URL = 2048


def _is_short_str(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= _MAX_SHORT


def _is_http_url(value: Any) -> bool:
    if not isinstance(value, str) or len(value) > _MAX_URL:
        return False
    if value == "":
        return True  # empty means "no change", as the sender leaves empty values out
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def validate_params(data: dict[str, Any]) -> list[str]:
    """What is wrong with a set-params payload; unknown keys are accepted and kept, since
    AKool adds parameters over time."""
    errors = []
    for key in ("vid", "lang"):
        if key in data and not _is_short_str(data[key]):
            errors.append(f"{key} must be a string of at most {_MAX_SHORT} characters")
    for key in ("bgurl", "vurl"):
        if key in data and not _is_http_url(data[key]):
            errors.append(f"{key} must be an http(s) URL of at most {_MAX_URL} characters")
    if "mode" in data and not (type(data["mode"]) is int and data["mode"] in (1, 2)):
        errors.append("mode must be 1 or 2")
    if "vparams" in data and not isinstance(data["vparams"], dict):
        errors.append("vparams must be an object")
    return errors
