"""Who may call the API: Bearer tokens, the site's cookie with CSRF, and anonymous visitors."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from sessions.access import client_ip
from sessions.models import ApiToken, AvatarSession, hash_token
from tests.conftest import Api, assert_error

pytestmark = pytest.mark.django_db


def raw_api(authorization: str) -> Api:
    api = Api()
    api.headers["Authorization"] = authorization
    return api


# --- tokens ----------------------------------------------------------------------------


def test_it_needs_credentials(anon_api):
    assert_error(anon_api.get("/sessions"), 401, "not_authenticated")
    assert_error(anon_api.post("/sessions", {"preset": "ada"}), 401, "not_authenticated")
    assert not AvatarSession.objects.exists()


def test_it_rejects_a_wrong_token(world):
    error = assert_error(Api(token="avs_wrong").get("/sessions"), 401, "invalid_token")

    assert "invalid" in error["message"]


def test_it_rejects_a_revoked_token(world):
    ApiToken.objects.filter(pk=world.alice_token_obj.pk).update(revoked_at=timezone.now())

    response = Api(token=world.alice_token).post("/sessions", {"preset": "ada"})

    assert_error(response, 401, "invalid_token")
    assert not AvatarSession.objects.exists()


def test_it_rejects_the_token_of_a_deactivated_user(world):
    world.alice.is_active = False
    world.alice.save()

    assert_error(Api(token=world.alice_token).get("/sessions"), 401, "invalid_token")


@pytest.mark.parametrize(
    "header",
    ["Basic YWxpY2U6cHc=", "Bearer", "Bearer ", "Token {token}", "{token}", "Bearer  x y", ""],
)
def test_it_rejects_a_malformed_authorization_header(world, header):
    response = raw_api(header.format(token=world.alice_token)).get("/sessions")

    assert response.status_code == 401
    assert_error(response, 401, response.json()["error"]["code"])


def test_it_accepts_the_bearer_scheme_in_any_case(world):
    assert raw_api(f"bearer {world.alice_token}").get("/sessions").status_code == 200


def test_a_wrong_token_is_not_rescued_by_a_signed_in_cookie(world):
    api = Api(user=world.alice)
    api.headers["Authorization"] = "Bearer avs_wrong"

    assert_error(api.get("/sessions"), 401, "invalid_token")


def test_it_records_when_a_token_was_last_used(world):
    assert world.alice_token_obj.last_used_at is None

    Api(token=world.alice_token).get("/presets")

    world.alice_token_obj.refresh_from_db()
    assert timezone.now() - world.alice_token_obj.last_used_at < timedelta(seconds=5)
    world.bob_token_obj.refresh_from_db()
    assert world.bob_token_obj.last_used_at is None


def test_it_refreshes_an_old_last_used_time(world):
    long_ago = timezone.now() - timedelta(days=3)
    ApiToken.objects.filter(pk=world.alice_token_obj.pk).update(last_used_at=long_ago)

    Api(token=world.alice_token).get("/presets")

    world.alice_token_obj.refresh_from_db()
    assert world.alice_token_obj.last_used_at > long_ago + timedelta(days=2)


def test_it_stores_tokens_hashed(world):
    rows = list(ApiToken.objects.values())

    dumped = json.dumps(rows, default=str)
    assert world.alice_token not in dumped
    assert world.bob_token not in dumped
    alice_row = ApiToken.objects.get(pk=world.alice_token_obj.pk)
    assert alice_row.digest == hash_token(world.alice_token)
    assert world.alice_token.startswith(alice_row.prefix)
    assert len(alice_row.prefix) < len(world.alice_token) // 2


def test_the_command_prints_a_working_token(world):
    out = StringIO()

    call_command("create_api_token", "bob", "--name", "laptop", stdout=out)

    raw = out.getvalue().strip()
    assert raw.startswith("avs_")
    token = ApiToken.objects.get(digest=hash_token(raw))
    assert (token.owner, token.name) == (world.bob, "laptop")
    assert raw not in json.dumps(list(ApiToken.objects.values()), default=str)
    response = Api(token=raw).post("/sessions", {"preset": "ada"})
    assert response.status_code == 201
    assert AvatarSession.objects.get(pk=response.json()["id"]).owner == world.bob


def test_the_command_prints_a_new_token_each_time(world):
    first, second = StringIO(), StringIO()

    call_command("create_api_token", "alice", stdout=first)
    call_command("create_api_token", "alice", stdout=second)

    assert first.getvalue().strip() != second.getvalue().strip()
    assert world.alice.api_tokens.count() == 3


def test_the_command_refuses_an_unknown_user(world):
    with pytest.raises(CommandError, match="nobody"):
        call_command("create_api_token", "nobody", stdout=StringIO())

    assert ApiToken.objects.count() == 2


# --- the site's cookie, with CSRF ---------------------------------------------------------


def test_a_signed_in_browser_creates_with_the_csrf_header(world):
    response = Api(user=world.alice).post("/sessions", {"preset": "ada"})

    assert response.status_code == 201
    row = AvatarSession.objects.get(pk=response.json()["id"])
    assert row.owner == world.alice
    assert row.principal == f"user:{world.alice.pk}"


def test_a_signed_in_browser_is_refused_without_the_csrf_header(world):
    api = Api(user=world.alice)
    api.headers.pop("X-CSRFToken")

    error = assert_error(api.post("/sessions", {"preset": "ada"}), 403, "csrf_failed")

    assert "X-CSRFToken" in error["message"]
    assert not AvatarSession.objects.exists()


def test_a_signed_in_browser_is_refused_with_a_wrong_csrf_token(world):
    api = Api(user=world.alice)
    api.headers["X-CSRFToken"] = "x" * 32

    assert_error(api.post("/sessions", {"preset": "ada"}), 403, "csrf_failed")


def test_a_signed_in_browser_needs_csrf_to_close(world):
    api = Api(user=world.alice)
    session_id = api.post("/sessions", {"preset": "ada"}).json()["id"]
    token = api.headers.pop("X-CSRFToken")

    assert_error(api.post(f"/sessions/{session_id}/close"), 403, "csrf_failed")
    assert AvatarSession.objects.get(pk=session_id).status == "active"

    api.headers["X-CSRFToken"] = token
    assert api.post(f"/sessions/{session_id}/close").status_code == 200


def test_a_signed_in_browser_reads_without_csrf(world):
    api = Api(user=world.alice)
    api.headers.pop("X-CSRFToken")

    assert api.get("/sessions").status_code == 200
    assert api.get("/presets").status_code == 200


def test_a_token_needs_no_csrf(alice_api):
    # Api(token=...) sends no cookie and no CSRF header at all.
    assert "X-CSRFToken" not in alice_api.headers
    assert alice_api.post("/sessions", {"preset": "ada"}).status_code == 201


def test_a_signed_out_browser_gets_401_not_403(world):
    api = Api(user=world.alice)
    api.client.logout()

    assert_error(api.post("/sessions", {"preset": "ada"}), 401, "not_authenticated")


# --- anonymous visitors ---------------------------------------------------------------------


class Visitor:
    """A browser without an account: gets the page first, for the csrftoken cookie."""

    def __init__(self, **extra):
        self.client = Client(enforce_csrf_checks=True, **extra)
        self.client.get("/")
        self.csrf = self.client.cookies["csrftoken"].value

    def post(self, path: str, body: dict | None = None, **extra):
        return self.client.post(
            f"/api/v1{path}",
            data=json.dumps(body or {}),
            content_type="application/json",
            headers={"X-CSRFToken": self.csrf},
            **extra,
        )

    def get(self, path: str, **extra):
        return self.client.get(f"/api/v1{path}", **extra)


@pytest.fixture
def anonymous(settings, world):
    settings.ANONYMOUS_SESSIONS = True
    settings.TRUSTED_PROXIES = []


def test_anonymous_visitors_are_refused_when_not_allowed(world):
    client = Client(enforce_csrf_checks=True)

    response = client.post("/api/v1/sessions", {"preset": "ada"}, content_type="application/json")

    assert_error(response, 401, "not_authenticated")


def test_an_anonymous_visitor_creates_a_session(anonymous):
    visitor = Visitor()

    response = visitor.post("/sessions", {"preset": "ada"})

    assert response.status_code == 201
    assert response.json()["rtc"]["provider"] == "sandbox"
    row = AvatarSession.objects.get(pk=response.json()["id"])
    assert row.owner is None
    assert row.principal == "ip:127.0.0.1"
    assert row.visitor_key


def test_an_anonymous_visitor_follows_and_closes_their_own_session(anonymous):
    visitor = Visitor()
    session_id = visitor.post("/sessions", {"preset": "ada"}).json()["id"]

    shown = visitor.get(f"/sessions/{session_id}")
    listed = visitor.get("/sessions")
    closed = visitor.post(f"/sessions/{session_id}/close")

    assert shown.status_code == 200 and shown.json()["rtc"] is not None
    assert [s["id"] for s in listed.json()["items"]] == [session_id]
    assert closed.status_code == 200 and closed.json()["close_reason"] == "user"


def test_an_anonymous_visitor_needs_csrf(anonymous):
    visitor = Visitor()

    response = visitor.client.post(
        "/api/v1/sessions", {"preset": "ada"}, content_type="application/json"
    )

    assert_error(response, 403, "csrf_failed")


def test_another_visitor_cannot_see_the_first_ones_session(anonymous):
    first, second = Visitor(), Visitor()
    session_id = first.post("/sessions", {"preset": "ada"}).json()["id"]

    assert_error(second.get(f"/sessions/{session_id}"), 404, "session_not_found")
    assert_error(second.post(f"/sessions/{session_id}/close"), 404, "session_not_found")
    assert second.get("/sessions").json()["items"] == []
    assert AvatarSession.objects.get(pk=session_id).status == "active"


def test_a_signed_in_user_cannot_see_a_visitors_session(anonymous, bob_api):
    session_id = Visitor().post("/sessions", {"preset": "ada"}).json()["id"]

    assert_error(bob_api.get(f"/sessions/{session_id}"), 404, "session_not_found")


def test_anonymous_visitors_share_the_limits_of_their_address(anonymous, settings):
    settings.SESSION_CONCURRENT_PER_PRINCIPAL = 1
    Visitor().post("/sessions", {"preset": "ada"})

    response = Visitor().post("/sessions", {"preset": "ada"})

    assert_error(response, 429, "concurrent_sessions_limit")


def test_anonymous_visitors_of_one_ipv6_network_share_its_limits(anonymous, settings):
    # An IPv6 client may use any address of its /64: per address it would have 2**64 caps.
    settings.SESSION_CONCURRENT_PER_PRINCIPAL = 1
    first = Visitor(REMOTE_ADDR="2001:db8:1:2::10").post("/sessions", {"preset": "ada"})
    assert AvatarSession.objects.get(pk=first.json()["id"]).principal == "ip:2001:db8:1:2::/64"

    response = Visitor(REMOTE_ADDR="2001:db8:1:2:ffff::1").post("/sessions", {"preset": "ada"})

    assert_error(response, 429, "concurrent_sessions_limit")
    other = Visitor(REMOTE_ADDR="2001:db8:1:3::10").post("/sessions", {"preset": "ada"})
    assert other.status_code == 201


def test_a_trusted_proxys_forwarded_address_counts(anonymous, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    visitor = Visitor(REMOTE_ADDR="10.0.0.1")

    response = visitor.post(
        "/sessions", {"preset": "ada"}, HTTP_X_FORWARDED_FOR="203.0.113.7, 10.0.0.1"
    )

    assert AvatarSession.objects.get(pk=response.json()["id"]).principal == "ip:203.0.113.7"


def test_an_untrusted_clients_forwarded_address_is_ignored(anonymous, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    visitor = Visitor(REMOTE_ADDR="198.51.100.9")

    response = visitor.post("/sessions", {"preset": "ada"}, HTTP_X_FORWARDED_FOR="203.0.113.7")

    assert AvatarSession.objects.get(pk=response.json()["id"]).principal == "ip:198.51.100.9"


def test_forged_forwarded_addresses_do_not_escape_the_limit(anonymous, settings):
    settings.SESSION_CONCURRENT_PER_PRINCIPAL = 1
    Visitor().post("/sessions", {"preset": "ada"}, HTTP_X_FORWARDED_FOR="203.0.113.1")

    response = Visitor().post("/sessions", {"preset": "ada"}, HTTP_X_FORWARDED_FOR="203.0.113.2")

    assert_error(response, 429, "concurrent_sessions_limit")


# --- client_ip ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        # No trusted proxy in front: the header is the client's own word.
        ("198.51.100.9", "203.0.113.7", "198.51.100.9"),
        ("127.0.0.1", "", "127.0.0.1"),
        # A trusted proxy: the nearest address it did not add itself.
        ("10.0.0.1", "203.0.113.7", "203.0.113.7"),
        ("10.0.0.1", " 203.0.113.7 ", "203.0.113.7"),
        ("10.0.0.1", "203.0.113.7, 10.0.0.2", "203.0.113.7"),
        # The client prepends a forged hop: the proxy's appended one wins.
        ("10.0.0.1", "1.1.1.1, 203.0.113.7", "203.0.113.7"),
        ("10.0.0.1", "1.1.1.1, 9.9.9.9, 203.0.113.7, 10.0.0.2", "203.0.113.7"),
        # Only our proxies in the chain: the proxy itself.
        ("10.0.0.1", "10.0.0.2", "10.0.0.1"),
        ("10.0.0.1", "", "10.0.0.1"),
        ("10.0.0.1", " , ,", "10.0.0.1"),
        # Garbage: trust none of it.
        ("10.0.0.1", "not-an-ip", "10.0.0.1"),
        ("10.0.0.1", "203.0.113.7:4711", "10.0.0.1"),
        ("10.0.0.1", "203.0.113.7, <script>", "10.0.0.1"),
        ("10.0.0.1", "999.1.1.1", "10.0.0.1"),
        ("10.0.0.1", "unknown", "10.0.0.1"),
        # IPv6 works too.
        ("10.0.0.1", "2001:db8::1", "2001:db8::1"),
    ],
)
def test_client_ip_honours_forwarded_for_only_from_trusted_proxies(
    settings, remote, forwarded, expected
):
    settings.TRUSTED_PROXIES = ["10.0.0.1", "10.0.0.2"]

    assert client_ip(remote, forwarded) == expected


def test_client_ip_trusts_nothing_by_default(settings):
    settings.TRUSTED_PROXIES = []

    assert client_ip("10.0.0.1", "203.0.113.7") == "10.0.0.1"


def test_cookieless_reads_create_no_session_rows(anonymous):
    """Issue 15 item 13: in anonymous mode every cookieless request created a row in
    django_session, GET /api/v1/presets included. Only starting a session needs one."""
    from django.contrib.sessions.models import Session

    before = Session.objects.count()
    for i in range(100):
        client = Client()  # no cookie at all, each time
        path = ("/api/v1/presets", "/api/v1/sessions", "/", "/api/v1/sessions/" + "0" * 32)[i % 4]
        assert client.get(path).status_code in (200, 404)
    assert Session.objects.count() == before

    # A cookieless visitor sees the presets, and no session as theirs.
    assert Client().get("/api/v1/sessions").json()["items"] == []
    assert Client().get("/api/v1/presets").status_code == 200
    # Starting a session is what makes one.
    assert Visitor().post("/sessions", {"preset": "ada"}).status_code == 201
    assert Session.objects.count() == before + 1
