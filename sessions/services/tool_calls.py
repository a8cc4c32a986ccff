"""Calling the operator's tools for the LLM (README "Tools"): the preset's tools loaded,
each call checked, signed, made and recorded (one ToolCall row each: the audit).

A call is a POST of the arguments (JSON) to the tool's endpoint, within its timeout, to
the address sessions.services.tool_urls checked (no redirects followed), signed with
HMAC-SHA256 over ``"<timestamp>.<call id>.<tool name>.<body>"`` with the tool's secret
(the call id lets a tool server drop a repeated call; the name, a call replayed to another
tool that shares the secret)::

    X-Avatarsite-Timestamp: 1767225600
    X-Avatarsite-Call-Id: 3f2b...
    X-Avatarsite-Tool: get_weather
    X-Avatarsite-Signature: sha256=<hex digest>

The answer's body (at most TOOL_MAX_RESULT_BYTES, uncompressed) goes back to the LLM as the
result. A call that fails or times out goes back to the LLM as a sentence saying so, so it
can tell the user; the session goes on. Each call's audit row is written before the POST
(pending) and completed after it, even when an interrupt cancels the call.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import json
import logging
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jsonschema_rs
from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils.translation import gettext as _

from sessions.llm import tools as llm_tools
from sessions.llm.client import LlmConfig, stream_chat
from sessions.llm.conversation import estimate_messages_tokens
from sessions.models import AvatarPreset
from sessions.services import limits, tool_urls
from sessions.tool_models import PresetTool, ToolCall

log = logging.getLogger("avatarsite.tools")

TIMESTAMP_HEADER = "X-Avatarsite-Timestamp"
SIGNATURE_HEADER = "X-Avatarsite-Signature"
CALL_ID_HEADER = "X-Avatarsite-Call-Id"
TOOL_HEADER = "X-Avatarsite-Tool"
Outcome = ToolCall.Outcome


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    endpoint: str
    secret: str = field(repr=False)  # never in a log line or a traceback
    timeout: float = 5.0

    def spec(self) -> llm_tools.ToolSpec:
        return llm_tools.ToolSpec(self.name, self.description, self.parameters)


@dataclass(frozen=True)
class Toolset:
    """A preset's active tools and the line said while one runs."""

    tools: tuple[Tool, ...]
    filler: str = ""

    def find(self, name: str) -> Tool | None:
        return next((t for t in self.tools if t.name == name), None)


@sync_to_async
def preset_tools(preset_slug: str) -> Toolset | None:
    """The preset's active tools, or None when it has none."""
    rows = list(PresetTool.objects.filter(preset__slug=preset_slug, active=True))
    if not rows:
        return None
    filler = AvatarPreset.objects.filter(slug=preset_slug).values_list("tool_filler", flat=True)
    return Toolset(
        tuple(
            Tool(r.name, r.description, r.parameters, r.endpoint, r.secret, r.timeout_seconds)
            for r in rows
        ),
        (filler.first() or "").strip(),
    )


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()  # ~20 ms to build: once per process


def sign(secret: str, timestamp: str, call_id: str, tool_name: str, body: bytes) -> str:
    """The signature header's value: what a tool server recomputes to trust a call."""
    signed = f"{timestamp}.{call_id}.{tool_name}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def _storable(text: str) -> str:
    """``text`` as the audit can hold it: no NUL (PostgreSQL refuses it in text and JSON)
    and no lone surrogate (not UTF-8)."""
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode()


def _unsendable(arguments: dict[str, Any]) -> bool:
    """Whether a key or value holds a character that can be neither sent as UTF-8 nor
    stored: a NUL or a lone surrogate (JSON escapes let the LLM write both)."""
    stack: list[Any] = [arguments]
    while stack:  # not recursive: the nesting is the LLM's to choose
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str) and _storable(value) != value:
            return True
    return False


@dataclass
class CallRecord:
    """One call as it goes, and what the audit row records."""

    tool_name: str
    arguments: Any = None
    outcome: str = Outcome.OK
    result: str = ""
    error: str = ""
    llm_error: str = ""  # what the LLM is told, when not the audit's error

    def fail(self, outcome: str, error: str, *, llm_error: str = "") -> None:
        self.outcome, self.error, self.llm_error = outcome, error, llm_error

    def for_llm(self) -> str:
        if self.outcome == Outcome.OK:
            return self.result
        # The LLM reads this and tells the user in its own words.
        return (
            f"The tool {self.tool_name} did not answer: {self.llm_error or self.error} "
            "Tell the user that this information is not available right now."
        )


async def call(
    session_id: str,
    toolset: Toolset,
    request: llm_tools.ToolCallRequest,
    *,
    refused: str = "",
) -> CallRecord:
    """Make one call the LLM asked for and record it (``for_llm()``: what the LLM reads);
    ``refused``: why it may not be made at all (still recorded)."""
    started = time.monotonic()
    record = CallRecord(request.name, request.arguments, outcome=Outcome.PENDING)
    tool = toolset.find(request.name)
    arguments = llm_tools.parse_arguments(request.arguments)
    if refused:
        record.fail(Outcome.REFUSED, refused)
    elif tool is None:
        record.fail(Outcome.REFUSED, "There is no tool by that name.")
    elif arguments is None:
        record.fail(Outcome.REFUSED, "The arguments were not a JSON object.")
    elif _unsendable(arguments):
        record.fail(Outcome.REFUSED, "The arguments hold a NUL or an unpaired surrogate.")
    else:
        record.arguments = arguments
        if problem := _arguments_problem(tool, arguments):
            record.fail(
                Outcome.REFUSED, f"The arguments do not fit the tool's parameters: {problem}"
            )
    # Written before the POST: a call cut off by an interrupt is audited all the same.
    row = await ToolCall.objects.acreate(
        session_id=session_id,
        tool_name=_storable(request.name[:64]),
        arguments=record.arguments
        if isinstance(record.arguments, dict)
        else {"raw": _storable(str(record.arguments))},
        outcome=Outcome.PENDING,
    )
    try:
        if record.outcome == Outcome.PENDING:
            assert tool is not None and arguments is not None
            await _post(tool, arguments, record)
    except asyncio.CancelledError:
        record.fail(Outcome.CANCELLED, "The answer was interrupted before the tool answered.")
        raise
    finally:
        await asyncio.shield(_recorded(session_id, row, record, started))
    return record


async def _recorded(session_id: str, row: ToolCall, record: CallRecord, started: float) -> None:
    """The audit row completed with how the call went."""
    if record.outcome == Outcome.PENDING:  # an unexpected exception: the answer reports it
        record.fail(Outcome.FAILED, "The call failed unexpectedly.")
    row.duration_ms = int((time.monotonic() - started) * 1000)
    row.result, row.error = _storable(record.result), _storable(record.error)
    row.outcome = record.outcome
    # The name is the LLM's: %r keeps whatever it wrote on one log line.
    log.info(
        "session %s: tool %r: %s in %d ms", session_id, row.tool_name, row.outcome, row.duration_ms
    )
    await row.asave(update_fields=["duration_ms", "result", "error", "outcome"])


def _arguments_problem(tool: Tool, arguments: dict[str, Any]) -> str | None:
    if not tool.parameters:
        return None
    try:
        jsonschema_rs.validate(tool.parameters, arguments)
    except jsonschema_rs.ValidationError as exc:
        return exc.message
    except ValueError:  # the schema itself (staff checked it when saving)
        return None
    return None


async def _post(tool: Tool, arguments: dict[str, Any], record: CallRecord) -> None:
    try:
        await asyncio.wait_for(_send(tool, arguments, record), timeout=tool.timeout)
    except (asyncio.TimeoutError, httpx.TimeoutException):
        record.fail(Outcome.TIMEOUT, f"It took longer than {tool.timeout:g} seconds.")
    except tool_urls.UrlRefused as exc:
        # Staff's words about the site's network are not the LLM's (nor the user's) business.
        record.fail(Outcome.REFUSED, str(exc), llm_error="It may not be called.")
    except httpx.HTTPError as exc:
        record.fail(Outcome.FAILED, f"It could not be reached ({type(exc).__name__}).")
    else:
        if record.outcome == Outcome.PENDING:
            record.outcome = Outcome.OK


async def _send(tool: Tool, arguments: dict[str, Any], record: CallRecord) -> None:
    target = await asyncio.to_thread(tool_urls.resolve, tool.endpoint)
    body = json.dumps(arguments, ensure_ascii=False).encode()
    timestamp, call_id = str(int(time.time())), uuid.uuid4().hex
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
    headers = {
        "Content-Type": "application/json",
        "Host": host_header,
        "User-Agent": "avatarsite-tools",
        # Compressed answers are not asked for: the cap below counts the bytes that arrive.
        "Accept-Encoding": "identity",
        TIMESTAMP_HEADER: timestamp,
        CALL_ID_HEADER: call_id,
        TOOL_HEADER: tool.name,
    }
    if tool.secret:
        headers[SIGNATURE_HEADER] = sign(tool.secret, timestamp, call_id, tool.name, body)
    address = f"[{target.address}]" if ":" in target.address else target.address
    # The checked address, not the name: a second lookup could answer differently.
    url = f"{target.scheme}://{address}:{target.port}{target.path}"
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    async with httpx.AsyncClient(
        verify=_ssl_context(), follow_redirects=False, timeout=tool.timeout, trust_env=False
    ) as client:
        request = client.build_request(
            "POST", url, content=body, headers=headers, extensions=extensions
        )
        response = await client.send(request, stream=True)
        try:
            data = await _read_capped(response)
        finally:
            await response.aclose()
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        record.fail(Outcome.FAILED, f"It answered compressed ({encoding[:32]}), not asked for.")
    elif 200 <= response.status_code < 300:
        record.result = data.decode("utf-8", errors="replace")
    elif 300 <= response.status_code < 400:
        record.fail(Outcome.FAILED, f"It redirected (HTTP {response.status_code}); not followed.")
    else:
        record.fail(Outcome.FAILED, f"It answered with an error (HTTP {response.status_code}).")


async def _read_capped(response: httpx.Response) -> bytes:
    """At most TOOL_MAX_RESULT_BYTES of the body as it arrives (raw: never inflated, so a
    small compressed answer cannot grow into a large one in memory)."""
    limit = settings.TOOL_MAX_RESULT_BYTES
    data = bytearray()
    async for chunk in response.aiter_raw():
        data += chunk
        if len(data) >= limit:
            break
    return bytes(data[:limit])


Say = Callable[[str], Awaitable[Any]]


def answer_stream(
    config: LlmConfig,
    messages: list[dict[str, Any]],
    toolset: Toolset | None,
    *,
    session_id: str,
    principal_key: str,
    say: Say,
) -> AsyncIterator[Any]:
    """The LLM's answer, with the preset's tools when it has any (sessions.llm.tools runs
    the rounds); ``say`` speaks the filler line while the first tool runs."""
    if toolset is None:
        return stream_chat(config, messages)
    failed: list[str] = []

    async def run(request: llm_tools.ToolCallRequest, refused: str = "") -> str:
        record = await call(session_id, toolset, request, refused=refused)
        if record.outcome != Outcome.OK:
            failed.append(request.name)
        return record.for_llm()

    async def spend(round_messages: list[dict[str, Any]]) -> None:
        tokens = estimate_messages_tokens(round_messages)
        await limits.spend_llm_tokens(session_id, principal_key, tokens)

    async def filler() -> None:
        await say(toolset.filler + " ")  # the answer's next sentence follows it

    rounds = llm_tools.answer_rounds(
        functools.partial(stream_chat, config),
        messages,
        [tool.spec() for tool in toolset.tools],
        run=run,
        max_rounds=settings.TOOL_MAX_ROUNDS,
        before_first_call=filler if toolset.filler else None,
        spend=spend,
        limits=llm_tools.CallLimits(
            settings.TOOL_MAX_CALLS_PER_ROUND, settings.TOOL_MAX_CALLS_PER_ANSWER
        ),
        refuse=run,
    )
    return _with_fallback(rounds, failed)


async def _with_fallback(rounds: AsyncIterator[str], failed: list[str]) -> AsyncIterator[str]:
    """The rounds' text; when a tool failed and the LLM then said nothing, one sentence
    saying so (the avatar never just falls silent)."""
    said = False
    try:
        async for piece in rounds:
            said = said or bool(piece.strip())
            yield piece
    finally:
        await rounds.aclose()  # type: ignore[attr-defined]
    if failed and not said:
        yield _("Sorry, I could not get that information just now.")
