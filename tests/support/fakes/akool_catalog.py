"""The fake AKool's catalog: numbered avatars and voices, four languages, and AKool's
paging (`page` from 1, `size` up to 100)."""

from __future__ import annotations

from typing import Any

LANGUAGES = [
    {"lang_code": "en", "lang_name": "English", "url": "https://fake.akool.test/flags/en.png"},
    {"lang_code": "fr", "lang_name": "French", "url": "https://fake.akool.test/flags/fr.png"},
    {"lang_code": "es", "lang_name": "Spanish", "url": "https://fake.akool.test/flags/es.png"},
    {"lang_code": "de", "lang_name": "German", "url": "https://fake.akool.test/flags/de.png"},
]


def make_avatar(index: int) -> dict[str, Any]:
    return {
        "avatar_id": f"fake_avatar_{index:03d}",
        "name": f"Fake Avatar {index}",
        "type": 2,
        "from": 2,
        "gender": "female" if index % 2 else "male",
        "url": f"https://fake.akool.test/avatars/{index}.mp4",
        "thumbnailUrl": f"https://fake.akool.test/avatars/{index}.jpg",
        "voice_id": f"fake_voice_{index % 3:03d}",
        "available": True,
    }


def make_voice(index: int) -> dict[str, Any]:
    return {
        "voice_id": f"fake_voice_{index:03d}",
        "name": f"Fake Voice {index}",
        "gender": "female" if index % 2 else "male",
        "language": "English",
        "locale": "en-US",
        "preview": f"https://fake.akool.test/voices/{index}.mp3",
    }


def make_knowledge(index: int) -> dict[str, Any]:
    return {
        "_id": f"fake_kb_import_{index:03d}",
        "name": f"Fake Knowledge {index}",
        "prologue": f"Hello from knowledge base {index}.",
        "prompt": f"Answer questions about product line {index}.",
        "docs": [{"name": f"guide{index}.pdf", "url": f"https://fake.akool.test/docs/{index}.pdf"}],
    }


def page_of(items: list[Any], query: dict[str, str]) -> list[Any]:
    try:
        page = max(1, int(query.get("page", "1")))
        size = min(100, max(1, int(query.get("size", "10"))))
    except ValueError:
        page, size = 1, 10
    return items[(page - 1) * size : page * size]
