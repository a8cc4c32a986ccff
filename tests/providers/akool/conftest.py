"""The fake AKool server, fresh for each test that asks for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fakes.akool_server import FakeAkool


@pytest.fixture
def fake() -> Iterator[FakeAkool]:
    with FakeAkool() as server:
        yield server
