"""A pytest plugin: nothing the suite sees may contain the AKool key, the AKool client
secret or the LLM key.

For the whole run it records, per test:

- every HTTP response (status, headers, cookies, body) of `django.test.Client` and
  `AsyncClient`, and every httpx response from a served process of `tests.live`;
- every ASGI message the app sends to a `channels.testing` communicator (websocket
  frames, close reasons, HTTP responses) and every frame a test sends it; every frame
  of a real socket (the `websockets` library) both ways;
- every log record, whatever logger and level (it wraps `logging.Logger.handle`, so
  non-propagating loggers are seen too and no level is changed), and the captured
  stdout, stderr and log sections of every test report;
- the output of `LiveServer.manage` and the log file of every `LiveServer`;

and at the end of the run every static file the site serves (all staticfiles finders)
and every template. The secrets are the fake servers' defaults plus every non-empty
value of settings `AKOOL_API_KEY`, `AKOOL_CLIENT_SECRET` and `LLM_API_KEY` seen during
the run (and those handed to a `LiveServer`). Anything found fails the run (exit status
1) with a report of where, masked.

The fake upstream servers' own answers are not the app's output and are not scanned:
httpx traffic counts only when it goes to a served process of ours.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.akool_server import DEFAULT_API_KEY as AKOOL_KEY
from tests.fakes.akool_server import DEFAULT_CLIENT_CREDENTIAL as AKOOL_SECRET
from tests.fakes.llm_server import DEFAULT_API_KEY as LLM_KEY

ROOT = Path(__file__).resolve().parent.parent

FIXED_SECRETS = {
    AKOOL_KEY: "AKool API key (fake)",
    AKOOL_SECRET: "AKool client secret (fake)",
    LLM_KEY: "LLM API key (fake)",
}
SECRET_SETTINGS = ("AKOOL_API_KEY", "AKOOL_CLIENT_SECRET", "LLM_API_KEY")
# A "secret" this short would match everywhere (tests use "k" as a placeholder key).
MIN_SECRET_LENGTH = 8
# Scan the buffered texts early once they hold this much (a long fuzz test).
FLUSH_BYTES = 8_000_000
MAX_FINDINGS = 200
# A test module with `PLANTS_SECRETS = True` plants secrets on purpose, inside
# `scanning(...)` blocks; what pytest captures of its tests' output is not scanned and
# their settings are not learnt (everything else of them still is scanned).
PLANTS_SECRETS = "PLANTS_SECRETS"
SNIPPET = 60


@dataclass(frozen=True)
class Finding:
    kind: str
    where: str
    detail: str
    label: str
    snippet: str

    def __str__(self) -> str:
        return f"{self.where} [{self.kind}] {self.detail}: {self.label} in ...{self.snippet}..."


def mask(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, f"<{secret[:4]}...MASKED>")
    return text


def as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    return value if isinstance(value, str) else str(value)


class Scanner:
    """Collects texts (kind, where, detail) and looks for the secrets it knows in them."""

    def __init__(self, secrets: dict[str, str] | None = None) -> None:
        self.secrets: dict[str, str] = {}
        self.ignored: set[str] = set()  # labels of values too short to look for
        self.counts: Counter[str] = Counter()
        self.findings: list[Finding] = []
        self.missed = 0  # findings beyond MAX_FINDINGS
        self.errors: list[str] = []  # the scanner's own failures (never a test's)
        self.where = "<outside tests>"
        self._buffer: list[tuple[str, str, str, str]] = []
        self._buffered = 0
        for secret, label in (secrets or FIXED_SECRETS).items():
            self.learn(secret, label)

    # --- secrets -----------------------------------------------------------------
    def learn(self, value: Any, label: str) -> None:
        if not isinstance(value, str) or not value:
            return
        if len(value) < MIN_SECRET_LENGTH:
            self.ignored.add(label)
            return
        self.secrets.setdefault(value, label)

    def learn_settings(self) -> None:
        """The secrets the app is configured with right now (tests override them)."""
        try:
            from django.conf import settings

            if not settings.configured:
                return
            for name in SECRET_SETTINGS:
                self.learn(getattr(settings, name, ""), f"settings.{name}")
        except Exception as exc:  # noqa: BLE001 - the scanner never breaks a test
            self.error(f"reading settings: {exc!r}")

    # --- texts -------------------------------------------------------------------
    def record(self, kind: str, text: Any, detail: str = "") -> None:
        text = as_text(text)
        self.counts[kind] += 1
        if not text:
            return
        self._buffer.append((kind, self.where, detail, text))
        self._buffered += len(text)
        if self._buffered > FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Scan what was recorded since the last flush, with every secret known now."""
        self.learn_settings()
        buffer, self._buffer, self._buffered = self._buffer, [], 0
        for kind, where, detail, text in buffer:
            self.scan(kind, where, detail, text)

    def scan(self, kind: str, where: str, detail: str, text: str) -> None:
        for secret, label in self.secrets.items():
            start = text.find(secret)
            if start < 0:
                continue
            if len(self.findings) >= MAX_FINDINGS:
                self.missed += 1
                continue
            around = text[max(0, start - SNIPPET) : start + len(secret) + SNIPPET]
            snippet = mask(around, self.secrets).replace("\n", "\\n")
            self.findings.append(Finding(kind, where, detail, label, snippet))

    def error(self, message: str) -> None:
        if len(self.errors) < 20:
            self.errors.append(message)

    # --- report ------------------------------------------------------------------
    def summary(self) -> str:
        c = self.counts
        responses = c["http response"] + c["asgi http response"] + c["live http response"]
        frames = (
            c["ws frame received"] + c["ws frame sent"] + c["live ws frame"] + c["browser ws frame"]
        )
        browser = (
            f"{c['browser page']} browser pages, {c['browser response']} browser response headers, "
            if c["browser page"] or c["browser response"]
            else ""
        )
        logs = c["log record"]
        outcome = (
            f"{len(self.findings) + self.missed} secret(s) FOUND"
            if self.findings
            else "no secret found"
        )
        return (
            f"secret scan: {responses} responses, {frames} frames, {logs} log records, "
            f"{browser}{c['captured output']} captured outputs, {c['server log']} server logs, "
            f"{c['static file']} static files, {c['template']} templates scanned "
            f"for {len(self.secrets)} secrets; {outcome}"
        )

    def report(self) -> list[str]:
        lines = [str(finding) for finding in self.findings]
        if self.missed:
            lines.append(f"... and {self.missed} more")
        return lines


_scanner: Scanner | None = None


def _record(kind: str, text: Any, detail: Any = "") -> None:
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


@contextlib.contextmanager
def scanning(scanner: Scanner) -> Iterator[Scanner]:
    """Route everything the hooks record to `scanner` for a while (for self-tests)."""
    global _scanner
    previous, _scanner = _scanner, scanner
    try:
        yield scanner
    finally:
        _scanner = previous


# --- what gets recorded ------------------------------------------------------------
def django_response_text(response: Any) -> str:
    parts = [str(getattr(response, "status_code", ""))]
    parts += [f"{name}: {value}" for name, value in response.items()]
    parts += [morsel.OutputString() for morsel in response.cookies.values()]
    if not getattr(response, "streaming", False):
        parts.append(as_text(response.content))
    return "\n".join(parts)


def _request_line(request: dict[str, Any]) -> str:
    return f"{request.get('REQUEST_METHOD', request.get('method', '?'))} " + str(
        request.get("PATH_INFO", request.get("path", "?"))
    )


def asgi_message_text(message: Any) -> str:
    if not isinstance(message, dict):
        return as_text(message)
    parts = [
        as_text(message.get(key))
        for key in ("text", "bytes", "body", "reason", "subprotocol")
        if message.get(key) is not None
    ]
    parts += [f"{as_text(n)}: {as_text(v)}" for n, v in message.get("headers") or ()]
    return "\n".join(parts)


def _asgi_kind(message: Any, sent: bool) -> str:
    kind = message.get("type") if isinstance(message, dict) else None
    kind = kind if isinstance(kind, str) else ""
    if sent:
        return "ws frame sent" if kind.startswith("websocket") else "asgi request"
    return "ws frame received" if kind.startswith("websocket") else "asgi http response"


def httpx_response_text(response: Any) -> str:
    import httpx

    parts = [str(response.status_code)]
    parts += [f"{name}: {value}" for name, value in response.headers.multi_items()]
    try:
        parts.append(response.text)
    except httpx.ResponseNotRead:
        pass  # a stream the test reads itself: not consumed here
    return "\n".join(parts)


def log_record_text(record: logging.LogRecord) -> str:
    try:
        parts = [record.getMessage()]
    except Exception:  # noqa: BLE001 - a bad format string is the logging module's to report
        parts = [as_text(record.msg), as_text(record.args)]
    if record.exc_text:  # the traceback as a handler formatted it
        parts.append(record.exc_text)
    elif record.exc_info and record.exc_info[1] is not None:
        # What a formatted traceback could hold besides source lines: the messages of
        # the exception and of its causes (formatting costs milliseconds per record).
        exc: BaseException | None = record.exc_info[1]
        seen: set[int] = set()
        while exc is not None and id(exc) not in seen:
            seen.add(id(exc))
            parts.append(f"{type(exc).__name__}: {exc}")
            exc = exc.__cause__ or exc.__context__
    if record.stack_info:
        parts.append(record.stack_info)
    return "\n".join(parts)


class Patches:
    """Monkeypatches installed for the session, removed at its end."""

    def __init__(self) -> None:
        self._undo: list[tuple[Any, str, Any]] = []
        self.live_servers: list[Any] = []
        self.app_origins: set[str] = set()
        self._scanned_logs: dict[str, int] = {}

    def patch(self, owner: Any, name: str, make: Any) -> None:
        original = owner.__dict__[name]
        self._undo.append((owner, name, original))
        setattr(owner, name, functools.wraps(original)(make(original)))

    def undo(self) -> None:
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)
        self._undo.clear()

    def install(self) -> None:
        self._django()
        self._asgi()
        self._logging()
        self._httpx()
        self._websockets()
        self._live()

    def _django(self) -> None:
        from django.test.client import AsyncClient, Client

        def sync(original):
            def request(self, **request):
                __tracebackhide__ = True
                response = original(self, **request)
                _record(
                    "http response",
                    lambda: django_response_text(response),
                    lambda: _request_line(request),
                )
                return response

            return request

        def asynchronous(original):
            async def request(self, **request):
                __tracebackhide__ = True
                response = await original(self, **request)
                _record(
                    "http response",
                    lambda: django_response_text(response),
                    lambda: _request_line(request),
                )
                return response

            return request

        self.patch(Client, "request", sync)
        self.patch(AsyncClient, "request", asynchronous)

    def _asgi(self) -> None:
        from asgiref.testing import ApplicationCommunicator

        def receive(original):
            async def receive_output(self, timeout=1):
                __tracebackhide__ = True
                message = await original(self, timeout)
                path = (getattr(self, "scope", None) or {}).get("path", "?")
                _record(_asgi_kind(message, False), lambda: asgi_message_text(message), path)
                return message

            return receive_output

        def send(original):
            async def send_input(self, message):
                __tracebackhide__ = True
                path = (getattr(self, "scope", None) or {}).get("path", "?")
                _record(_asgi_kind(message, True), lambda: asgi_message_text(message), path)
                return await original(self, message)

            return send_input

        self.patch(ApplicationCommunicator, "receive_output", receive)
        self.patch(ApplicationCommunicator, "send_input", send)

    def _logging(self) -> None:
        def wrap(original):
            def handle(self, record):
                __tracebackhide__ = True
                try:
                    return original(self, record)
                finally:
                    # After the handlers: the traceback they formatted is reused.
                    _record("log record", lambda: log_record_text(record), record.name)

            return handle

        self.patch(logging.Logger, "handle", wrap)

    def _httpx(self) -> None:
        try:
            import httpx
        except ImportError:
            return
        origins = self.app_origins

        def ours(request: Any) -> bool:
            url = request.url
            return f"{url.scheme}://{url.host}:{url.port}" in origins

        def sync(original):
            def send(self, request, **kw):
                __tracebackhide__ = True
                response = original(self, request, **kw)
                if ours(request):
                    _record(
                        "live http response",
                        lambda: httpx_response_text(response),
                        lambda: str(request.url),
                    )
                return response

            return send

        def asynchronous(original):
            async def send(self, request, **kw):
                __tracebackhide__ = True
                response = await original(self, request, **kw)
                if ours(request):
                    _record(
                        "live http response",
                        lambda: httpx_response_text(response),
                        lambda: str(request.url),
                    )
                return response

            return send

        self.patch(httpx.Client, "send", sync)
        self.patch(httpx.AsyncClient, "send", asynchronous)

    def _websockets(self) -> None:
        try:
            from websockets.asyncio.connection import Connection
        except ImportError:
            return

        def recv(original):
            async def wrapped(self, *args, **kw):
                __tracebackhide__ = True
                message = await original(self, *args, **kw)
                _record("live ws frame", message, "received")
                return message

            return wrapped

        def send(original):
            async def wrapped(self, message, *args, **kw):
                __tracebackhide__ = True
                if isinstance(message, (str, bytes, bytearray, memoryview)):
                    _record("live ws frame", message, "sent")
                return await original(self, message, *args, **kw)

            return wrapped

        self.patch(Connection, "recv", recv)
        self.patch(Connection, "send", send)

    def _live(self) -> None:
        from tests.live import LiveServer

        patches = self

        def init(original):
            def __init__(self, workdir, **settings):
                __tracebackhide__ = True
                original(self, workdir, **settings)
                patches.live_servers.append(self)
                patches.app_origins.add(self.url)
                if _scanner is not None:
                    for name in SECRET_SETTINGS:
                        _scanner.learn(settings.get(name, ""), f"LiveServer {name}")

            return __init__

        def manage(original):
            def wrapped(self, *args):
                __tracebackhide__ = True
                output = original(self, *args)
                _record("captured output", output, f"manage.py {' '.join(args)}")
                return output

            return wrapped

        def stop(original):
            def wrapped(self):
                __tracebackhide__ = True
                try:
                    return original(self)
                finally:
                    patches.scan_live_log(self)

            return wrapped

        self.patch(LiveServer, "__init__", init)
        self.patch(LiveServer, "manage", manage)
        self.patch(LiveServer, "stop", stop)

    def install_browser(self) -> None:
        """The browser tests' pages (tests/browser.py), if they were collected: every
        websocket frame both ways and the response headers as Chromium sees them, and each
        page's final document when its tab is closed. (Not response bodies: fetching one
        can block on the browser; the same views' bodies are scanned in the other tests.)"""
        browser = sys.modules.get("tests.browser")
        if browser is None or "attach" not in vars(getattr(browser, "Watch", object)):
            return

        def on_websocket(ws: Any) -> None:
            ws.on("framereceived", lambda payload: _record("browser ws frame", payload, ws.url))
            ws.on("framesent", lambda payload: _record("browser ws frame", payload, ws.url))

        def on_response(response: Any) -> None:
            headers = "\n".join(f"{n}: {v}" for n, v in response.headers.items())
            _record("browser response", f"{response.status}\n{headers}", response.url)

        def attach(original):
            def wrapped(self, page):
                __tracebackhide__ = True
                original(self, page)
                page.on("websocket", on_websocket)
                page.on("response", on_response)

            return wrapped

        def close_tab(original):
            def wrapped(tab):
                __tracebackhide__ = True
                for page in list(tab.context.pages):
                    try:
                        _record("browser page", page.content(), page.url)
                    except Exception:  # noqa: BLE001, S110 - a closed or crashed page
                        pass
                return original(tab)

            return wrapped

        self.patch(browser.Watch, "attach", attach)
        original = browser.close_tab
        # Test modules that imported it by name call their own binding.
        for name, module in list(sys.modules.items()):
            if name.startswith("tests.") and vars(module).get("close_tab") is original:
                self.patch(module, "close_tab", close_tab)

    def scan_live_log(self, server: Any) -> None:
        """The server's log since it was last read (a server may be stopped twice)."""
        try:
            text = server.log()
        except Exception as exc:  # noqa: BLE001
            if _scanner is not None:
                _scanner.error(f"reading {server.log_path}: {exc!r}")
            return
        seen = self._scanned_logs.get(str(server.log_path), 0)
        if len(text) > seen or not seen:
            self._scanned_logs[str(server.log_path)] = len(text)
            _record("server log", text[seen:], str(server.log_path))


# --- files scanned at the end of the run ---------------------------------------
def static_files() -> Iterator[tuple[str, bytes]]:
    """Every file the staticfiles finders serve (the project's, the apps', vendored)."""
    from django.contrib.staticfiles import finders

    for finder in finders.get_finders():
        for path, storage in finder.list([]):
            with storage.open(path) as handle:
                yield f"static:{getattr(storage, 'prefix', None) or ''}/{path}", handle.read()


def template_files() -> Iterator[tuple[str, bytes]]:
    from django.template import engines

    for engine in engines.all():
        for directory in getattr(engine, "template_dirs", ()):
            for file in sorted(Path(directory).rglob("*")):
                if file.is_file():
                    yield str(file), file.read_bytes()


def scan_files(scanner: Scanner) -> None:
    for kind, source in (("static file", static_files), ("template", template_files)):
        try:
            for name, content in source():
                scanner.record(kind, content, name)
        except Exception as exc:  # noqa: BLE001
            scanner.error(f"listing {kind}s: {exc!r}")


# --- pytest hooks ------------------------------------------------------------------
_patches: Patches | None = None
_planting: set[str] = set()  # node ids of the tests that plant secrets


def plants_secrets(item: pytest.Item) -> bool:
    return bool(getattr(getattr(item, "module", None), PLANTS_SECRETS, False))


def pytest_configure(config: pytest.Config) -> None:
    global _scanner, _patches
    _scanner = Scanner()
    # Ad hoc: more strings to look for, comma separated (e.g. "DO-NOT-LEAK", the marker
    # every fake credential carries, issued AKool tokens included).
    for extra in os.environ.get("SECRET_SCAN_EXTRA", "").split(","):
        _scanner.learn(extra.strip(), f"SECRET_SCAN_EXTRA {extra.strip()!r}")
    _patches = Patches()


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    # After pytest-django has configured Django: the Django and channels imports are safe.
    if _patches is not None:
        _patches.install()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    if _scanner is None:
        return (yield)
    _scanner.where = item.nodeid
    if plants_secrets(item):
        _planting.add(item.nodeid)
    try:
        return (yield)
    finally:
        _scanner.flush()
        _scanner.where = "<outside tests>"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    try:
        return (yield)
    finally:
        if _scanner is not None and not plants_secrets(item):
            _scanner.learn_settings()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    # Before the fixtures' finalizers: overridden settings are still in place.
    if _scanner is not None and not plants_secrets(item):
        _scanner.learn_settings()
    return (yield)


def pytest_collection_finish(session: pytest.Session) -> None:
    if _patches is not None:
        _patches.install_browser()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.nodeid in _planting:
        return
    for title, content in report.sections:
        _record("captured output", content, f"{report.when}: {title}")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    scanner = _scanner
    if scanner is None or _patches is None:
        return
    for server in _patches.live_servers:
        _patches.scan_live_log(server)
    _patches.undo()
    scanner.where = "<end of run>"
    scan_files(scanner)
    scanner.flush()
    if scanner.findings and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    scanner = _scanner
    if scanner is None:
        return
    if scanner.findings:
        terminalreporter.section("secret scan: secrets found", sep="=", red=True, bold=True)
        for line in scanner.report():
            terminalreporter.write_line(line)
    for message in scanner.errors:
        terminalreporter.write_line(f"secret scan: scanner error: {message}", yellow=True)
    if scanner.ignored:
        terminalreporter.write_line(
            f"secret scan: ignored values too short to look for: {sorted(scanner.ignored)}"
        )
    if config.option.verbose > 0:
        looked_for = Counter(scanner.secrets.values())
        terminalreporter.write_line(f"secret scan: looked for {dict(looked_for)}")
    terminalreporter.write_line(scanner.summary(), red=bool(scanner.findings))
