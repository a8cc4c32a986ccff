"""Domain errors: what went wrong and what to do, in words for a person, with no
transport attached. The edges map them: `api/errors.py` to an HTTP status and the one
JSON error shape, `realtime/` to an `error` frame on the socket."""

from __future__ import annotations

import math


class DomainError(Exception):
    """A refusal meant for the caller: a snake_case `code` and a `message` for a person."""

    def __init__(self, code: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after


class BadInput(DomainError):
    """Malformed: not JSON, not an object, a wrong type."""


class NotAuthenticated(DomainError):
    """No valid credentials."""


class Forbidden(DomainError):
    """Known caller, not allowed."""


class NotFound(DomainError):
    """No such thing, or not the caller's: ids leak nothing."""


class Conflict(DomainError):
    """Not now: the thing is in a state that refuses it."""


class Gone(DomainError):
    """Over: e.g. the session's time is up."""


class TooLarge(DomainError):
    """Over a size limit."""


class Invalid(DomainError):
    """Well-formed, but a value is not acceptable (an unknown voice, a bad URL)."""


class LimitExceeded(DomainError):
    """A rate or quota was hit; `retry_after` says when to try again (whole seconds)."""

    def __init__(self, code: str, message: str, *, retry_after: float) -> None:
        super().__init__(code, message, retry_after=max(1, math.ceil(retry_after)))


class Unavailable(DomainError):
    """Our side cannot serve it right now (the database, a failure while starting)."""


class UpstreamFailed(DomainError):
    """The avatar service refused, failed, or did not answer. `kind` is one of
    "refused", "bad_response", "unavailable", "timeout"."""

    def __init__(self, code: str, message: str, *, kind: str) -> None:
        super().__init__(code, message)
        self.kind = kind
