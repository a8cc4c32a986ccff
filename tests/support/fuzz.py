"""Hypothesis strategies for the websocket fuzz tests (the session socket's in
tests/realtime/test_fuzz.py, the sandbox avatar's in tests/providers/sandbox/test_fuzz.py),
and `generate`, the seeded generate-only run that draws their messages up front."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, Phase, given, seed
from hypothesis import settings as hsettings
from hypothesis import strategies as st

SET_PARAM_KEYS = ["voice", "language", "mode", "background_url"]
PENDING_MID = "<pending-command-mid>"  # replaced by the last command mid the server sent


def generate(strategy: st.SearchStrategy, count: int, at: int) -> list[Any]:
    """`count` examples of `strategy`, the same ones every run: a plain seeded generation
    run (no shrinking, no example database) that collects what it is given. One message
    per example: Hypothesis never repeats a choice sequence across examples, while inside
    one list it happily repeats its simplest element."""
    found: list[Any] = []
    with _without_local_constants():
        _collect(strategy, count, at, found)
    return found


@contextlib.contextmanager
def _without_local_constants() -> Iterator[None]:
    """Hypothesis also draws literals found in the project's own modules (sessions/,
    tools/: every one loaded so far). Then any edit there, or which modules a run
    happened to import first, would change the examples; without them they depend only
    on the seed and the strategies. (Hypothesis internals: if they move, examples merely
    stop being independent of the project's literals.)"""
    try:
        from hypothesis.internal.conjecture import providers

        original = providers._get_local_constants
        empty = providers.Constants()
        cache = providers.CONSTANTS_CACHE.cache
    except (ImportError, AttributeError):
        yield
        return
    providers._get_local_constants = lambda: empty
    cache.clear()  # allowed constants computed with the project's literals
    try:
        yield
    finally:
        providers._get_local_constants = original
        cache.clear()


def _collect(strategy: st.SearchStrategy, count: int, at: int, found: list[Any]) -> None:
    @seed(at)
    @hsettings(
        max_examples=count,
        phases=[Phase.generate],
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(example: Any) -> None:
        found.append(example)

    collect()


def weighted(*pairs: tuple[st.SearchStrategy, int]) -> st.SearchStrategy:
    """One of the strategies, each drawn `weight` times as often as a weight of 1 (one_of
    itself drops repeated branches, so repeating a branch does not weigh it)."""
    picks = [index for index, (_, weight) in enumerate(pairs) for _ in range(weight)]
    return st.sampled_from(picks).flatmap(lambda index: pairs[index][0])


def long_text(low: int, high: int) -> st.SearchStrategy:
    """Cheap long strings (drawing thousands of characters one by one is slow)."""
    return st.builds(
        lambda head, char, count: head + char * count,
        st.text(max_size=10),
        st.sampled_from(["x", " ", "é", "語", "🙂", "\x00", "\n"]),
        st.integers(low, high),
    )


scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)
edge_texts = st.sampled_from(
    [
        "",
        " ",
        " \t\n\r ",
        "\u00a0\u2003",
        "\u200b",
        "\x00",
        "nul\x00inside",
        "\x1b[31mred",
        "🙂" * 50,
        "\U0010ffff",
        "e\u0301" * 30,
        "<script>alert(1)</script>",
        "'; DROP TABLE sessions_avatarsession; --",
        "{{ settings.SECRET_KEY }}",
        "\\u0000",
        "\ufeffbom",
        "مرحبا بالعالم",
        "x" * 4000,
        "x" * 4001,
        "é" * 4000,
        "é" * 4001,
        "hello there",
    ]
)
chat_texts = weighted(
    (st.text(min_size=1, max_size=80), 4),
    (edge_texts, 2),
    (long_text(3985, 4010), 2),
    (long_text(100, 2000), 1),
)
urls = weighted(
    (
        st.sampled_from(
            [
                "",
                "https://example.com/bg.png",
                "http://localhost/x.jpg",
                "javascript:alert(1)",
                "ftp://example.com/a",
                "https://",
                "http://exa mple.com",
                "https://example.com/" + "a" * 900,
                "https://example.com/" + "a" * 980,
                "https://example.com/" + "é" * 300,
                "https://example.com/" + "a" * 981,
            ]
        ),
        3,
    ),
    (st.builds(lambda path: "https://example.com/" + quote(path), st.text(max_size=30)), 1),
    (st.text(max_size=40), 1),
)
param_values = {
    "voice": weighted(
        (st.sampled_from(["warm", "lyon", "calm", "nope", "", "WARM"]), 3), (json_values, 1)
    ),
    "language": weighted(
        (st.sampled_from(["en", "fr", "ja", "xx", "", "EN"]), 3), (json_values, 1)
    ),
    "mode": weighted(
        (st.sampled_from([1, 2, 1, 2, 0, 3, True, False, 2.0, "1", None]), 3), (json_values, 1)
    ),
    "background_url": weighted((urls, 3), (json_values, 1)),
}
params = weighted(
    (
        st.sets(st.sampled_from(SET_PARAM_KEYS), min_size=1).flatmap(
            lambda keys: st.fixed_dictionaries({k: param_values[k] for k in sorted(keys)})
        ),
        4,
    ),
    (
        st.dictionaries(
            st.sampled_from(SET_PARAM_KEYS) | st.text(max_size=10), json_values, max_size=5
        ),
        1,
    ),
    (json_values, 1),
)


def _stream_pld(kind: str) -> st.SearchStrategy:
    if kind == "chat":
        return st.fixed_dictionaries(
            {"text": weighted((chat_texts, 4), (json_values, 1))},
            optional={
                "from": weighted(
                    (st.sampled_from(["bot", "user", None, "avatar"]), 4), (json_values, 1)
                ),
                "idx": weighted((st.integers(-2, 5000), 4), (json_values, 1)),
                "fin": weighted((st.booleans(), 4), (json_values, 1)),
            },
        )
    if kind == "command":
        return st.fixed_dictionaries(
            {
                "cmd": weighted(
                    (st.sampled_from(["set-params", "interrupt", "dance", ""]), 4),
                    (st.text(max_size=20), 1),
                )
            },
            optional={
                "code": weighted(
                    (st.sampled_from([1000, 1001, 1002, None, "1000", True, 1000.0]), 4),
                    (json_values, 1),
                ),
                "msg": weighted((st.text(max_size=40), 4), (json_values, 1)),
                "data": weighted(
                    (
                        st.fixed_dictionaries(
                            {},
                            optional={
                                "vid": st.text(max_size=10) | json_values,
                                "lang": st.text(max_size=5) | json_values,
                                "mode": st.sampled_from([1, 2, 3, True]) | json_values,
                                "bgurl": urls,
                                "vparams": json_values,
                            },
                        ),
                        4,
                    ),
                    (json_values, 1),
                ),
            },
        )
    if kind == "event":
        return st.fixed_dictionaries(
            {"event": st.sampled_from(["audio_start", "audio_end", "sandbox_violation", "", "x"])},
            optional={"reason": st.text(max_size=60) | json_values, "extra": json_values},
        )
    return json_values


stream_messages = st.sampled_from(["chat", "chat", "command", "command", "event", "other"]).flatmap(
    lambda kind: st.fixed_dictionaries(
        {
            "v": st.sampled_from([2, 2, 2, 2, 2, 2, 1, "2", 2.0, True, None]),
            "type": weighted((st.just(kind), 6), (st.text(max_size=8), 1)),
            "pld": _stream_pld(kind),
        },
        optional={
            "mid": weighted(
                (st.sampled_from(["m1", "m2", "m3", "", PENDING_MID, PENDING_MID]), 4),
                (st.text(max_size=20), 1),
                (json_values, 1),
            ),
            "idx": weighted((st.integers(-1, 4100), 4), (json_values, 1)),
            "fin": weighted((st.booleans(), 4), (json_values, 1)),
        },
    )
)
stream_data = weighted(
    (stream_messages.map(json.dumps), 3),
    (stream_messages.map(lambda m: json.dumps(m, ensure_ascii=False)), 2),
    (json_values.map(json.dumps), 1),
    (st.text(max_size=100), 1),
)


def _with_extras(base: dict[str, Any], extras: dict[str, Any]) -> dict[str, Any]:
    return {**extras, **base}


extras = weighted(
    (st.just({}), 3), (st.dictionaries(st.text(max_size=10), json_values, max_size=3), 1)
)


def _message(kind: str, **fields: st.SearchStrategy) -> st.SearchStrategy:
    return st.builds(_with_extras, st.fixed_dictionaries({"type": st.just(kind), **fields}), extras)


unknown_type = weighted(
    (st.sampled_from(["Chat", "chat ", "CHAT", "ping", "", "x" * 100, "set-params"]), 2),
    (st.text(max_size=50), 1),
)
known_messages = weighted(
    (_message("chat", text=chat_texts), 5),
    (st.fixed_dictionaries({"type": st.just("chat")}, optional={"text": json_values}), 1),
    (_message("set_params", params=params), 5),
    (st.fixed_dictionaries({"type": st.just("set_params")}, optional={"params": json_values}), 1),
    (_message("rtc_message", data=stream_data), 7),
    (st.fixed_dictionaries({"type": st.just("rtc_message")}, optional={"data": json_values}), 1),
    (_message("interrupt"), 1),
    (_message("rtc_send_failed"), 1),
    (st.builds(_with_extras, st.fixed_dictionaries({"type": unknown_type}), extras), 1),
    (st.fixed_dictionaries({"type": json_values}), 1),
)


def _frame_text(obj: Any, ascii_only: bool) -> str:
    return json.dumps(obj, ensure_ascii=ascii_only)


# A generated session message: ("text", str) or ("bytes", bytes).
session_messages = weighted(
    (st.tuples(st.just("text"), st.builds(_frame_text, known_messages, st.booleans())), 16),
    (st.tuples(st.just("text"), json_values.map(json.dumps)), 1),
    (st.tuples(st.just("text"), st.text(max_size=200)), 1),
    (st.tuples(st.just("bytes"), st.binary(max_size=200)), 1),
    (
        st.tuples(
            st.just("text"),
            st.builds(
                lambda text, wrap: json.dumps({"type": "chat", "text": text}) if wrap else text,
                long_text(19_980, 120_000),
                st.booleans(),
            ),
        ),
        1,
    ),
    (st.tuples(st.just("bytes"), st.integers(20_000, 200_000).map(lambda n: b"\x00" * n)), 1),
)


async def send_frame(ws, kind: str, payload: str | bytes) -> None:
    """One websocket frame (`send_to` refuses empty ones, which a client may send)."""
    key = "bytes" if kind == "bytes" else "text"
    await ws.send_input({"type": "websocket.receive", key: payload})
