"""Attack finding 5 on issue 15: the sign-in throttle raced. The limit was checked before
the password hash and counted after it, so guesses sent at once all passed the check
(150 in parallel: 41 passwords checked against limits of 5 and 30). Each attempt now
counts before its check."""

from __future__ import annotations

import threading
import time

import pytest
from django.contrib.auth import forms as auth_forms
from django.test import Client

pytestmark = pytest.mark.django_db(transaction=True)

GUESSES = 24


def _race(monkeypatch, *, user_of, right: set[int] = frozenset()) -> tuple[int, list[int]]:
    """GUESSES sign-ins from one address, each in its own thread through the real view;
    every password check waits until no attempt is still on its way to one (the widest
    race: all guesses in flight at once). Returns (passwords checked, status codes)."""
    lock = threading.Lock()
    release = threading.Event()
    checked = [0]
    finished = [0]

    def slow_check(request, username=None, password=None, **kwargs):
        with lock:
            checked[0] += 1
        release.wait(10)  # the slow password hash, held open for the race
        return None  # every password wrong (a right one is not needed to race)

    monkeypatch.setattr(auth_forms, "authenticate", slow_check)
    codes = [0] * GUESSES

    def guess(i: int) -> None:
        client = Client(REMOTE_ADDR="203.0.113.9")
        codes[i] = client.post(
            "/accounts/login/", {"username": user_of(i), "password": f"guess{i}"}
        ).status_code
        with lock:
            finished[0] += 1

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(GUESSES)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with lock:
            if checked[0] + finished[0] >= GUESSES:
                break
        time.sleep(0.01)
    release.set()
    for thread in threads:
        thread.join(10)
    return checked[0], codes


def test_parallel_guesses_at_one_account_check_no_more_than_its_limit(settings, monkeypatch):
    settings.SIGNIN_FAILURES_PER_USER_IP = 5
    settings.SIGNIN_FAILURES_PER_IP = 30

    checked, codes = _race(monkeypatch, user_of=lambda i: "alice")

    assert checked == 5
    assert sorted(codes) == [200] * 5 + [429] * (GUESSES - 5)


def test_parallel_guesses_at_many_accounts_check_no_more_than_the_address_limit(
    settings, monkeypatch
):
    settings.SIGNIN_FAILURES_PER_USER_IP = 5
    settings.SIGNIN_FAILURES_PER_IP = 7

    checked, codes = _race(monkeypatch, user_of=lambda i: f"user{i}")

    assert checked == 7
    assert codes.count(429) == GUESSES - 7
