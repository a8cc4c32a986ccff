"""One home for each rule, checked: the rules that had drifted apart as copies are
written in one module each, and nowhere else in the app (sessions/, avatarsite/)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP = [
    path
    for folder in ("sessions", "avatarsite")
    for path in sorted((ROOT / folder).rglob("*.py"))
    if "migrations" not in path.parts
]

RULES = {
    # Who may see or close a session: Principal.owns and AvatarSession.objects.visible_to.
    "sessions/access.py": [
        r"owner_id\s*==",
        r"visitor_key\s*==",
        r"\bowner=(request\.user|principal|self\.user|user\b)",
        r"filter\([^)]*\b(owner|visitor_key)=",
    ],
    # Every cache key, group name and channel-layer event type.
    "sessions/keys.py": [
        r"""f?["'](presence|slot|limit|sandbox|reaper|llm-answer):[^\s"']""",
        r"""f["'](session|principal|sandbox)\.\{""",
        r"""["']type["']\s*:\s*["'](session|principal|sandbox)\.\w+["']""",
    ],
    # Every frame the session socket sends.
    "sessions/realtime/frames.py": [
        r"""["']type["']\s*:\s*["'](session|transcript|command_result|rtc_send|error|avatar)["']""",
    ],
}


def offences(home: str, patterns: list[str]) -> list[str]:
    found = []
    for path in APP:
        relative = path.relative_to(ROOT).as_posix()
        if relative == home:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.lstrip().startswith("#"):
                continue
            if any(re.search(pattern, line) for pattern in patterns):
                found.append(f"{relative}:{number}: {line.strip()}")
    return found


@pytest.mark.parametrize("home", sorted(RULES))
def test_the_rule_has_one_home(home):
    assert (ROOT / home).is_file()
    assert offences(home, RULES[home]) == []


def test_the_check_finds_a_copy(tmp_path, monkeypatch):
    """The check itself: a copied rule is found (so a pass means something)."""
    copy = tmp_path / "copy.py"
    copy.write_text(
        'if session.owner_id == user.pk:\n    key = f"presence:alive:{sid}"\n'
        'frame = {"type": "session", "status": s}\n'
        'log.info("reaper: closed %s", sid)\n'  # a log line is not a key
    )
    monkeypatch.setitem(globals(), "APP", [copy])
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert all(offences(home, patterns) for home, patterns in RULES.items())
