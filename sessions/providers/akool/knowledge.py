"""AKool's knowledge bases: reading its list and building the create call's body.

AKool documents the list as `data.knowledge_list[]` of `{_id, name, ...}` and the create
call as `name`, `prologue`, `prompt` and `docs[]` of `{name, url, size}`; the rest is read
leniently, as the other readers in parsing.py do.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from sessions.providers.base import CatalogKnowledge, KnowledgeRequest, UpstreamProtocolError

KNOWLEDGE_LIST_PATH = "/api/open/v4/knowledge/list"
KNOWLEDGE_CREATE_PATH = "/api/open/v4/knowledge/create"


def knowledge_key(item: dict[str, Any]) -> str:
    return _text(item.get("_id", item.get("id")))


def parse_knowledge(item: dict[str, Any]) -> CatalogKnowledge:
    docs = item.get("docs") if isinstance(item.get("docs"), list) else []
    urls = tuple(
        _text(doc.get("url")) for doc in docs if isinstance(doc, dict) and _text(doc.get("url"))
    )
    return CatalogKnowledge(
        knowledge_id=knowledge_key(item),
        name=_text(item.get("name")) or knowledge_key(item),
        prologue=_text(item.get("prologue")),
        prompt=_text(item.get("prompt")),
        doc_urls=urls,
    )


def create_body(request: KnowledgeRequest) -> dict[str, Any]:
    """The create call's body. Each document is named after its URL's last path segment;
    its `size` is left out: we pass URLs and do not download the documents to weigh them."""
    body: dict[str, Any] = {"name": request.name}
    if request.prologue:
        body["prologue"] = request.prologue
    if request.prompt:
        body["prompt"] = request.prompt
    body["docs"] = [{"name": _doc_name(url), "url": url} for url in request.doc_urls]
    return body


def created_id(answer: dict[str, Any]) -> str:
    data = answer.get("data")
    knowledge_id = knowledge_key(data) if isinstance(data, dict) else ""
    if not knowledge_id:
        raise UpstreamProtocolError("AKool created the knowledge base but sent no id for it.")
    return knowledge_id


def _doc_name(url: str) -> str:
    path = urlsplit(url).path.rstrip("/")
    return unquote(path.rsplit("/", 1)[-1])[:200] or urlsplit(url).netloc


def _text(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value).strip()
