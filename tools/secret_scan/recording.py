"""Where everything seen goes: the scanner of the run (or of a self-test's `scanning`
block), fed by the hooks (tools/secret_scan/hooks.py) and by what the test helpers report
of their own: a served process (its address, the secrets it was handed, its log) and a
browser page (its websocket frames, response headers and final document).

Nothing here raises into a test: the scanner's own failures are kept for its report.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from tools.secret_scan.scanner import SECRET_SETTINGS, Scanner

_scanner: Scanner | None = None
# Secrets to look for from the start (the fakes' credentials), whoever registers them.
fixed_secrets: dict[str, str] = {}
# The served processes of the run: their logs are scanned when they stop and at the end.
servers: list[Any] = []
# Their origins ("http://127.0.0.1:port"): httpx traffic counts only when it goes there
# (the fake upstream servers' own answers are not the app's output).
app_origins: set[str] = set()
_scanned_logs: dict[str, int] = {}


def current() -> Scanner | None:
    return _scanner


def start(scanner: Scanner | None) -> None:
    """The run's scanner (None: nothing is recorded)."""
    global _scanner
    _scanner = scanner
    servers.clear()
    app_origins.clear()
    _scanned_logs.clear()


@contextlib.contextmanager
def scanning(scanner: Scanner) -> Iterator[Scanner]:
    """Route everything recorded to `scanner` for a while (for self-tests)."""
    global _scanner
    previous, _scanner = _scanner, scanner
    try:
        yield scanner
    finally:
        _scanner = previous


def look_for(secrets: dict[str, str]) -> None:
    """Secrets (value -> label) every scanner of this run looks for from the start."""
    fixed_secrets.update(secrets)
    if _scanner is not None:
        for value, label in secrets.items():
            _scanner.learn(value, label)


def record(kind: str, text: Any, detail: Any = "") -> None:
    """Record a text; `text` and `detail` may be callables, built here under the guard."""
    scanner = _scanner
    if scanner is None:
        return
    try:
        scanner.record(
            kind,
            text() if callable(text) else text,
            detail() if callable(detail) else detail,
        )
    except Exception as exc:  # noqa: BLE001 - the scanner never breaks a test
        scanner.error(f"recording {kind}: {exc!r}")


def is_ours(url: Any) -> bool:
    """Whether an httpx URL goes to one of our served processes."""
    return f"{url.scheme}://{url.host}:{url.port}" in app_origins


# --- what the test helpers report ----------------------------------------------------
def watch_server(server: Any, settings: dict[str, str]) -> None:
    """A served process (`url`, `log()`, `log_path`) was made with these settings: the
    secrets among them are learnt, its responses count, its log is scanned."""
    servers.append(server)
    if _scanner is not None:
        for name in SECRET_SETTINGS:
            _scanner.learn(settings.get(name, ""), f"LiveServer {name}")


def serving(server: Any, up: bool) -> None:
    """A watched process started (`up`) or stopped serving. Its origin counts only while
    it serves: once it stops, a fake upstream may be handed the same port, and the fake's
    answers (which quote keys on purpose) are not the app's output."""
    if up:
        app_origins.add(server.url)
    else:
        app_origins.discard(server.url)


def scan_server_log(server: Any) -> None:
    """The server's log since it was last read (a server may be stopped twice)."""
    try:
        text = server.log()
    except Exception as exc:  # noqa: BLE001
        if _scanner is not None:
            _scanner.error(f"reading {server.log_path}: {exc!r}")
        return
    seen = _scanned_logs.get(str(server.log_path), 0)
    if len(text) > seen or not seen:
        _scanned_logs[str(server.log_path)] = len(text)
        record("server log", text[seen:], str(server.log_path))


def scan_server_logs() -> None:
    for server in servers:
        scan_server_log(server)


def watch_page(page: Any) -> None:
    """A browser page (Playwright): every websocket frame both ways and the response
    headers as Chromium sees them. (Not response bodies: fetching one can block on the
    browser; the same views' bodies are scanned in the other tests.)"""

    def on_websocket(ws: Any) -> None:
        ws.on("framereceived", lambda payload: record("browser ws frame", payload, ws.url))
        ws.on("framesent", lambda payload: record("browser ws frame", payload, ws.url))

    def on_response(response: Any) -> None:
        headers = "\n".join(f"{n}: {v}" for n, v in response.headers.items())
        record("browser response", f"{response.status}\n{headers}", response.url)

    page.on("websocket", on_websocket)
    page.on("response", on_response)


def record_pages(pages: Iterable[Any]) -> None:
    """The final document of each page, before its browser context closes."""
    for page in list(pages):
        try:
            record("browser page", page.content(), page.url)
        except Exception:  # noqa: BLE001, S110 - a closed or crashed page
            pass
