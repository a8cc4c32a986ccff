"""The conversation sent to the LLM and the answer cache's key (sessions/llm/conversation.py)."""

from __future__ import annotations

from sessions.llm.conversation import (
    MESSAGE_OVERHEAD,
    Conversation,
    cache_key,
    estimate_messages_tokens,
    estimate_tokens,
)

# --- conversation ---------------------------------------------------------------------------


def test_the_conversation_renders_system_first_then_turns():
    talk = Conversation("Be brief.")
    talk.add_user("Hi")
    talk.add_assistant("Hello!")
    talk.add_user("Where is the exit?")
    assert talk.messages() == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Where is the exit?"},
    ]


def test_a_cut_answer_is_marked_and_an_empty_one_is_left_out():
    talk = Conversation("Be brief.")
    talk.add_user("Tell me a story")
    talk.add_assistant("Once upon a ", cut=True)
    talk.add_user("Shorter please")
    talk.add_assistant("", cut=True)  # interrupted before a word
    talk.add_user("Hello?")
    assert talk.messages()[1:] == [
        {"role": "user", "content": "Tell me a story"},
        {"role": "assistant", "content": "Once upon a…"},
        # Roles alternate: two questions in a row become one message.
        {"role": "user", "content": "Shorter please\n\nHello?"},
    ]


def test_the_oldest_turns_are_dropped_first_to_fit_the_budget():
    talk = Conversation("S" * 40, token_budget=200)  # the system prompt: 10 + 4 tokens
    for i in range(30):
        talk.add_user(f"question {i:02d} " + "q" * 40)
        talk.add_assistant(f"answer {i:02d} " + "a" * 60)
    talk.add_user("the newest question")
    messages = talk.messages()
    assert estimate_messages_tokens(messages) <= 200
    assert messages[0]["role"] == "system"
    assert messages[1]["role"] == "user"  # history starts with a question
    assert messages[-1] == {"role": "user", "content": "the newest question"}
    kept = [m["content"][:11] for m in messages[1:-1] if m["role"] == "user"]
    assert kept and kept == sorted(kept) and kept[-1] == "question 29"
    assert "question 00" not in kept


def test_the_newest_question_is_kept_and_truncated_if_it_alone_overflows():
    talk = Conversation("Be brief.", token_budget=100)
    talk.add_user("old question")
    talk.add_assistant("old answer")
    talk.add_user("x" * 2000)
    messages = talk.messages()
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[0]["content"] == "Be brief."
    assert messages[1]["content"] == "x" * len(messages[1]["content"])
    assert estimate_messages_tokens(messages) <= 100


def test_token_estimates():
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2
    assert estimate_messages_tokens([{"role": "user", "content": "abcd"}]) == 1 + MESSAGE_OVERHEAD


# --- the answer cache's key ------------------------------------------------------------------


def test_the_cache_key_ignores_case_spacing_and_trailing_punctuation():
    base = cache_key("ada", "What are the opening hours?")
    assert base == cache_key("ada", "  what are   the OPENING hours ")
    assert base == cache_key("ada", "What are the opening hours?!…")
    assert base == cache_key("ada", "ＷＨＡＴ are the opening hours？")  # full-width
    assert base != cache_key("cleo", "What are the opening hours?")
    assert base != cache_key("ada", "What are the closing hours?")
    assert base != cache_key("ada", "What are the opening hours?", salt="new prompt")
    assert len(base) == 64 and int(base, 16) >= 0
