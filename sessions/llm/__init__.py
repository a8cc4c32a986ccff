"""The operator's own LLM, in plain Python (no Django): a streaming OpenAI-compatible chat
client (``client``, over ``sse``), and what turns its stream into speech as early as
possible (``sentences``), within a session's conversation (``conversation``).

The pipeline in a mode-1 (retelling) session (services.answers builds it)::

    conversation.add_user(text)
    splitter = SentenceSplitter()
    async with contextlib.aclosing(stream_chat(config, conversation.messages())) as pieces:
        async for piece in pieces:                      # shown in the transcript at once
            for sentence in splitter.feed(piece):       # released to the avatar at once
                pacer.submit(chunker.chat_frames(sentence))
    rest = splitter.flush()                             # the last sentence

Each sentence is its own chat message (its own ``mid``, ``fin: true``), not one chunk of a
message shared by the whole answer: the avatar assembles a message until its ``fin`` and
speaks each complete chat as it arrives, queuing it behind the one it is speaking. An
answer-wide ``mid`` would keep ``fin`` back until the LLM finished, which is exactly the
wait this pipeline exists to remove.
"""
