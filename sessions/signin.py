"""Sign-in throttling: failed sign-ins counted per client address, and per username at
that address, in fixed windows (SIGNIN_FAILURE_WINDOW seconds). Each attempt is counted
before its password is checked and gives its count back unless the password was wrong.

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
from django.utils.translation import ngettext

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


def _take(windows: list[tuple[str, int]]) -> float:
    """Count this attempt in each window, then compare: seconds to wait if one is past its
    limit (the attempt given back: refused, it checked no password), else 0.

    Counted before the password is checked, atomically: parallel guesses each see the
    others in flight (checking first and counting after let 150 at once all pass).
    """
    counts = [
        async_to_sync(shared_cache.counter_add)(key, 1, timeout=settings.SIGNIN_FAILURE_WINDOW + 5)
        for key, _ in windows
    ]
    if all(count <= limit for count, (_, limit) in zip(counts, windows, strict=True)):
        return 0.0
    _give_back(windows)
    window = settings.SIGNIN_FAILURE_WINDOW
    return window - time.time() % window


def _give_back(windows: list[tuple[str, int]]) -> None:
    """Only failed passwords stay counted: a success or a refusal returns its count."""
    for key, _ in windows:
        try:
            async_to_sync(shared_cache.incr)(key, -1)
        except ValueError:  # the window is over: nothing left to give back
            pass


class ThrottledSignIn(forms.Form):
    """An authentication form that refuses while too many sign-ins failed, and counts
    each wrong username or password (mixed in before Django's form)."""

    request: HttpRequest | None

    def clean(self):
        if self.request is None:
            return super().clean()
        windows = _windows(self.request, self.cleaned_data.get("username") or "")
        wait = _take(windows)
        if wait:
            minutes = int(wait // 60) + 1
            raise forms.ValidationError(
                ngettext(
                    "Too many failed sign-ins from your address. "
                    "Please try again in %(minutes)d minute.",
                    "Too many failed sign-ins from your address. "
                    "Please try again in %(minutes)d minutes.",
                    minutes,
                )
                % {"minutes": minutes},
                code=THROTTLED,
            )
        failed = False
        try:
            return super().clean()
        except forms.ValidationError as exc:
            failed = exc.code == "invalid_login"
            raise
        finally:
            if not failed:
                _give_back(windows)

    def throttled(self) -> bool:
        return any(e.code == THROTTLED for e in self.errors.as_data().get("__all__", []))


class SiteAuthenticationForm(ThrottledSignIn, AuthenticationForm):
    pass


class AdminSignInForm(ThrottledSignIn, AdminAuthenticationForm):
    pass
