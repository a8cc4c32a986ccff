"""What the LLM remembers of an interrupted answer (issue 19): the sentences the avatar
began, matched by the letters of its own words that came back."""

from __future__ import annotations

from sessions.llm.conversation import Conversation, begun, letters

SENTENCES = ["The museum opens at nine. ", "Tickets cost twelve euros. ", "Enjoy!"]


def test_sentences_are_begun_as_far_as_the_avatars_words_came_back():
    assert begun(SENTENCES, 0) == []
    assert begun(SENTENCES, 1) == SENTENCES[:1]
    first = letters(SENTENCES[0])
    assert first == 20
    assert begun(SENTENCES, first) == SENTENCES[:1]  # all of the first, none of the second
    assert begun(SENTENCES, first + 1) == SENTENCES[:2]
    assert begun(SENTENCES, 10_000) == SENTENCES
    # Spacing and punctuation of the pieces that come back do not matter.
    assert letters("The museum opens at ") == letters("The museum-opens at")


def test_a_cut_last_answer_keeps_what_was_heard_and_says_it_was_cut():
    talk = Conversation("system")
    talk.add_user("Tell me")
    talk.add_assistant("".join(SENTENCES))
    talk.cut_last_answer(SENTENCES[0])
    assert talk.messages()[-1] == {"role": "assistant", "content": "The museum opens at nine.…"}
    talk.cut_last_answer("")  # nothing heard: as if never said
    assert talk.messages()[-1] == {"role": "user", "content": "Tell me"}
