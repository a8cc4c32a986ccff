"""What the service tests share: the own-LLM preset of the spoken-question tests (a
module with a `guide` of its own, e.g. with tools or a knowledge base, overrides it)."""

from __future__ import annotations

import pytest

from sessions.models import AvatarPreset


@pytest.fixture
def guide(world):
    return AvatarPreset.objects.create(
        slug="guide",
        name="Guide",
        avatar_id="sandbox_ada",
        use_llm=True,
        system_prompt="You are the museum's guide.",
        hear_quiet_ms=150,
        barge_in_min_chars=4,
    )
