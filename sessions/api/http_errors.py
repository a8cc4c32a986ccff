"""Domain errors as HTTP: one status per kind, one JSON shape for every error:
{"error": {"code": "...", "message": "..."}} (and Retry-After for limits)."""

from __future__ import annotations

import math

from django.http import JsonResponse
from ninja import Schema

from sessions import errors
from sessions.api.schemas import ErrorOut

STATUS: dict[type[errors.DomainError], int] = {
    errors.BadInput: 400,
    errors.NotAuthenticated: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.Gone: 410,
    errors.TooLarge: 413,
    errors.Invalid: 422,
    errors.LimitExceeded: 429,
    errors.Unavailable: 503,
}
UPSTREAM_STATUS = {"refused": 502, "bad_response": 502, "unavailable": 503, "timeout": 504}

# What an operation's OpenAPI entry declares (error_map): only what it can answer.
# Every operation: no or a bad credential (401), a failure of ours (500, sessions/api
# `_unexpected`), the database busy or down (503, `_database_unavailable`).
ANY_OPERATION = (401, 500, 503)
# An operation that reads a JSON body: not JSON (400), over API_MAX_BODY_BYTES (413, the
# api_guard middleware), not valid (422); and, signed in by cookie, no CSRF token (403).
TAKES_BODY = (400, 403, 413, 422)
# An operation on one session (its id in the path): no such session of the caller's (404),
# an id that is not a UUID (422).
ONE_SESSION = (404, 422)
# An operation that calls the avatar service: refused or a bad answer, down, timed out.
CALLS_UPSTREAM = tuple(sorted(set(UPSTREAM_STATUS.values())))


def error_map(*statuses: int) -> dict[int, type[Schema]]:
    """An operation's error responses (`response=` of its route): ANY_OPERATION and the
    `statuses` it names, each in the one error shape. A status nothing here answers is a
    mistake in the declaration, refused when the module loads."""
    known = {*STATUS.values(), *UPSTREAM_STATUS.values(), *ANY_OPERATION, *TAKES_BODY}
    unknown = sorted(set(statuses) - known)
    if unknown:
        raise ValueError(f"No error of the API answers {unknown}.")
    return {status: ErrorOut for status in sorted({*ANY_OPERATION, *statuses})}


def status_of(exc: errors.DomainError) -> int:
    if isinstance(exc, errors.UpstreamFailed):
        return UPSTREAM_STATUS.get(exc.kind, 502)
    for kind in type(exc).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 400


def error_response(
    status: int, code: str, message: str, *, retry_after: float | None = None
) -> JsonResponse:
    response = JsonResponse({"error": {"code": code, "message": message}}, status=status)
    if retry_after is not None:
        response["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return response


def domain_error_response(exc: errors.DomainError) -> JsonResponse:
    return error_response(status_of(exc), exc.code, exc.message, retry_after=exc.retry_after)
