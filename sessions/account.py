"""A user's own account: its page, deleting it with its data, and asking for a
password reset mail (throttled).

Deleting an account closes its live sessions, deletes every transcript (with the event
details, sessions/services/retention.py), deletes its API tokens, and signs it out. The
session rows stay for the staff's usage figures, owned by nobody and counted under one
marker that names nobody (keys.deleted_principal), so the counts per principal hold.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from typing import Any

from asgiref.sync import async_to_sync
from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model, logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import PasswordResetView
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_http_methods

from sessions import keys
from sessions.access import client_ip, user_principal
from sessions.models import AvatarSession, CloseReason, Status
from sessions.services import lifecycle, limits, retention, staff_actions

log = logging.getLogger("avatarsite.account")


class ThrottledPasswordResetView(PasswordResetView):
    """Django's reset view, with its mails counted per client address and per email
    address (PASSWORD_RESETS_PER_HOUR each): past either, the form says when to retry."""

    email_template_name = "registration/password_reset_email.txt"

    def form_valid(self, form: Any) -> HttpResponse:
        ip = client_ip(
            self.request.META.get("REMOTE_ADDR", ""),
            self.request.META.get("HTTP_X_FORWARDED_FOR", ""),
        )
        # The address is the visitor's text: hashed, never part of a cache key as such.
        email = hashlib.sha256(form.cleaned_data["email"].strip().lower().encode()).hexdigest()
        try:
            for who in (f"ip:{ip}", f"email:{email[:32]}"):
                async_to_sync(limits.hit_window)(
                    "password_reset", who, settings.PASSWORD_RESETS_PER_HOUR, 3600, "reset mails"
                )
        except limits.Refusal as refusal:
            minutes = int(refusal.retry_after // 60) + 1
            form.add_error(
                None,
                ngettext(
                    "Too many password reset requests. Please try again in %(minutes)d minute.",
                    "Too many password reset requests. Please try again in %(minutes)d minutes.",
                    minutes,
                )
                % {"minutes": minutes},
            )
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().form_valid(form)


class ConfirmWithPassword(forms.Form):
    password = forms.CharField(
        label=gettext_lazy("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autofocus": True}),
    )

    def __init__(self, user: Any, *args: Any, **kwargs: Any) -> None:
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError(
                _("That is not your password. Your account was not deleted."), code="wrong_password"
            )
        return password


@login_required
def account(request: HttpRequest) -> HttpResponse:
    return render(request, "account.html")


def delete_account_data(user: Any) -> str:
    """Close the user's live sessions, delete their words and tokens, and leave their
    session rows to nobody. Returns the marker their rows are now counted under."""
    # Deactivated first: every socket of theirs closes at once (sessions/services/
    # revocation.py), so nothing writes while the data goes.
    user.is_active = False
    user.save(update_fields=["is_active"])
    mine = AvatarSession.objects.owned_by(user_principal(user))
    for pk in mine.filter(status__in=(Status.STARTING, Status.ACTIVE)).values_list("pk", flat=True):
        async_to_sync(lifecycle.close_quietly)(pk, CloseReason.USER)
    ids = list(mine.values_list("pk", flat=True))
    retention.delete_transcripts(ids, "the account was deleted")
    marker = keys.deleted_principal(secrets.token_hex(8))
    with transaction.atomic():
        AvatarSession.objects.filter(pk__in=ids).update(
            owner=None, principal=marker, visitor_key=""
        )
        user.api_tokens.all().delete()
        staff_actions.forget_user(user.pk)
        user.delete()
    return marker


@login_required
@require_http_methods(["GET", "POST"])
def delete_account(request: HttpRequest) -> HttpResponse:
    """Asks for the password; with it, deletes the account and signs out."""
    form = ConfirmWithPassword(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = get_user_model().objects.get(pk=request.user.pk)
        logout(request)  # this sign-in ends first: its sockets close with it
        marker = delete_account_data(user)
        log.info("account deleted; its sessions are now counted as %s", marker)
        return render(request, "account_deleted.html")
    status = 400 if form.errors else 200
    return render(request, "account_delete.html", {"form": form}, status=status)
