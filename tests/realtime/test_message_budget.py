"""The per-socket message budget (WS_MESSAGES_PER_10S): its window, and which of its
refusals is worth a record."""

from __future__ import annotations

import pytest

from sessions import errors
from sessions.services.limits import MessageBudget


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def refusals(budget: MessageBudget, messages: int) -> list[bool]:
    """For each refused message, whether it was its window's first refusal."""
    firsts = []
    for _ in range(messages):
        try:
            budget.spend()
        except errors.LimitExceeded as exc:
            assert exc.code == MessageBudget.CODE
            firsts.append(budget.first_refusal)
    return firsts


def test_only_the_first_refusal_of_a_window_is_the_first(settings):
    settings.WS_MESSAGES_PER_10S = 3
    clock = Clock()
    budget = MessageBudget(clock)
    assert refusals(budget, 3) == [] and not budget.first_refusal
    assert refusals(budget, 4) == [True, False, False, False]
    clock.now += MessageBudget.WINDOW - 0.1
    assert refusals(budget, 2) == [False, False]
    clock.now += 0.1  # a new window: three more, then a first refusal again
    assert refusals(budget, 5) == [True, False]


def test_a_refusal_says_when_the_window_ends(settings):
    settings.WS_MESSAGES_PER_10S = 1
    clock = Clock()
    budget = MessageBudget(clock)
    budget.spend()
    clock.now += 2.5
    with pytest.raises(errors.LimitExceeded) as refused:
        budget.spend()
    assert refused.value.retry_after == 8
