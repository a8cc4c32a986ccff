"""Issue 20 attacked: Extend is a new session of the same preset, so a website's visitor
may extend only while the key still offers that preset (staff took it off the key: the
live session runs to its end, and no follow-on starts it again)."""

from __future__ import annotations

import pytest

from tests.conftest import assert_error
from tests.embed.test_embed_limits import Visitor, key  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def extendable(world):
    world.preset.extend_allowed = True
    world.preset.save()
    return world.preset


def test_a_visitor_extends_while_the_key_offers_the_preset(key, extendable):  # noqa: F811
    visitor = Visitor(key)
    old = visitor.start(duration=120)
    assert old.status_code == 201, old.content
    response = visitor.post(f"/sessions/{old.json()['id']}/extend")
    assert response.status_code == 201, response.content


def test_a_preset_taken_off_the_key_is_not_extended(key, extendable, world):  # noqa: F811
    visitor = Visitor(key)
    old = visitor.start(duration=120)
    assert old.status_code == 201, old.content
    key.presets.remove(world.preset)
    refused = visitor.post(f"/sessions/{old.json()['id']}/extend")
    assert_error(refused, 403, "extend_not_allowed")
