"""The translations as the tests need them: the .po files read, and compiled to the .mo
files Django reads when they are missing or older (`make messages` does it for `make test`
and `make run`; a bare `pytest` gets it here)."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.core.management import call_command

LOCALE = Path(settings.LOCALE_PATHS[0])
SPANISH = LOCALE / "es" / "LC_MESSAGES"
DOMAINS = ("django", "djangojs")

_FIELD = re.compile(r'^(msgctxt|msgid|msgid_plural|msgstr(?:\[\d+\])?) "(.*)"$')


def ensure_compiled() -> None:
    stale = [
        po
        for po in LOCALE.glob("*/LC_MESSAGES/*.po")
        if not po.with_suffix(".mo").exists()
        or po.with_suffix(".mo").stat().st_mtime < po.stat().st_mtime
    ]
    if stale:
        call_command("compilemessages", locale=["es"], verbosity=0)


def entries(po: Path) -> list[dict]:
    """Each live entry of a .po file (not the header, not an obsolete `#~` one): its
    fields (msgctxt, msgid, msgid_plural, msgstr or msgstr[n]) and whether it is fuzzy."""
    found = []
    for block in po.read_text(encoding="utf-8").split("\n\n"):
        fields: dict[str, str] = {}
        fuzzy = False
        current = None
        for line in block.splitlines():
            if line.startswith("#,") and "fuzzy" in line:
                fuzzy = True
            match = _FIELD.match(line)
            if match:
                current = match[1]
                fields[current] = match[2]
            elif line.startswith('"') and current:
                fields[current] += line[1:-1]
        if fields.get("msgid"):
            found.append({**fields, "fuzzy": fuzzy})
    return found


def msgids(po: Path) -> set[tuple[str, str]]:
    """(context, msgid) of each live entry."""
    return {(e.get("msgctxt", ""), e["msgid"]) for e in entries(po)}
