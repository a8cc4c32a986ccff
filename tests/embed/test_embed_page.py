"""Issue 20: the embed page a website frames (GET /embed/<key>/?origin=), the script
that frames it (GET /embed.js), and the visitor token's renewal (POST /api/v1/embed/token),
as a browser and the website meet them."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from sessions import embed_tokens
from sessions.models import AvatarPreset, EmbedKey
from tests.conftest import assert_error

pytestmark = pytest.mark.django_db

SHOP = "https://shop.test"
BLOG = "https://blog.test:8443"


@pytest.fixture
def key(world):
    k = EmbedKey.objects.create(name="Shop", allowed_origins=f"{SHOP}\n{BLOG}")
    k.presets.add(world.preset, world.retell)
    return k


def embed(key_or_public: EmbedKey | str, query: str = f"?origin={SHOP}", client=None):
    public = key_or_public if isinstance(key_or_public, str) else key_or_public.public_key
    return (client or Client()).get(f"/embed/{public}/{query}")


def config_of(response) -> dict:
    found = re.search(
        r'<script id="page-config" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert found, "the page has no config"
    return json.loads(found.group(1))


def csp(response) -> dict[str, str]:
    parts = (p.strip().split(" ", 1) for p in response["Content-Security-Policy"].split(";"))
    return {p[0]: p[1] if len(p) > 1 else "" for p in parts if p[0]}


def renew(token: str | None = None, client=None, **headers):
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return (client or Client()).post("/api/v1/embed/token", headers=headers)


# --- The page ---------------------------------------------------------------------------


def test_an_unknown_or_turned_off_key_is_not_found(key):
    assert embed("ek_nothing_here").status_code == 404
    key.active = False
    key.save()
    response = embed(key)
    assert response.status_code == 404
    assert b"not available" in response.content
    assert "embedToken" not in response.content.decode()
    # Its own website's panel may show that sentence (framed by that origin alone); an
    # unknown key's page, or one asked for by an unlisted origin, is framed by none.
    assert csp(response)["frame-ancestors"] == SHOP
    assert "X-Frame-Options" not in response
    for refused in (embed("ek_nothing_here"), embed(key, "?origin=https://evil.test")):
        assert csp(refused)["frame-ancestors"] == "'none'"
        assert refused["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(
    "query",
    ["", "?origin=", "?origin=https://evil.test", "?origin=http://shop.test", "?origin=nonsense"],
)
def test_a_missing_or_unlisted_origin_is_forbidden(key, query):
    response = embed(key, query)
    assert response.status_code == 403
    assert b"may not be shown on this website" in response.content
    assert "emb." not in response.content.decode()
    # Not framable: a refusal keeps the site's own headers.
    assert response["X-Frame-Options"] == "DENY"


def test_the_page_is_framed_by_exactly_the_keys_origins_and_sets_no_cookie(key):
    response = embed(key, f"?origin={SHOP}/")  # normalised as a browser names it
    assert response.status_code == 200
    assert csp(response)["frame-ancestors"].split() == [SHOP, BLOG]
    assert "X-Frame-Options" not in response
    assert "no-store" in response["Cache-Control"]
    assert not response.cookies, f"cookies set: {list(response.cookies)}"
    assert "Set-Cookie" not in response
    page = response.content.decode()
    assert 'class="site-header"' not in page  # no header, nav or sign-in
    assert "js/embed_page.js" in page
    config = config_of(response)
    assert "csrfToken" not in config and "loginUrl" not in config
    assert config["hostOrigin"] == SHOP
    assert config["hostMay"] == {"start": True, "end": True, "say": False}
    grant = embed_tokens.read(config["embedToken"])
    assert grant is not None and grant.key == key and grant.origin == SHOP


def test_each_load_is_a_new_visitor(key):
    first = embed_tokens.read(config_of(embed(key))["embedToken"])
    second = embed_tokens.read(config_of(embed(key))["embedToken"])
    assert first.visitor != second.visitor


def test_the_preset_asked_for_is_chosen_only_when_the_key_offers_it(key, world):
    assert config_of(embed(key, f"?origin={SHOP}&preset=cleo"))["preset"] == "cleo"
    other = AvatarPreset.objects.create(slug="bea", name="Bea", avatar_id="sandbox_bea")
    assert config_of(embed(key, f"?origin={SHOP}&preset={other.slug}"))["preset"] == ""
    assert config_of(embed(key, f"?origin={SHOP}&preset=nobody"))["preset"] == ""


def test_every_other_page_keeps_deny_and_frame_ancestors_none(key, world):
    embed(key)  # the embed's override stays on its own response
    client = Client()
    client.force_login(world.alice)
    for path in ("/", "/history/", "/accounts/login/"):
        response = client.get(path)
        assert response["X-Frame-Options"] == "DENY", path
        assert csp(response)["frame-ancestors"] == "'none'", path


def test_the_token_in_the_page_works_against_the_api_without_a_cookie(key, settings):
    settings.ANONYMOUS_SESSIONS = False
    token = config_of(embed(key))["embedToken"]
    api = Client(enforce_csrf_checks=True)
    headers = {"Authorization": f"Bearer {token}"}
    listed = api.get("/api/v1/presets", headers=headers)
    assert listed.status_code == 200
    assert sorted(p["slug"] for p in listed.json()["avatars"]) == ["ada", "cleo"]
    started = api.post(
        "/api/v1/sessions", {"preset": "ada"}, content_type="application/json", headers=headers
    )
    assert started.status_code == 201, started.content
    assert not started.cookies  # the visitor is known by the token, not by a cookie
    session = started.json()
    left = api.post(f"/api/v1/sessions/{session['id']}/leave", headers=headers)
    assert left.status_code == 202
    closed = api.post(
        f"/api/v1/sessions/{session['id']}/close", {}, "application/json", headers=headers
    )
    assert closed.status_code == 200


# --- The script -------------------------------------------------------------------------


def test_the_embed_script_is_served_for_other_sites():
    response = Client().get("/embed.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Cache-Control"] == "public, max-age=300"
    assert response["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert b"".join(response.streaming_content)


# --- The token's renewal ----------------------------------------------------------------


def test_a_renewed_token_is_for_the_same_visitor_key_and_origin(key):
    token = embed_tokens.issue(key.public_key, SHOP)
    response = renew(token)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["expires_in"] > 0
    before, after = embed_tokens.read(token), embed_tokens.read(body["token"])
    assert after is not None
    assert (after.key, after.visitor, after.origin) == (before.key, before.visitor, SHOP)
    assert not response.cookies


def test_renewal_is_refused_once_the_key_is_off_or_the_origin_gone(key):
    token = embed_tokens.issue(key.public_key, SHOP)
    key.allowed_origins = BLOG
    key.save()
    assert_error(renew(token), 401, "invalid_token")
    key.allowed_origins = SHOP
    key.active = False
    key.save()
    assert_error(renew(token), 401, "invalid_token")


def test_renewal_is_refused_to_an_expired_token(key, settings):
    token = embed_tokens.issue(key.public_key, SHOP)
    settings.EMBED_TOKEN_MAX_AGE = -1
    assert_error(renew(token), 401, "invalid_token")


def test_only_an_embed_token_renews(key, world, settings):
    settings.ANONYMOUS_SESSIONS = True
    assert_error(renew(world.alice_token), 401, "invalid_token")
    assert_error(renew(), 401, "invalid_token")
    signed_in = Client()
    signed_in.force_login(world.alice)
    assert_error(renew(client=signed_in), 401, "invalid_token")
    assert_error(renew("emb.forged.token"), 401, "invalid_token")
