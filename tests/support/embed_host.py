"""A website that embeds the avatar, for the cross-site tests and the screenshots: a tiny
HTTP server on loopback (a thread) serving one shop page that loads our /embed.js.

Chromium maps made-up host names to loopback (`--host-resolver-rules`), so the same
server is http://shop.test:<port>/ or http://elsewhere.test:<port>/: other sites than
ours (http://avatars.test:<port>/), as a real website is.

The page takes its embed from the query: `script` (our /embed.js), `key`, `form` ("line":
the one-line <script data-key>, the default; "tag": an <avatar-embed> written in the page),
and optionally `preset`, `color`, `label`, `position`. It keeps every avatar-* event the
element sends in `window.hostEvents` (their detail), as a website's own script would.
"""

from __future__ import annotations

import html
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from playwright.sync_api import Frame, Page

ATTRIBUTES = ("preset", "color", "label", "position")

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Harbour Provisions</title>
<style>
  body {{ margin: 0; font: 16px/1.5 Georgia, serif; color: #2b2b2b; background: #faf7f2; }}
  header {{ padding: 18px 24px; background: #17324d; color: #fff; }}
  header h1 {{ margin: 0; font-size: 24px; }}
  main {{ padding: 24px; max-width: 960px; margin: 0 auto; }}
  .grid {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr));
          gap: 16px; }}
  .item {{ padding: 16px; background: #fff; border: 1px solid #e2dccf; border-radius: 6px; }}
  .item b {{ display: block; font-size: 18px; }}
  /* A host's careless global rules: the launcher must not change under them. */
  button {{ font: 12px monospace; background: hotpink; border: 4px dashed lime; }}
  iframe {{ border: 8px solid red; }}
</style>
</head>
<body>
<header><h1>Harbour Provisions</h1></header>
<main>
  <p>Rope, lanterns and oilskins for people who work by the sea.</p>
  <div class="grid">
    <div class="item"><b>Hemp rope, 20 m</b>Hand-laid, tarred. 34 EUR</div>
    <div class="item"><b>Storm lantern</b>Brass, paraffin. 58 EUR</div>
    <div class="item"><b>Oilskin jacket</b>Yellow, all sizes. 120 EUR</div>
    <div class="item"><b>Deck boots</b>Non-slip soles. 75 EUR</div>
  </div>
</main>
<script>
  window.hostEvents = [];
  for (const type of ["ready", "session-started", "transcript", "session-ended", "refused"]) {{
    document.addEventListener("avatar-" + type, (event) => window.hostEvents.push(event.detail));
  }}
</script>
{embed}
</body>
</html>
"""


def embed_markup(query: dict[str, str]) -> str:
    attrs = {name: query[name] for name in ATTRIBUTES if query.get(name)}
    src = html.escape(query.get("script", ""))
    key = html.escape(query.get("key", ""))
    if query.get("form") == "tag":
        extra = "".join(f' {n}="{html.escape(v)}"' for n, v in attrs.items())
        return (
            f'<avatar-embed key="{key}"{extra}></avatar-embed>\n<script src="{src}" async></script>'
        )
    extra = "".join(f' data-{n}="{html.escape(v)}"' for n, v in attrs.items())
    return f'<script src="{src}" data-key="{key}"{extra} async></script>'


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server name
        parts = urlsplit(self.path)
        if parts.path != "/":
            # 204 for the favicon: a 404 would be a console error on the host page.
            self.send_response(204 if parts.path == "/favicon.ico" else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        body = PAGE.format(embed=embed_markup(query)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass  # quiet: the test says what matters


class HostSite:
    """The shop's server: `url(host, key=..., script=...)` is its page on that host name."""

    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def origin(self, host: str) -> str:
        return f"http://{host}:{self.port}"

    def url(self, host: str, **query: str) -> str:
        return f"{self.origin(host)}/?{urlencode(query)}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- the browser and our site, as the embed's tests and screenshots need them --------------

SHOP = "shop.test"  # a website whose origin the key lists
ELSEWHERE = "elsewhere.test"  # a website it does not list
OURS = "avatars.test"  # our site, served on loopback under a name of its own


def chromium_args(base: list[str], secure_origins: list[str]) -> list[str]:
    """`base` with the made-up names mapped to loopback (nothing else is reached, as
    before), and `secure_origins` treated as secure contexts: a real embed is https, and
    the page's microphone and camera need one."""
    rules = f"--host-resolver-rules=MAP {SHOP} 127.0.0.1, MAP {ELSEWHERE} 127.0.0.1, "
    rules += f"MAP {OURS} 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
    args = [a for a in base if not a.startswith("--host-resolver-rules")]
    return [*args, rules, "--unsafely-treat-insecure-origin-as-secure=" + ",".join(secure_origins)]


SERVER_SETTINGS = {"ALLOWED_HOSTS": f"{OURS},127.0.0.1,localhost"}

MAKE_KEY = """
import json
from sessions.embed_models import EmbedKey
from sessions.models import AvatarPreset
key = EmbedKey(**json.loads({fields!r}))
key.full_clean(exclude=["presets"])
key.save()
key.presets.set(AvatarPreset.objects.filter(slug__in={presets!r}))
print(key.public_key)
"""


def make_key(server: Any, name: str, origins: list[str], presets: list[str], **fields: Any) -> str:
    """A new embed key in `server`'s database (its limits and rights in `fields`); its
    public key."""
    code = MAKE_KEY.format(
        fields=json.dumps({"name": name, "allowed_origins": "\n".join(origins), **fields}),
        presets=presets,
    )
    return server.manage("shell", "-c", code).strip().splitlines()[-1]


def ax_click(page: Page, name: str, role: str = "button") -> None:
    """Click the control a screen reader names `name`, wherever it is: the launcher lives
    in a closed shadow root, which page scripts and Playwright's selectors cannot enter,
    but the accessibility tree (read over CDP) and a mouse can."""
    cdp = page.context.new_cdp_session(page)
    try:
        root = cdp.send("DOM.getDocument", {"depth": -1, "pierce": True})["root"]
        found = cdp.send(
            "Accessibility.queryAXTree",
            {"nodeId": root["nodeId"], "accessibleName": name, "role": role},
        )["nodes"]
        assert found, f"no {role} named {name!r} on the page"
        quad = cdp.send("DOM.getBoxModel", {"backendNodeId": found[0]["backendDOMNodeId"]})
        xs, ys = quad["model"]["border"][0::2], quad["model"]["border"][1::2]
    finally:
        cdp.detach()
    page.mouse.click(sum(xs) / 4, sum(ys) / 4)


def ax_names(page: Page, role: str = "button") -> list[str]:
    """The names of every `role` on the page (in its closed shadow roots too)."""
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("Accessibility.enable")
        nodes = cdp.send("Accessibility.getFullAXTree")["nodes"]
    finally:
        cdp.detach()
    return [
        n.get("name", {}).get("value", "")
        for n in nodes
        if n.get("role", {}).get("value") == role and not n.get("ignored")
    ]


def launcher_shown(page: Page) -> None:
    """Wait for the async script to draw the launcher."""
    for _ in range(50):
        if "Talk to us" in ax_names(page):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"no launcher: the page's buttons are {ax_names(page)}")


def embed_frame(page: Page) -> Frame:
    """Our iframe in the page (Playwright sees every frame, whatever shadow root holds it)."""
    for _ in range(100):
        for frame in page.frames:
            if "/embed/" in frame.url:
                return frame
        page.wait_for_timeout(50)
    raise AssertionError(f"no embed frame: {[f.url for f in page.frames]}")
