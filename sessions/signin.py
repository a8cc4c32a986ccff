"""Sign-in throttling: failed sign-ins counted per client address, and per username at
that address, in fixed windows (SIGNIN_FAILURE_WINDOW seconds).

Only failures count, so people who type their password right are never slowed down. And
nothing counts per username alone: someone guessing the public demo account's password
from their address locks only themselves out, never the demo's users elsewhere. Both the
site's sign-in form and the admin's use these forms.
"""

from __future__ import annotations

import hashlib
import time

from asgiref.sync import async_to_sync
from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest

from sessions import keys, shared_cache
from sessions.access import client_ip

THROTTLED = "throttled"


def _windows(request: HttpRequest, username: str) -> list[tuple[str, int]]:
    """(counter key, limit) of each window this attempt counts in, now."""
    ip = client_ip(
        request.META.get("REMOTE_ADDR", ""), request.META.get("HTTP_X_FORWARDED_FOR", "")
    )
    # The username is the visitor's text: hashed, never part of a cache key as such.
    name = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    index = int(time.time() // settings.SIGNIN_FAILURE_WINDOW)
    return [
        (keys.limit_window("signin_ip", ip, index), settings.SIGNIN_FAILURES_PER_IP),
        (
            keys.limit_window("signin_user_ip", f"{name}:{ip}", index),
            settings.SIGNIN_FAILURES_PER_USER_IP,
        ),
    ]


def retry_after(request: HttpRequest, username: str) -> float:
    """Seconds until this sign-in may be tried again; 0 when it may be now."""
    for key, limit in _windows(request, username):
        if (async_to_sync(shared_cache.get)(key) or 0) >= limit:
            window = settings.SIGNIN_FAILURE_WINDOW
            return window - time.time() % window
    return 0.0


def count_failure(request: HttpRequest, username: str) -> None:
    for key, _ in _windows(request, username):
        async_to_sync(shared_cache.counter_add)(key, 1, timeout=settings.SIGNIN_FAILURE_WINDOW + 5)


class ThrottledSignIn(forms.Form):
    """An authentication form that refuses while too many sign-ins failed, and counts
    each wrong username or password (mixed in before Django's form)."""

    request: HttpRequest | None

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        if self.request is not None:
            wait = retry_after(self.request, username)
            if wait:
                minutes = int(wait // 60) + 1
                raise forms.ValidationError(
                    "Too many failed sign-ins from your address. "
                    f"Please try again in {minutes} minute(s).",
                    code=THROTTLED,
                )
        try:
            return super().clean()
        except forms.ValidationError as exc:
            if self.request is not None and exc.code == "invalid_login":
                count_failure(self.request, username)
            raise

    def throttled(self) -> bool:
        return any(e.code == THROTTLED for e in self.errors.as_data().get("__all__", []))


class SiteAuthenticationForm(ThrottledSignIn, AuthenticationForm):
    pass


class AdminSignInForm(ThrottledSignIn, AdminAuthenticationForm):
    pass
