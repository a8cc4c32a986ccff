"""One error shape everywhere: {"error": {"code": "...", "message": "..."}}."""

from __future__ import annotations

import math

from django.http import JsonResponse


class ApiError(Exception):
    """An error meant for the client, with its HTTP status and snake_case code."""

    def __init__(
        self, status: int, code: str, message: str, *, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


class LimitExceeded(ApiError):
    """A limit was hit: 429 over HTTP, an `error` frame on a socket."""

    def __init__(self, code: str, message: str, *, retry_after: float) -> None:
        super().__init__(429, code, message, retry_after=max(1, math.ceil(retry_after)))


def error_body(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


def error_response(
    status: int, code: str, message: str, *, retry_after: float | None = None
) -> JsonResponse:
    response = JsonResponse(error_body(code, message), status=status)
    if retry_after is not None:
        response["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return response


def api_error_response(exc: ApiError) -> JsonResponse:
    return error_response(exc.status, exc.code, exc.message, retry_after=exc.retry_after)
