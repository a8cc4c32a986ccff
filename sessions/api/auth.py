"""Who calls the API: a Bearer token or the site's cookie (with CSRF), resolved by
sessions.access like a socket's caller."""

from __future__ import annotations

from dataclasses import replace

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja.security.base import AuthBase
from ninja.utils import check_csrf

from sessions import errors
from sessions.access import (
    Caller,
    InvalidToken,
    Principal,
    anonymous_allowed,
    resolve,
    sessionless_visitor,
)


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
                    _("CSRF check failed: send the X-CSRFToken header with the csrftoken cookie."),
                )
            if not signed_in and caller.session_key is None:
                if not _starts_a_session(request):
                    # Nothing of theirs to find: no session row for a mere read.
                    return sessionless_visitor(caller)
                # An anonymous visitor is known by their Django session: its key now,
                # its row only once their avatar session is made (keep_visitor_session),
                # so a refused or malformed request leaves no row behind.
                request.session._session_key = request.session._get_new_session_key()
                setattr(request, _UNSAVED_VISITOR, True)
                caller = replace(caller, session_key=request.session.session_key)
        try:
            return resolve(caller)
        except InvalidToken as exc:
            raise errors.NotAuthenticated(
                "invalid_token", exc.say(_("The API token is invalid or revoked."))
            ) from None


_UNSAVED_VISITOR = "_avatarsite_unsaved_visitor_session"


async def keep_visitor_session(request: HttpRequest) -> None:
    """Save the Django session ApiAuth gave a new visitor (their avatar session was made,
    owned by its key); the middleware then sends its cookie."""
    if getattr(request, _UNSAVED_VISITOR, False):
        await request.session.asave(must_create=True)
        request.session.modified = True  # so the response carries the cookie


def _starts_a_session(request: HttpRequest) -> bool:
    """Only starting an avatar session makes an anonymous visitor need a Django session
    (their sessions are theirs by it); every other request can do without one."""
    match = request.resolver_match
    return request.method == "POST" and match is not None and match.url_name == "create_session"


def principal_of(request: HttpRequest) -> Principal:
    """The principal ApiAuth resolved for this request."""
    return request.auth  # type: ignore[attr-defined,return-value]
