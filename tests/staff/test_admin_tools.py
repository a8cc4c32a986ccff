"""A preset's tools in the admin: checked on save, the secret write-only (never on a page,
in the history, a filter or a search); each call shown on the session's page."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry

from sessions.services import tool_urls
from sessions.tool_models import PresetTool, ToolCall
from tests.staff.helpers import SESSIONS, client_for, grant, open_session, superuser_client
from tests.staff.test_preset_voice_params import CHANGELIST, change_form

pytestmark = pytest.mark.django_db

SECRET = "s3cret-tool-signing-key-0042"
SCHEMA = '{"type": "object", "properties": {"city": {"type": "string"}}}'


@pytest.fixture(autouse=True)
def dns(monkeypatch, settings):
    settings.TOOL_HTTP_HOSTS = []
    table = {"tools.example.com": ["93.184.215.14"], "inside.example.com": ["10.0.0.7"]}

    def addresses(host, port):
        if host not in table:
            raise OSError("no such host")
        return table[host]

    monkeypatch.setattr(tool_urls, "_addresses", addresses)


def tool_form(preset, *, tool: PresetTool | None = None, **fields) -> dict[str, str]:
    row = {
        "name": "get_weather",
        "description": "The weather in a city now.",
        "parameters": SCHEMA,
        "endpoint": "https://tools.example.com/weather",
        "secret": SECRET,
        "timeout_seconds": "5",
        "active": "on",
        **fields,
    }
    data = change_form(preset, "{}")
    data.update({"tools-TOTAL_FORMS": "1", "tools-INITIAL_FORMS": "1" if tool else "0"})
    data.update({f"tools-0-{k}": v for k, v in row.items()})
    data["tools-0-preset"] = str(preset.pk)
    if tool:
        data["tools-0-id"] = str(tool.pk)
    return data


def save(client, preset, **kwargs):
    return client.post(f"{CHANGELIST}{preset.pk}/change/", tool_form(preset, **kwargs))


def test_staff_add_a_tool_and_its_secret_is_never_shown_back(world):
    client = superuser_client(world)
    response = save(client, world.preset)
    assert response.status_code == 302, response.content.decode()[:2000]
    tool = PresetTool.objects.get(preset=world.preset)
    assert (tool.name, tool.secret, tool.timeout_seconds) == ("get_weather", SECRET, 5.0)
    assert tool.parameters["properties"]["city"] == {"type": "string"}

    pages = [
        f"{CHANGELIST}{world.preset.pk}/change/",
        f"{CHANGELIST}{world.preset.pk}/history/",
        CHANGELIST,
        "/admin/",
    ]
    for page in pages:
        body = client.get(page).content.decode()
        assert SECRET not in body and SECRET[:12] not in body, page
    assert all(SECRET not in str(e.change_message) for e in LogEntry.objects.all())
    # The preset list accepts only its declared filters: no bisecting the secret.
    assert client.get(f"{CHANGELIST}?tools__secret__startswith=s3").status_code == 400
    assert client.get(f"{CHANGELIST}?tools__secret=" + SECRET).status_code == 400
    # And its search does not reach tools: no preset is found by the secret.
    assert "0 avatar presets" in client.get(f"{CHANGELIST}?q={SECRET}").content.decode()


def test_staff_who_may_only_view_see_whether_a_secret_is_set_never_the_secret(world):
    PresetTool.objects.create(
        preset=world.preset,
        name="get_weather",
        description="The weather.",
        endpoint="https://tools.example.com/weather",
        secret=SECRET,
    )
    PresetTool.objects.create(
        preset=world.preset,
        name="no_secret",
        description="Unsigned.",
        endpoint="https://tools.example.com/other",
    )
    viewer = client_for(grant(world.staff, "view_avatarpreset", "view_presettool"))
    response = viewer.get(f"{CHANGELIST}{world.preset.pk}/change/")
    body = response.content.decode()
    assert response.status_code == 200 and "get_weather" in body
    assert SECRET not in body and SECRET[:12] not in body
    assert "A secret is set." in body and "No secret is set." in body
    # Who may change the tools gets the write-only field (its help says whether one is
    # set, so an empty field's "keep" is clear), never the secret.
    body = superuser_client(world).get(f"{CHANGELIST}{world.preset.pk}/change/").content.decode()
    assert SECRET not in body and 'type="password"' in body
    assert "A secret is set. Signs each call" in body and "No secret is set. Signs" in body
    assert 'name="tools-0-secret"' in body


def test_an_empty_secret_keeps_the_stored_one_and_a_new_one_replaces_it(world):
    client = superuser_client(world)
    save(client, world.preset)
    tool = PresetTool.objects.get()
    assert save(client, world.preset, tool=tool, secret="", description="New.").status_code == 302
    tool.refresh_from_db()
    assert (tool.secret, tool.description) == (SECRET, "New.")
    assert save(client, world.preset, tool=tool, secret="another-secret-99").status_code == 302
    tool.refresh_from_db()
    assert tool.secret == "another-secret-99"


@pytest.mark.parametrize(
    "fields, error",
    [
        ({"name": "get weather"}, "letters, digits, underscores or hyphens"),
        ({"name": "x" * 65}, "at most 64"),
        (
            {"parameters": '{"type": "object", "properties": {"a": {"type": "strin"}}}'},
            "not a valid JSON Schema",
        ),
        ({"parameters": '["a"]'}, "must be a JSON Schema object"),
        ({"parameters": '{"type": "string"}'}, "must be a JSON Schema object"),
        ({"endpoint": "http://tools.example.com/weather"}, "must use https"),
        ({"endpoint": "https://127.0.0.1/weather"}, "private or local"),
        ({"endpoint": "https://inside.example.com/weather"}, "private or local"),
        ({"endpoint": "https://nowhere.example.com/x"}, "could not be found"),
        ({"timeout_seconds": "0.1"}, "between 0.5 and 30 seconds"),
        ({"timeout_seconds": "120"}, "between 0.5 and 30 seconds"),
    ],
)
def test_a_bad_tool_is_refused_on_its_field_and_the_secret_not_echoed(world, fields, error):
    response = save(superuser_client(world), world.preset, **fields)
    body = response.content.decode()
    assert response.status_code == 200
    assert error in body.replace("&quot;", '"').replace("&#x27;", "'")
    assert SECRET not in body
    assert not PresetTool.objects.exists()


def test_the_session_page_shows_each_tool_call(world):
    session = open_session(world)
    ToolCall.objects.create(
        session=session,
        tool_name="get_weather",
        arguments={"city": "Paris"},
        result='{"temp": 21}',
        outcome="timeout",
        error="It took longer than 2 seconds.",
        duration_ms=2003,
    )
    viewer = client_for(grant(world.staff, "view_avatarsession"))
    body = viewer.get(f"{SESSIONS}{session.pk}/change/").content.decode()
    for shown in (
        "get_weather",
        "Paris",
        "temp",
        "Timed out",
        "It took longer than 2 seconds.",
        "2003",
    ):
        assert shown in body.replace("&quot;", '"'), shown
