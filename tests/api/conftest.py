"""Fixtures of the API tests."""

from __future__ import annotations

import pytest

from tests.conftest import Api


@pytest.fixture
def staff_api(world) -> Api:
    return Api(user=world.staff)
