"""A session's conversation with the LLM: its turns, rendered as chat messages within a
token budget (estimated without a tokenizer), and the key of a cached answer."""

from __future__ import annotations

import hashlib
import json
import math
import unicodedata
from dataclasses import dataclass
from typing import Any

#: Characters per token the estimates assume; real tokenizers average ~4 for English.
CHARS_PER_TOKEN = 4
#: Per-message overhead of chat templates (role markers and separators), in tokens.
MESSAGE_OVERHEAD = 4
#: The newest user turn is never truncated below this, even under a tiny budget.
MIN_USER_TOKENS = 64


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate: ~4 characters a token (English averages a bit more,
    other scripts less, so budgets built on it should keep some slack)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def estimate_messages_tokens(messages: list[dict[str, Any]]) -> int:
    return sum(estimate_tokens(str(m.get("content", ""))) + MESSAGE_OVERHEAD for m in messages)


@dataclass
class Turn:
    role: str  # "user" or "assistant"
    content: str
    cut: bool = False  # an answer that was interrupted or failed mid-way


class Conversation:
    """The turns of one session, rendered as chat messages within a token budget."""

    def __init__(self, system_prompt: str, token_budget: int = 3000) -> None:
        self.system_prompt = system_prompt
        self.token_budget = token_budget
        self.turns: list[Turn] = []

    def add_user(self, text: str) -> None:
        self.turns.append(Turn("user", text))

    def add_assistant(self, text: str, cut: bool = False) -> None:
        # An answer cut before its first word said nothing: an empty assistant message
        # would only confuse some servers' templates.
        if text.strip():
            self.turns.append(Turn("assistant", text, cut))

    def cut_last_answer(self, heard: str) -> None:
        """The last answer was interrupted after it had all gone out: it keeps only what
        the user heard (`heard`), marked cut; nothing heard, and it is gone."""
        if self.turns and self.turns[-1].role == "assistant":
            if heard.strip():
                self.turns[-1] = Turn("assistant", heard, cut=True)
            else:
                self.turns.pop()

    def messages(self) -> list[dict[str, str]]:
        """System prompt first, then the newest turns that fit the budget.

        Whole exchanges (a user message and the answers after it) are dropped oldest
        first, so the history still starts with a user message. The system prompt and the
        newest user message are always kept; that message is cut short if it alone would
        overflow the budget. Consecutive messages of one role (a question whose answer
        failed before a word, then another) are merged, because several servers' chat
        templates insist that roles alternate.
        """
        system = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        groups = self._exchanges()
        _fit(system, groups, self.token_budget)
        return _merge_roles(system, [m for g in groups for m in g])

    def _exchanges(self) -> list[list[dict[str, str]]]:
        """The turns as messages, grouped by exchange: a user message and its answers."""
        groups: list[list[dict[str, str]]] = []
        for turn in self.turns:
            content = turn.content
            if turn.cut:
                # Tell the model the rest was never heard, without inventing words.
                content = content.rstrip() + "…"
            message = {"role": turn.role, "content": content}
            if turn.role == "user" or not groups:
                groups.append([message])
            else:
                groups[-1].append(message)
        return groups


def letters(text: str) -> int:
    """Letters and digits in `text`: how far along an answer the avatar is, counted the
    same whether its own pieces come back with other spaces or punctuation."""
    return sum(1 for ch in text if ch.isalnum())


def begun(sentences: list[str], heard_letters: int) -> list[str]:
    """The sentences the avatar began speaking, given the letters of its own words that
    came back (`from: "bot"` pieces carry no sentence id; they are matched by position)."""
    out: list[str] = []
    before = 0
    for sentence in sentences:
        if heard_letters <= before:
            break
        out.append(sentence)
        before += letters(sentence)
    return out


def _fit(system: list[dict[str, str]], groups: list[list[dict[str, str]]], budget: int) -> None:
    """Drop the oldest exchanges, then the newest one's answers, then shorten its question,
    until the messages fit ``budget`` (in place)."""
    total = estimate_messages_tokens(system) + sum(estimate_messages_tokens(g) for g in groups)
    while len(groups) > 1 and total > budget:
        total -= estimate_messages_tokens(groups.pop(0))
    if not groups or total <= budget:
        return
    newest = groups[-1]
    while len(newest) > 1 and total > budget:  # answers after the newest question
        total -= estimate_messages_tokens([newest.pop()])
    if total > budget and newest[0]["role"] == "user":
        room = budget - estimate_messages_tokens(system) - MESSAGE_OVERHEAD
        room = max(room, MIN_USER_TOKENS)
        newest[0]["content"] = newest[0]["content"][: room * CHARS_PER_TOKEN]


def _merge_roles(
    system: list[dict[str, str]], messages: list[dict[str, str]]
) -> list[dict[str, str]]:
    """``system`` then ``messages``, with consecutive messages of one role joined."""
    out = list(system)
    for message in messages:
        if out and out[-1]["role"] == message["role"] and message["role"] != "system":
            out[-1] = {
                "role": message["role"],
                "content": f"{out[-1]['content']}\n\n{message['content']}",
            }
        else:
            out.append(message)
    return out


# ---------------------------------------------------------------------------------------
# Answer cache


def normalize_question(question: str) -> str:
    """The form two questions share when they are "the same": NFKC (full-width to
    ASCII), casefolded, whitespace collapsed, trailing punctuation dropped."""
    text = " ".join(unicodedata.normalize("NFKC", question).casefold().split())
    end = len(text)
    while end and (text[end - 1].isspace() or unicodedata.category(text[end - 1])[0] == "P"):
        end -= 1
    return text[:end]


def cache_key(preset_slug: str, question: str, *, salt: str = "") -> str:
    """sha256 hex naming the cached answer to ``question`` as a preset's first question.

    ``salt`` should carry whatever else shapes the answer (the system prompt, the model),
    so editing the preset stops serving answers written for the old prompt.
    """
    material = json.dumps([preset_slug, salt, normalize_question(question)], ensure_ascii=False)
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()
