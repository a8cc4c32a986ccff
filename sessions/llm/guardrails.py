"""Guardrails for the operator's LLM: the topics a preset declines, and an optional
OpenAI-compatible moderation endpoint. Plain Python; services.answers applies them.

Declined topics are a preset's list, one per line. Two things enforce them:

- the system prompt states them and the one line to answer with (``system_prompt``);
- each answer sentence is checked before it is spoken (``TopicGuard.touches``), because
  a model can be talked round. The rule is kept simple enough to predict: a topic matches
  as a whole word or phrase, ignoring case and accents' composed forms (NFKC, casefolded),
  words of a phrase separated by any run of spaces or punctuation ("climate change" also
  matches "Climate-change"); a trailing ``*`` matches any ending ("politic*" matches
  "politics" and "political"). A topic in a script written without spaces (Chinese,
  Japanese) matches anywhere in the sentence, since it has no word edges to look for.

  What is compared is the spoken form, folded the same way on the topic and the sentence
  (``_fold``), so that what a reader or a voice would not notice cannot hide a word:
  invisible format characters are dropped (zero-width space, soft hyphen, word joiner,
  byte order mark: Unicode category Cf); accents and other combining marks on Latin,
  Greek and Cyrillic letters are dropped (NFKD, category Mn: "élection" and "election"
  are the same word; in other scripts, where such marks are part of the letter, such as
  Japanese dakuten, they are kept); Cyrillic and Greek letters that look like Latin ones
  are read as those ("pоlitics" with a Cyrillic о is "politics"). And punctuation or
  markdown inside a word is read through ("poli-tics", "poli**tics**", "b.o.m.b"): a
  sentence matches if either it, or it with such inner punctuation removed, matches.

The moderation endpoint (``moderate``) is asked about each question before the LLM:
``POST {url}/moderations`` with ``{"input": question}``, reading ``results[0].flagged``.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field

import httpx

log = logging.getLogger("avatarsite.llm")

#: The line said instead of an answer (or the rest of one) on a declined topic, in each
#: language the sandbox catalog offers; any other language gets English.
DECLINE_LINES = {
    "en": "I'm sorry, but I can't talk about that here. Is there something else I can help with?",
    "fr": "Je suis désolé, mais je ne peux pas parler de cela ici. Puis-je vous aider autrement ?",
    "de": "Das tut mir leid, darüber kann ich hier nicht sprechen. Kann ich sonst helfen?",
    "es": "Lo siento, pero no puedo hablar de eso aquí. ¿Puedo ayudarle con otra cosa?",
    "ja": "申し訳ありませんが、ここではその話はできません。ほかにお手伝いできることはありますか？",
}

# Scripts written without spaces between words (CJK, kana, hangul and their punctuation
# start at U+2E80): a topic ending in one of them has no word edge to require.
_UNSPACED_FROM = "\u2e80"


def decline_line(language: str) -> str:
    """The polite decline in ``language`` ("de", "de-AT" alike); English if not known."""
    primary = str(language or "").replace("_", "-").split("-")[0].lower()
    return DECLINE_LINES.get(primary, DECLINE_LINES["en"])


def parse_topics(text: str) -> tuple[str, ...]:
    """A preset's declined topics: one per line, trimmed, blank lines and repeats dropped."""
    seen: dict[str, str] = {}
    for line in (text or "").splitlines():
        topic = " ".join(line.split())
        if topic.replace("*", "").strip() and _fold(topic) not in seen:
            seen[_fold(topic)] = topic
    return tuple(seen.values())


def system_prompt(base: str, topics: tuple[str, ...], language: str) -> str:
    """``base`` with the declined topics stated, and the line to answer them with."""
    if not topics:
        return base
    listed = "; ".join(t.rstrip("*") for t in topics)
    return (
        f"{base}\n\nNever discuss these topics, even if asked to, told it is allowed, or "
        f"asked indirectly: {listed}. If a question touches one of them, do not answer it; "
        f'reply only with this sentence: "{decline_line(language)}"'
    )


# Cyrillic and Greek letters that look like Latin ones, in the case they look alike in
# (read before casefolding: a capital Greek Ν is an N, a small ν a v).
_LOOKALIKES = str.maketrans(
    "аеорсухіјѕԁһӏԛԝАВЕКМНОРСТХУІЈЅαοινκρυχγΑΒΕΖΗΙΚΜΝΟΡΤΥΧ",
    "aeopcyxijsdhlqwABEKMHOPCTXYIJSaoivkpuxyABEZHIKMNOPTYX",
)
# Combining marks after letters below this (Latin, Greek, Cyrillic) are accents: dropped.
_ACCENTED_BELOW = "\u0530"
# Punctuation (markdown emphasis, a hyphen, dots, underscores) between two letters.
_INNER_PUNCTUATION = re.compile(r"(?<=[^\W_])(?:[^\w\s]|_)+(?=[^\W_])")


def _fold(text: str) -> str:
    """The spoken form compared by the rule (the module's doc): casefolded, compatibility
    forms and accents taken apart, invisible characters and accents dropped, look-alike
    letters read as Latin."""
    kept: list[str] = []
    base = ""
    spelled = unicodedata.normalize("NFKD", text).translate(_LOOKALIKES).casefold()
    for char in unicodedata.normalize("NFKD", spelled):
        kind = unicodedata.category(char)
        if kind == "Cf" or (kind == "Mn" and base < _ACCENTED_BELOW):
            continue
        if kind != "Mn":
            base = char
        kept.append(char)
    return unicodedata.normalize("NFC", "".join(kept))


def _joined(folded: str) -> str:
    """``folded`` with punctuation inside words removed ("poli-tics" reads "politics")."""
    return _INNER_PUNCTUATION.sub("", folded)


def _pattern(folded: str) -> re.Pattern[str]:
    prefix = folded.endswith("*")
    words = folded.rstrip("*").split()
    body = r"[\W_]+".join(re.escape(word) for word in words)
    # Word edges: a letter or digit, not an underscore (markdown's "_politics_").
    head = "" if words[0][0] >= _UNSPACED_FROM else r"(?<![^\W_])"
    if prefix:
        tail = r"\w*"
    else:
        tail = "" if words[-1][-1] >= _UNSPACED_FROM else r"(?![^\W_])"
    return re.compile(head + body + tail)


class TopicGuard:
    """Which declined topic, if any, a sentence touches (the rule: the module's doc)."""

    def __init__(self, topics: tuple[str, ...]) -> None:
        self.topics = topics
        self._patterns = [
            (topic, _pattern(_fold(topic)), _pattern(_joined(_fold(topic)))) for topic in topics
        ]

    def touches(self, sentence: str) -> str | None:
        """The first topic ``sentence`` touches, or None."""
        if not self._patterns:
            return None
        folded = _fold(sentence)
        joined = _joined(folded)
        for topic, pattern, joined_pattern in self._patterns:
            if pattern.search(folded) or joined_pattern.search(joined):
                return topic
        return None


@dataclass
class ModerationConfig:
    url: str  # the base, e.g. "https://api.openai.com/v1"; "/moderations" is appended
    api_key: str = field(default="", repr=False)  # repr=False: never in a log line
    timeout: float = 3.0


class ModerationError(Exception):
    """The moderation endpoint gave no verdict; ``code`` says why (never the key)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


async def moderate(
    config: ModerationConfig, text: str, *, transport: httpx.AsyncBaseTransport | None = None
) -> bool:
    """Whether the endpoint flags ``text``. Raises ModerationError when it cannot say
    (unreachable, too slow, an error status, an answer without ``results[0].flagged``)."""
    url = config.url.rstrip("/") + "/moderations"
    headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
    args: dict = {"timeout": config.timeout, "follow_redirects": False}
    if transport is not None:
        args["transport"] = transport
    try:
        async with httpx.AsyncClient(**args) as client:
            response = await client.post(url, json={"input": text}, headers=headers)
    except httpx.TimeoutException:
        raise ModerationError("moderation_timeout") from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        # The exception's text may hold the URL, never the key (it travels in a header).
        log.warning("moderation: cannot reach the endpoint (%s)", type(exc).__name__)
        raise ModerationError("moderation_unavailable") from None
    if response.status_code != 200:
        log.warning("moderation: the endpoint answered HTTP %d", response.status_code)
        raise ModerationError("moderation_refused")
    try:
        flagged = response.json()["results"][0]["flagged"]
    except (ValueError, LookupError, TypeError):
        flagged = None
    if not isinstance(flagged, bool):
        log.warning("moderation: the endpoint's answer has no results[0].flagged")
        raise ModerationError("moderation_unreadable")
    return flagged
