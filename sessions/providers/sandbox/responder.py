"""The sandbox avatar's built-in dialogue partner (mode 2 without an LLM).

It only has to make a conversation with the sandbox feel alive: short, varied replies
that visibly relate to what was said, in the session's language (every language the
sandbox catalog offers: English here, the others in ``phrases``; any other language gets
English, as a real avatar falls back to its default); a reply in another language than
English is wholly in it, quoting no word of a message written in English. Replies are
deterministic (a SHA-256 of the text and the turn picks the template, never Python's
per-process randomised ``hash``), so tests and demos repeat exactly.
"""

from __future__ import annotations

import hashlib
import re

from sessions.providers.sandbox import phrases

#: Longer than this, the reply says so instead of pretending to have read it all.
LONG_INPUT = 600
#: A topic is quoted back, so it is capped: a 5,000-character "word" must not make a long
#: reply.
MAX_TOPIC = 40

#: How much of a knowledge base's instructions a reply quotes.
MAX_FOCUS = 80
_STEERED_KINDS = ("greeting", "generic_question", "generic_statement")

_WORD = re.compile(r"\w+(?:['’-]\w+)*", re.UNICODE)

_GREETINGS = {
    "hi", "hello", "hey", "hiya", "howdy", "greetings", "morning", "evening", "afternoon",
    "bonjour", "salut", "hola", "hallo", "ciao", "ola", "olá", "namaste", "yo",
}  # fmt: skip
_GREETING_TEXT = ("你好", "您好", "こんにちは", "안녕", "привет", "مرحبا")
_THANKS = {"thanks", "thank", "thx", "merci", "gracias", "danke", "cheers"}
_BYES = {"bye", "goodbye", "farewell", "later", "ciao", "revoir"}
_QUESTION_WORDS = {
    "what", "why", "how", "when", "where", "who", "whom", "whose", "which",
    "can", "could", "would", "should", "will", "do", "does", "did", "is", "are",
    "was", "were", "may", "might", "shall", "have", "has",
}  # fmt: skip
_STOPWORDS = _QUESTION_WORDS | {
    "the", "a", "an", "and", "or", "but", "if", "then", "than", "so", "of", "to", "in",
    "on", "at", "by", "for", "with", "about", "from", "into", "over", "under", "it",
    "its", "this", "that", "these", "those", "there", "here", "i", "me", "my", "mine",
    "you", "your", "yours", "we", "our", "they", "their", "he", "she", "him", "her",
    "his", "them", "be", "been", "being", "am", "not", "no", "yes", "just", "very",
    "really", "please", "tell", "know", "think", "like", "want", "need", "some", "any",
    "much", "many", "more", "most", "also", "too", "all", "thing", "things", "something",
    "anything", "everything", "get", "got", "make", "let", "lets", "okay", "ok", "well",
    "good", "great", "nice", "today", "now",
}  # fmt: skip
_ENGLISH_WORDS = frozenset(_STOPWORDS)
_STOPWORDS |= phrases.STOPWORDS
_GREETINGS |= phrases.GREETINGS
_THANKS |= phrases.THANKS
_BYES |= phrases.BYES

_EMPTY = (
    "I didn't catch that. Could you say it again?",
    "Sorry, I heard nothing there. What would you like to talk about?",
    "It seems the message was empty. Try typing a question for me.",
)
_GREETING_REPLIES = (
    "Hello! Nice to meet you. What would you like to talk about?",
    "Hi there! I'm the sandbox avatar. Ask me anything.",
    "Hey! Good to see you. How can I help today?",
    "Greetings! I'm listening, so go ahead.",
)
_THANKS_REPLIES = (
    "You're welcome! Anything else on your mind?",
    "Happy to help. What's next?",
    "Any time! Is there something else you'd like to know?",
)
_BYE_REPLIES = (
    "Goodbye! It was nice talking with you.",
    "See you soon! Take care.",
    "Bye for now. Come back any time.",
)
_QUESTION_REPLIES = (
    "Good question about {topic}. In this sandbox I can only give a simulated answer, "
    "but a real avatar would explain it here.",
    "You're asking about {topic}. Let me think... I'd say it depends on what matters most to you.",
    "{Topic} is a big subject! Which part interests you most?",
    "Ah, {topic}. Short answer: yes, it can be done. Want the longer version?",
    "I'm glad you asked about {topic}. Many people wonder the same thing.",
)
_GENERIC_QUESTIONS = (
    "That's a good question. What made you think of it?",
    "Hmm, let me think about that. Could you tell me a little more?",
    "Interesting question! I'd need a bit more detail to answer well.",
)
_STATEMENT_REPLIES = (
    "Tell me more about {topic}.",
    "{Topic}, interesting! What do you like about it?",
    "I see, so this is about {topic}. Go on.",
    "Thanks for sharing that. How does {topic} fit into your day?",
    "Noted: {topic}. What would you like to know about it?",
)
_GENERIC_STATEMENTS = (
    "I see. Please go on.",
    "That's interesting. Tell me more.",
    "Okay! What else would you like to talk about?",
)
_LONG_REPLIES = (
    "That's a lot to take in! The gist I get is {topic}. What's the key point?",
    "Thanks for the detailed message. It seems to be mostly about {topic}.",
    "Quite a long message! Could you sum up what you'd like to know about {topic}?",
)
_CLOSERS = ("", "", " Anything else?", " I'm all ears.", " What do you think?")

ENGLISH = {
    "empty": _EMPTY,
    "greeting": _GREETING_REPLIES,
    "thanks": _THANKS_REPLIES,
    "bye": _BYE_REPLIES,
    "question": _QUESTION_REPLIES,
    "generic_question": _GENERIC_QUESTIONS,
    "statement": _STATEMENT_REPLIES,
    "generic_statement": _GENERIC_STATEMENTS,
    "long": _LONG_REPLIES,
    "closers": _CLOSERS,
}
# What the long reply calls a message with no telling word.
_MANY_THINGS = {
    "fr": "plusieurs choses",
    "de": "vieles",
    "es": "muchas cosas",
    "ja": "いろいろなこと",
}
_PHRASES = {"en": ENGLISH, **phrases.BY_LANGUAGE}
#: The languages the responder answers in (primary subtags: "fr-CA" is answered as "fr").
SPOKEN = frozenset(_PHRASES)


def _pick(options: tuple[str, ...], seed: int, salt: int = 0) -> str:
    return options[(seed >> (8 * salt)) % len(options)]


def _topic(words: list[str]) -> str | None:
    """The most telling word: the longest non-stopword, earliest on ties."""
    candidates = [w for w in words if w.lower() not in _STOPWORDS and not w.isdigit()]
    if not candidates:
        return None
    best = max(candidates, key=len)  # max keeps the first of equal lengths
    if len(best) < 3 and best.isascii():
        return None
    return best[:MAX_TOPIC]


def _said_in(language: str, topic: str | None, lowered: list[str]) -> str | None:
    """``topic`` if it may be quoted back in ``language``, else None (the reply then says
    nothing of it). A reply in French, German, Spanish or Japanese is wholly in that
    language: it quotes a word only from a message written in it, one with more of that
    language's common words than English ones (Japanese: a word in its own script).
    English, also every other language's fallback, quotes whatever it was told."""
    primary = _primary(language)
    if topic is None or primary not in phrases.BY_LANGUAGE:
        return topic
    if primary == "ja":
        return topic if any(ch >= phrases.JAPANESE_SCRIPT_FROM for ch in topic) else None
    own = sum(word in phrases.COMMON_WORDS[primary] for word in lowered)
    english = sum(word in _ENGLISH_WORDS for word in lowered)
    return topic if own > english else None


def _fill(template: str, topic: str) -> str:
    return template.format(topic=topic, Topic=topic[:1].upper() + topic[1:])


def phrases_for(language: str) -> dict[str, tuple[str, ...]]:
    """The replies in ``language`` ("fr", "fr-FR", "FR" alike), English if not spoken."""
    return _PHRASES.get(_primary(language), ENGLISH)


def _primary(language: str) -> str:
    return str(language or "").replace("_", "-").split("-")[0].lower()


def _kind(stripped: str, words: list[str], topic: str | None) -> str:
    """Which kind of reply ``stripped`` (not empty) calls for."""
    lowered = [w.lower() for w in words]
    first = lowered[0] if lowered else ""
    if len(stripped) > LONG_INPUT:
        return "long"
    if (first in _GREETINGS and len(words) <= 6) or stripped.startswith(_GREETING_TEXT):
        return "greeting"
    if first in _THANKS or stripped.startswith(phrases.JAPANESE_OPENERS["thanks"]):
        return "thanks"
    short_bye = bool(lowered) and lowered[-1] in _BYES and len(words) <= 4
    if short_bye or stripped.startswith(phrases.JAPANESE_OPENERS["bye"]):
        return "bye"
    if stripped.endswith(("?", "？")) or first in _QUESTION_WORDS:
        return "question" if topic else "generic_question"
    return "statement" if topic else "generic_statement"


def _steered(answer: str, kind: str, language: str, instructions: str) -> str:
    """A knowledge base's instructions steer the reply: one that finds no topic of its own
    (a greeting, a question or statement without a telling word) says what it is there
    for, quoting the instructions' first line. English only: a reply in another language
    stays wholly in it."""
    focus = instructions.strip().split("\n", 1)[0].strip()
    if not focus or kind not in _STEERED_KINDS or _primary(language) not in ("", "en"):
        return answer
    if len(focus) > MAX_FOCUS:
        focus = focus[:MAX_FOCUS].rsplit(" ", 1)[0] + "…"
    return f'{answer} I follow my instructions: "{focus}"'


def reply(text: str, *, turn: int, language: str = "en", instructions: str = "") -> str:
    """A short (1-3 sentence) reply to ``text`` in ``language``; the same (text, turn,
    language, instructions) gives the same reply."""
    said = phrases_for(language)
    digest = hashlib.sha256(f"{turn}\x00{text}".encode("utf-8", "replace")).digest()
    seed = int.from_bytes(digest[:8], "big")
    stripped = text.strip()
    if not stripped:
        return _pick(said["empty"], seed)
    words = _WORD.findall(stripped[: LONG_INPUT * 4])
    topic = _said_in(language, _topic(words), [w.lower() for w in words])
    kind = _kind(stripped, words, topic)
    answer = _pick(said[kind], seed)
    if kind == "long":
        # Only the long reply needs a topic it may not have found.
        return _fill(answer, topic or _MANY_THINGS.get(_primary(language), "many things"))
    if kind in ("question", "statement"):
        answer = _fill(answer, topic or "")
    if kind == "statement":
        answer += _pick(said["closers"], seed, salt=1)
    return _steered(answer, kind, language, instructions)
