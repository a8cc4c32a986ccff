"""Domain errors as HTTP: one status per kind, one JSON shape for every error:
{"error": {"code": "...", "message": "..."}} (and Retry-After for limits)."""

from __future__ import annotations

import math

from django.http import JsonResponse

from sessions import errors

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
