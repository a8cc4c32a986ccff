"""Function calling (OpenAI-compatible ``tools``): the tools as the chat request names
them, the streamed ``tool_calls`` deltas put back together, and the rounds of an answer
that calls tools (ask, call what the LLM asked for, hand back the results, ask again).

Plain Python: what calling a tool means (the HTTP call, its signature, its audit) is the
caller's ``run`` (sessions.services.tool_calls).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

# A model's arguments longer than this are not a call but a runaway stream.
MAX_ARGUMENTS_CHARS = 64 * 1024


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]

    def request_entry(self) -> dict[str, Any]:
        """The tool as the chat completion request's ``tools`` lists it."""
        parameters = self.parameters or {"type": "object", "properties": {}}
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": parameters,
            },
        }


def request_fields(tools: list[dict[str, Any]] | None, choice: str | None) -> dict[str, Any]:
    """What a chat completion request adds to offer ``tools`` (nothing without any)."""
    return {"tools": tools, "tool_choice": choice or "auto"} if tools else {}


@dataclass(frozen=True)
class ToolCallRequest:
    """One call the LLM asked for; ``arguments`` is its JSON text, as the model wrote it."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ToolCalls:
    """What ``stream_chat`` yields last when the LLM asked for tools instead of ending."""

    calls: tuple[ToolCallRequest, ...]
    content: str = ""  # the text said before the calls, if any


class BadToolCalls(ValueError):
    """The ``tool_calls`` deltas were not shaped like OpenAI's."""


@dataclass
class ToolCallAssembler:
    """Streamed ``tool_calls`` deltas (by ``index``; id and name come once, the
    arguments in pieces) put back together into whole calls."""

    _calls: dict[int, dict[str, Any]] = field(default_factory=dict)
    _chars: int = 0

    def feed(self, deltas: Any) -> None:
        if not isinstance(deltas, list):
            raise BadToolCalls("tool_calls is not a list")
        for position, delta in enumerate(deltas):
            if not isinstance(delta, dict):
                raise BadToolCalls("a tool call is not an object")
            index = delta.get("index", position)
            function = delta.get("function") or {}
            if not isinstance(index, int) or not isinstance(function, dict):
                raise BadToolCalls("a tool call is not shaped like one")
            call = self._calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
            for key, value in (
                ("id", delta.get("id")),
                ("name", function.get("name")),
                ("arguments", function.get("arguments")),
            ):
                if value is None:
                    continue
                if not isinstance(value, str):
                    raise BadToolCalls(f"a tool call's {key} is not text")
                # Names and ids come whole in one delta; some servers repeat them.
                call[key] = call[key] + value if key == "arguments" else value
                self._chars += len(value)
            if self._chars > MAX_ARGUMENTS_CHARS:
                raise BadToolCalls("tool call arguments far too long")

    def __bool__(self) -> bool:
        return bool(self._calls)

    def result(self, redact: Callable[[str], str] = str) -> ToolCalls:
        """The calls, in order; ``redact`` is applied to each one's whole arguments."""
        calls = tuple(
            ToolCallRequest(c["id"] or f"call_{i}", c["name"], redact(c["arguments"] or "{}"))
            for i, c in sorted(self._calls.items())
        )
        return ToolCalls(calls)


def assistant_message(calls: ToolCalls) -> dict[str, Any]:
    """The LLM's own turn that asked for the calls, as the next request must repeat it."""
    return {
        "role": "assistant",
        "content": calls.content or None,
        "tool_calls": [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments},
            }
            for c in calls.calls
        ],
    }


def tool_message(call: ToolCallRequest, result: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call.id, "content": result}


def parse_arguments(text: str) -> dict[str, Any] | None:
    """The arguments as an object, or None when they are not a JSON object."""
    try:
        value = json.loads(text or "{}")
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


Stream = Callable[..., AsyncIterator[Any]]  # stream_chat(messages, tools=..., tool_choice=...)
Run = Callable[[ToolCallRequest], Awaitable[str]]  # a call's result, for the LLM
Refuse = Callable[[ToolCallRequest, str], Awaitable[str]]  # (call, why) -> for the LLM
Hook = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class CallLimits:
    """How many calls one answer may make: per round (one reply of the LLM) and in all."""

    per_round: int
    per_answer: int

    def refusal(self, position: int, made: int) -> str:
        """Why the call at ``position`` in its round may not be made ("" when it may),
        ``made`` calls having been made in the answer before it."""
        if position >= self.per_round:
            return f"Only {self.per_round} tool calls are allowed at once."
        if made >= self.per_answer:
            return f"Only {self.per_answer} tool calls are allowed in one answer."
        return ""


async def answer_rounds(
    stream: Stream,
    messages: list[dict[str, Any]],
    specs: list[ToolSpec],
    *,
    run: Run,
    max_rounds: int,
    before_first_call: Hook | None = None,
    spend: Callable[[list[dict[str, Any]]], Awaitable[None]] | None = None,
    limits: CallLimits | None = None,
    refuse: Refuse | None = None,
) -> AsyncIterator[str]:
    """The answer's text, across as many rounds as the LLM calls tools (at most
    ``max_rounds`` with tools; then one more round in which it may not call any).

    ``before_first_call`` runs once, before the first tool, when the LLM said nothing yet
    (the avatar's filler line). ``spend`` is given each extra round's messages (the first
    round is paid for by the caller). Calls past ``limits`` go to ``refuse`` instead of
    ``run`` (the LLM reads why)."""
    entries = [spec.request_entry() for spec in specs]
    messages = list(messages)
    said, made = False, 0
    for round_no in range(max_rounds + 1):
        last = round_no == max_rounds
        if round_no and spend is not None:
            await spend(messages)
        calls, text = None, []
        # The last round keeps the tools listed (the history names them) but may not use them.
        choice = "none" if last else "auto"
        async with contextlib.aclosing(stream(messages, tools=entries, tool_choice=choice)) as it:
            async for piece in it:
                if isinstance(piece, ToolCalls):
                    calls = piece
                elif piece:
                    said = True
                    text.append(piece)
                    yield piece
        if calls is None or last:
            return
        if not said and before_first_call is not None:
            await before_first_call()
            before_first_call = None
        messages.append(assistant_message(dataclasses.replace(calls, content="".join(text))))
        for position, call in enumerate(calls.calls):
            why = limits.refusal(position, made) if limits else ""
            if why and refuse is not None:
                result = await refuse(call, why)
            else:
                made += 1
                result = await run(call)
            messages.append(tool_message(call, result))
