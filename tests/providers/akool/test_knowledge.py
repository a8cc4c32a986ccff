"""AkoolProvider's knowledge base calls against the fake AKool: the list (paged, retried:
idempotent) and the create (its body, its id; never retried)."""

from __future__ import annotations

import pytest

from sessions.providers.base import (
    KnowledgeRequest,
    ProviderError,
    UpstreamProtocolError,
    UpstreamRefused,
)
from tests.providers.akool.helpers import key_provider
from tests.support.fakes.akool_catalog import make_knowledge
from tests.support.fakes.akool_server import FakeAkool

pytestmark = pytest.mark.asyncio


async def test_the_list_is_mapped(fake: FakeAkool) -> None:
    bases = await key_provider(fake).list_knowledge()

    assert [b.knowledge_id for b in bases] == ["fake_kb_import_001", "fake_kb_import_002"]
    first = bases[0]
    assert (first.name, first.prologue) == ("Fake Knowledge 1", "Hello from knowledge base 1.")
    assert first.prompt == "Answer questions about product line 1."
    assert first.doc_urls == ("https://fake.akool.test/docs/1.pdf",)


async def test_the_list_is_paged(fake: FakeAkool) -> None:
    fake.knowledge = [make_knowledge(i) for i in range(1, 131)]

    bases = await key_provider(fake).list_knowledge()

    assert len(bases) == 130
    assert [r.query["page"] for r in fake.requests_to("knowledge_list")] == ["1", "2"]


async def test_the_list_is_retried(fake: FakeAkool) -> None:
    fake.fail("knowledge_list", "http500", times=1)
    assert len(await key_provider(fake).list_knowledge()) == 2
    assert fake.count("knowledge_list") == 2


async def test_the_create_sends_its_fields_and_returns_the_id(fake: FakeAkool) -> None:
    request = KnowledgeRequest(
        name="Guide",
        prologue="Hi!",
        prompt="Be a guide.",
        doc_urls=("https://example.org/a/Guide%201.pdf", "https://example.org/"),
    )

    knowledge_id = await key_provider(fake).create_knowledge(request)

    (sent,) = fake.requests_to("knowledge_create")
    assert sent.json == {
        "name": "Guide",
        "prologue": "Hi!",
        "prompt": "Be a guide.",
        "docs": [
            {"name": "Guide 1.pdf", "url": "https://example.org/a/Guide%201.pdf"},
            {"name": "example.org", "url": "https://example.org/"},
        ],
    }
    assert knowledge_id == fake.knowledge[-1]["_id"]


async def test_empty_fields_are_left_out(fake: FakeAkool) -> None:
    await key_provider(fake).create_knowledge(KnowledgeRequest(name="Bare"))
    assert fake.requests_to("knowledge_create")[0].json == {"name": "Bare", "docs": []}


async def test_the_create_is_never_retried(fake: FakeAkool) -> None:
    fake.fail("knowledge_create", "http500", times=1)
    with pytest.raises(ProviderError):
        await key_provider(fake).create_knowledge(KnowledgeRequest(name="Once"))
    assert fake.count("knowledge_create") == 1


async def test_a_refusal_carries_akools_message(fake: FakeAkool) -> None:
    fake.fail("knowledge_create", "code", msg="too many knowledge bases")
    with pytest.raises(UpstreamRefused) as caught:
        await key_provider(fake).create_knowledge(KnowledgeRequest(name="One"))
    assert "too many knowledge bases" in caught.value.message


async def test_a_create_answer_without_an_id_is_a_protocol_error(fake: FakeAkool) -> None:
    fake.fail("knowledge_create", "json", body={"code": 1000, "msg": "OK", "data": {}})
    with pytest.raises(UpstreamProtocolError):
        await key_provider(fake).create_knowledge(KnowledgeRequest(name="One"))
