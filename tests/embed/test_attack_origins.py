"""Issue 20 attacked: a key's origins go as they are into the embed page's
`frame-ancestors`, so the admin takes only what a browser names an origin: no wildcard
(which would let any site frame the avatar), nothing that ends or adds a CSP directive,
and an internationalised name in the xn-- form the browser sends (else a header that is
not Latin-1 came out MIME-encoded, a policy no browser reads: framable by anyone)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from sessions.embed_models import normalise_origin, parse_origins
from sessions.models import EmbedKey

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "origin",
    [
        "https://*",
        "https://*.shop.test",
        "https://shop.test;script-src",
        "https://shop'test",
        'https://shop"test',
        "https://shop<b>.test",
        "https://a%20b.test",
        "https://a\\b.test",
        "https://sh_op.test",
        "https://-shop.test",
        "https://shop..test",
        "https://shop.test.",
        "https://shop.test:0",
        "https://[::1]:8443",
        "null",
    ],
)
def test_what_is_no_browser_origin_is_refused_by_the_admins_rule(origin):
    with pytest.raises(ValueError):
        normalise_origin(origin)
    with pytest.raises(ValidationError):
        parse_origins(origin)


@pytest.mark.parametrize(
    ("written", "browser"),
    [
        ("https://bücher.test", "https://xn--bcher-kva.test"),
        ("https://ПРИМЕР.рф", "https://xn--e1afmkfd.xn--p1ai"),
        ("HTTPS://Shop.Test:443/", "https://shop.test"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ],
)
def test_an_origin_is_kept_as_the_browser_names_it(written, browser):
    assert normalise_origin(written) == browser


def test_an_internationalised_website_frames_its_avatar_under_a_readable_policy(world):
    key = EmbedKey(name="Shop", allowed_origins="https://пример.рф")
    key.full_clean(exclude=["presets"])
    key.save()
    key.presets.add(world.preset)
    # The host page's script sends location.origin: the xn-- form.
    response = Client().get(f"/embed/{key.public_key}/?origin=https://xn--e1afmkfd.xn--p1ai")
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    policy.encode("ascii")  # no MIME-encoded header that browsers would not read
    assert "frame-ancestors https://xn--e1afmkfd.xn--p1ai;" in policy + ";"


def test_a_wildcard_key_cannot_be_made_in_the_admin(world, admin_client):
    response = admin_client.post(
        "/admin/avatar_sessions/embedkey/add/",
        {
            "name": "Everyone",
            "allowed_origins": "https://*",
            "presets": [world.preset.pk],
            **{f: 1 for f in ("visitor_sessions_per_hour", "visitor_concurrent")},
            **{f: 1 for f in ("visitor_minutes_per_day", "key_sessions_per_hour")},
            **{f: 1 for f in ("key_concurrent", "key_minutes_per_day")},
        },
    )
    assert response.status_code == 200  # the form again, with the error
    assert "is not an origin" in response.content.decode()
    assert not EmbedKey.objects.exists()


@pytest.mark.parametrize(
    ("asked", "status"),
    [
        ("https://shop.test", 200),
        ("HTTPS://SHOP.TEST:443/", 200),  # the same origin as a browser names it
        ("https://www.shop.test", 403),  # a listed origin's subdomain is another website
        ("https://shop.test.evil.test", 403),
        ("https://shop.test:8443", 403),
        ("http://shop.test", 403),
        ("https://shop.test/page", 403),  # an origin has no path
        ("null", 403),  # a sandboxed or file: page
        ("https://*", 403),
        ("https://shop.test\r\nSet-Cookie: a=b", 403),
    ],
)
def test_only_a_listed_origin_gets_the_page_and_the_policy_names_only_the_list(
    world, asked, status
):
    key = EmbedKey.objects.create(name="Shop", allowed_origins="https://shop.test")
    key.presets.add(world.preset)
    response = Client().get(f"/embed/{key.public_key}/", {"origin": asked})
    assert response.status_code == status
    assert "Set-Cookie" not in response
    frame_ancestors = [
        part.strip()
        for part in response["Content-Security-Policy"].split(";")
        if "frame-ancestors" in part
    ]
    expected = "frame-ancestors https://shop.test" if status == 200 else "frame-ancestors 'none'"
    assert frame_ancestors == [expected]


def test_a_name_with_sharp_s_is_the_host_browsers_name():
    # Browsers map names by IDNA 2008 (UTS 46): "ß" is kept (xn--strae-oqa), where Python's
    # own idna codec (IDNA 2003) makes it "ss", another website.
    assert normalise_origin("https://straße.de") == "https://xn--strae-oqa.de"
