"""The fake OpenAI-compatible server, fresh for each test that asks for it."""

from __future__ import annotations

import pytest

from tests.support.fakes.llm_server import FakeLlm


@pytest.fixture
def fake():
    with FakeLlm() as server:
        yield server
