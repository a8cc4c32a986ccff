"""Sign-in throttling (issue 15, hardening): failed sign-ins are limited per address and
per username at an address; a right password never counts, and someone guessing from
another address cannot lock an account (the public demo's) for everyone."""

from __future__ import annotations

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def sign_in(
    password: str, *, ip: str = "203.0.113.5", user: str = "alice", path: str = "/accounts/login/"
):
    client = Client(REMOTE_ADDR=ip)
    return client.post(path, {"username": user, "password": password})


@pytest.fixture
def limits(settings, world):
    settings.SIGNIN_FAILURES_PER_USER_IP = 3
    settings.SIGNIN_FAILURES_PER_IP = 6
    settings.SIGNIN_FAILURE_WINDOW = 900


def test_guessing_one_accounts_password_is_stopped_at_that_address_only(limits):
    for _ in range(3):
        assert sign_in("guess").status_code == 200  # the usual "incorrect" form error
    refused = sign_in("alice-pw-123")  # even the right password, from there, now
    assert refused.status_code == 429
    assert "Too many failed sign-ins" in refused.content.decode()
    assert re.search(r"try again in (1 minute|\d+ minutes)\.", refused.content.decode())
    # The account's owner elsewhere signs in as usual.
    assert sign_in("alice-pw-123", ip="198.51.100.7").status_code == 302
    # Another account from the guessing address still may (until the address's cap).
    assert sign_in("bob-pw-123", user="bob").status_code == 302


def test_right_passwords_never_count(limits):
    for _ in range(20):
        assert sign_in("alice-pw-123").status_code == 302


def test_an_address_trying_many_usernames_is_stopped(limits):
    for n in range(6):
        assert sign_in("guess", user=f"user{n}").status_code == 200
    assert sign_in("bob-pw-123", user="bob").status_code == 429


def test_the_window_ends(limits, settings, monkeypatch):
    import types

    import sessions.signin as signin

    now = [1_800_000_000.0]
    monkeypatch.setattr(signin, "time", types.SimpleNamespace(time=lambda: now[0]))
    for _ in range(3):
        sign_in("guess")
    assert sign_in("alice-pw-123").status_code == 429
    now[0] += settings.SIGNIN_FAILURE_WINDOW
    assert sign_in("alice-pw-123").status_code == 302


def test_the_admin_sign_in_is_throttled_too(limits, world):
    for _ in range(3):
        assert sign_in("guess", user="staff", path="/admin/login/").status_code == 200
    refused = sign_in("staff-pw-123", user="staff", path="/admin/login/")
    assert "Too many failed sign-ins" in refused.content.decode()
    assert "_auth_user_id" not in refused.wsgi_request.session
