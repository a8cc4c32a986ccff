"""The named world the tests share: alice (owner), bob (another user), staff, and an
anonymous caller with no access; plus demo presets."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.test import Client
from django.utils import translation

from sessions.models import ApiToken, AvatarPreset, VoicePreset
from sessions.providers import reset_providers
from sessions.services import reaper
from tests.support.fakes.credentials import FAKE_SECRETS
from tools import secret_scan

# The secret scan (tools/secret_scan/) watches every test; the fakes' default credentials
# are among what it looks for.
pytest_plugins = ["tools.secret_scan.plugin"]
secret_scan.look_for(FAKE_SECRETS)


def pytest_configure(config):
    # make test runs the suite twice (embedded defaults, then PostgreSQL + Redis); a test
    # whose outcome cannot depend on the run's setup, or that means most on one of them,
    # runs in one pass only.
    config.addinivalue_line(
        "markers",
        "first_pass: sees nothing of the run's database or cache (plain functions, or a "
        "fresh interpreter with an environment of its own): make test runs it only in its "
        "first pass",
    )
    config.addinivalue_line(
        "markers",
        "second_pass: a long run whose findings need one setup, not both: make test runs it "
        "only in its second pass (PostgreSQL + Redis)",
    )


# The rule for `first_pass` (the second pass exists for what PostgreSQL, Redis and several
# processes change): a test runs once when its outcome cannot depend on them, i.e. it
# reaches neither the database, the cache, the channel layer nor a served process: plain
# functions (parsers, redaction, the LLM client and the AKool provider against their fakes,
# URL checks with a fake DNS), files read as files (catalogs, screenshots, the rules' homes),
# settings read in a fresh interpreter with a clean environment of its own. Anything with a
# lock, a counter, a race, a cache, a channel layer, a served process, a transaction or a
# migration stays in both, however pure its subject looks; when in doubt, both.
FIRST_PASS_DIRS = (
    # sessions.stream, sessions.llm and sessions.providers.akool are plain Python (no
    # Django, no Channels: lint-imports' first contract), so their tests cannot meet the
    # run's database or cache either. (tests/llm/test_guardrails.py reaches the database and
    # the sockets: it is not listed.)
    "tests/stream/",
    "tests/providers/akool/",
)
FIRST_PASS_MODULES = {
    "tests/llm/test_client.py",
    "tests/llm/test_conversation.py",
    "tests/llm/test_guardrails_unicode.py",
    "tests/llm/test_pipeline.py",
    "tests/llm/test_redaction.py",
    "tests/llm/test_sentences.py",
    "tests/llm/test_sse.py",
    "tests/llm/test_tools.py",
    "tests/providers/sandbox/test_responder.py",  # the sandbox's replies: plain functions
    "tests/services/test_spoken_memory.py",  # sessions.llm.conversation's functions
    "tests/services/test_tool_urls.py",  # a fake DNS, settings only
    "tests/test_network_settings.py",  # fresh interpreters (tests/test_settings.py's probe)
    "tests/test_one_home.py",  # reads the code as files
    "tests/test_redaction.py",
    "tests/tools/test_screenshots.py",  # the committed files and their index
}


def pytest_collection_modifyitems(items):
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        if module.startswith(FIRST_PASS_DIRS) or module in FIRST_PASS_MODULES:
            item.add_marker(pytest.mark.first_pass)


@pytest.fixture(autouse=True)
def _fresh_state(settings, monkeypatch):
    # Limits live in the cache, providers are built once per configuration.
    cache.clear()
    reset_providers()
    settings.SANDBOX_WORDS_PER_SECOND = 200.0
    # The process's background loop (presence beat, reaper) would run inside each test's
    # event loop: tests call reap() themselves; served processes (tests/support/live.py)
    # run it.
    settings.REAPER_INTERVAL = 0
    monkeypatch.setattr(reaper, "ensure_started", lambda: None)
    # Hashing passwords properly costs ~0.3 s a user; tests need no protection.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # In-process websocket communicators send no Host header (a browser always does), so
    # the page origin the socket tests send (tests/support/wsutil.ORIGIN) is trusted here.
    settings.CSRF_TRUSTED_ORIGINS = ["http://localhost"]
    yield
    cache.clear()
    reset_providers()
    # A request through LocaleMiddleware leaves its language active in this thread (a
    # served process answers every request in the language it asks for; tests share one).
    translation.activate(settings.LANGUAGE_CODE)


class World:
    def __init__(self, django_user_model):
        self.alice = django_user_model.objects.create_user("alice", password="alice-pw-123")
        self.bob = django_user_model.objects.create_user("bob", password="bob-pw-123")
        self.staff = django_user_model.objects.create_user(
            "staff", password="staff-pw-123", is_staff=True
        )
        self.alice_token_obj, self.alice_token = ApiToken.issue(self.alice, "alice cli")
        self.bob_token_obj, self.bob_token = ApiToken.issue(self.bob, "bob cli")
        self.voice = VoicePreset.objects.create(
            slug="warm", name="Warm", voice_id="sandbox_voice_warm", language="en"
        )
        self.voice_fr = VoicePreset.objects.create(
            slug="lyon", name="Lyon", voice_id="sandbox_voice_lyon", language="fr"
        )
        self.preset = AvatarPreset.objects.create(
            slug="ada", name="Ada", avatar_id="sandbox_ada", default_voice=self.voice
        )
        self.retell = AvatarPreset.objects.create(
            slug="cleo", name="Cleo", avatar_id="sandbox_cleo", mode=1
        )
        self.hidden = AvatarPreset.objects.create(
            slug="hidden", name="Hidden", avatar_id="sandbox_x", active=False
        )


@pytest.fixture
def world(db, django_user_model) -> World:
    return World(django_user_model)


@pytest.fixture
def auditor(world):
    """world.staff with the permissions to watch and close others' sessions."""
    world.staff.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="avatar_sessions",
            codename__in=["view_avatarsession", "change_avatarsession"],
        )
    )
    return world.staff


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The response is an error in the API's one shape: {"error": {"code", "message"}}."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    if code is not None:
        assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


class Api:
    """A small JSON client: Bearer token or a signed-in browser (with real CSRF)."""

    def __init__(self, token: str | None = None, user=None):
        self.client = Client(enforce_csrf_checks=True)
        self.headers: dict[str, str] = {}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        if user is not None:
            self.client.force_login(user)
            self.client.get("/")  # sets the csrftoken cookie
            self.headers["X-CSRFToken"] = self.client.cookies["csrftoken"].value

    def get(self, path: str, **kw):
        return self.client.get(f"/api/v1{path}", headers=self.headers, **kw)

    def post(self, path: str, body=None, *, raw: str | bytes | None = None, **kw):
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        return self.client.post(
            f"/api/v1{path}",
            data=data,
            content_type=kw.pop("content_type", "application/json"),
            headers={**self.headers, **kw.pop("headers", {})},
            **kw,
        )


@pytest.fixture
def alice_api(world) -> Api:
    return Api(token=world.alice_token)


@pytest.fixture
def bob_api(world) -> Api:
    return Api(token=world.bob_token)


@pytest.fixture
def anon_api(world) -> Api:
    return Api()


@pytest.fixture(scope="session")
def live_server_proc(tmp_path_factory):
    """One served daphne process for the end-to-end tests of the run."""
    from tests.support.live import LiveServer

    # Every browser and process test of the run starts its sessions here, as the demo
    # user: the hourly quota is each test's own business (tests/api/test_limits*.py).
    server = LiveServer(tmp_path_factory.mktemp("live"), SESSION_CREATES_PER_HOUR="100000").start()
    yield server
    server.stop()


@pytest.fixture
def one_minute(monkeypatch):
    """The rate limits' clock stands still, in the middle of a minute: a test that counts
    against a per-minute limit and ran across a minute's end would see its counts start
    again (the limits count in fixed windows: sessions/services/limits.py)."""
    import time
    import types

    from sessions.services import limits

    now = (time.time() // 60) * 60 + 30
    monkeypatch.setattr(limits, "time", types.SimpleNamespace(time=lambda: now))
