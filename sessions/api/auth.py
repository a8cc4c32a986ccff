"""Who calls the API: a Bearer token or the site's cookie (with CSRF), resolved by
sessions.access like a socket's caller."""

from __future__ import annotations

from dataclasses import replace

from django.http import HttpRequest
from ninja.security.base import AuthBase
from ninja.utils import check_csrf

from sessions import errors
from sessions.access import Caller, InvalidToken, Principal, anonymous_allowed, resolve


class ApiAuth(AuthBase):
    """Bearer API token, or the site's session cookie (with CSRF on unsafe methods).

    Sync on purpose: ninja runs it in a thread for async views, where the ORM and the
    lazy `request.user` are safe to touch.
    """

    openapi_type = "http"
    openapi_scheme = "bearer"

    def __call__(self, request: HttpRequest) -> Principal | None:
        caller = Caller.from_request(request)
        if caller.authorization is None:
            signed_in = request.user.is_authenticated
            if not signed_in and not anonymous_allowed():
                return None
            if request.method not in ("GET", "HEAD", "OPTIONS") and check_csrf(request):
                raise errors.Forbidden(
                    "csrf_failed",
                    "CSRF check failed: send the X-CSRFToken header with the csrftoken cookie.",
                )
            if not signed_in and caller.session_key is None:
                # An anonymous visitor is known by their Django session: start one.
                request.session.save()
                caller = replace(caller, session_key=request.session.session_key)
        try:
            return resolve(caller)
        except InvalidToken:
            raise errors.NotAuthenticated(
                "invalid_token", "The API token is invalid or revoked."
            ) from None


def principal_of(request: HttpRequest) -> Principal:
    """The principal ApiAuth resolved for this request."""
    return request.auth  # type: ignore[attr-defined,return-value]
