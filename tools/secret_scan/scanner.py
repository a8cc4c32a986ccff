"""The scanner: the secrets it looks for, the texts it was given (kind, where, detail),
and what it found, masked."""

from __future__ import annotations

import functools
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

SECRET_SETTINGS = ("AKOOL_API_KEY", "AKOOL_CLIENT_SECRET", "LLM_API_KEY")
# A "secret" this short would match everywhere (tests use "k" as a placeholder key).
MIN_SECRET_LENGTH = 8
# Scan the buffered texts early once they hold this much (a long fuzz test).
FLUSH_BYTES = 8_000_000
MAX_FINDINGS = 200
SNIPPET = 60


@dataclass(frozen=True)
class Finding:
    kind: str
    where: str
    detail: str
    label: str
    snippet: str

    def __str__(self) -> str:
        return f"{self.where} [{self.kind}] {self.detail}: {self.label} in ...{self.snippet}..."


# What can spread a secret out and still show it: whitespace, line breaks and invisible
# characters (soft hyphen, zero-width spaces and joiners, direction marks, BOM, variation
# selectors). The scanner's own list, not the app's (sessions.redaction): it checks that.
_SPREAD = r"[\s\u00ad\u034f\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufe00-\ufe0f\ufeff]*"


@functools.lru_cache(maxsize=64)
def leak_pattern(secret: str) -> re.Pattern[str]:
    """What counts as the secret leaking: the secret, or its first two thirds (what a cut
    after the start of it leaves), in any case, even spread out by whitespace, line breaks
    or invisible characters."""
    prefix = secret[: max(MIN_SECRET_LENGTH, (2 * len(secret) + 2) // 3)]
    return re.compile(_SPREAD.join(re.escape(char) for char in prefix), re.IGNORECASE)


def mask(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = leak_pattern(secret).sub(f"<{secret[:4]}...MASKED>", text)
    return text


def as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    return value if isinstance(value, str) else str(value)


class Scanner:
    """Collects texts (kind, where, detail) and looks for the secrets it knows in them."""

    def __init__(self, secrets: dict[str, str] | None = None) -> None:
        """`secrets`: value -> label, looked for from the start (more are learnt later)."""
        self.secrets: dict[str, str] = {}
        self.ignored: set[str] = set()  # labels of values too short to look for
        self.counts: Counter[str] = Counter()
        self.findings: list[Finding] = []
        self.missed = 0  # findings beyond MAX_FINDINGS
        self.errors: list[str] = []  # the scanner's own failures (never a test's)
        self.where = "<outside tests>"
        self._buffer: list[tuple[str, str, str, str]] = []
        self._buffered = 0
        for secret, label in (secrets or {}).items():
            self.learn(secret, label)

    # --- secrets -----------------------------------------------------------------
    def learn(self, value: Any, label: str) -> None:
        if not isinstance(value, str) or not value:
            return
        if len(value) < MIN_SECRET_LENGTH:
            self.ignored.add(label)
            return
        self.secrets.setdefault(value, label)

    def learn_extra(self) -> None:
        """Ad hoc: more strings to look for, comma separated, in SECRET_SCAN_EXTRA (e.g.
        "DO-NOT-LEAK", the marker every fake credential carries, issued tokens included)."""
        for extra in os.environ.get("SECRET_SCAN_EXTRA", "").split(","):
            self.learn(extra.strip(), f"SECRET_SCAN_EXTRA {extra.strip()!r}")

    def learn_settings(self) -> None:
        """The secrets the app is configured with right now (tests override them)."""
        try:
            from django.conf import settings

            if not settings.configured:
                return
            for name in SECRET_SETTINGS:
                self.learn(getattr(settings, name, ""), f"settings.{name}")
        except Exception as exc:  # noqa: BLE001 - the scanner never breaks a test
            self.error(f"reading settings: {exc!r}")

    # --- texts -------------------------------------------------------------------
    def record(self, kind: str, text: Any, detail: str = "") -> None:
        text = as_text(text)
        self.counts[kind] += 1
        if not text:
            return
        self._buffer.append((kind, self.where, detail, text))
        self._buffered += len(text)
        if self._buffered > FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Scan what was recorded since the last flush, with every secret known now."""
        self.learn_settings()
        buffer, self._buffer, self._buffered = self._buffer, [], 0
        for kind, where, detail, text in buffer:
            self.scan(kind, where, detail, text)

    def scan(self, kind: str, where: str, detail: str, text: str) -> None:
        for secret, label in self.secrets.items():
            match = leak_pattern(secret).search(text)
            if match is None:
                continue
            start = match.start()
            if len(self.findings) >= MAX_FINDINGS:
                self.missed += 1
                continue
            around = text[max(0, start - SNIPPET) : start + len(secret) + SNIPPET]
            snippet = mask(around, self.secrets).replace("\n", "\\n")
            self.findings.append(Finding(kind, where, detail, label, snippet))

    def error(self, message: str) -> None:
        if len(self.errors) < 20:
            self.errors.append(message)

    # --- report ------------------------------------------------------------------
    def summary(self) -> str:
        c = self.counts
        responses = c["http response"] + c["asgi http response"] + c["live http response"]
        frames = (
            c["ws frame received"] + c["ws frame sent"] + c["live ws frame"] + c["browser ws frame"]
        )
        browser = (
            f"{c['browser page']} browser pages, {c['browser response']} browser response headers, "
            if c["browser page"] or c["browser response"]
            else ""
        )
        logs = c["log record"]
        outcome = (
            f"{len(self.findings) + self.missed} secret(s) FOUND"
            if self.findings
            else "no secret found"
        )
        return (
            f"secret scan: {responses} responses, {frames} frames, {logs} log records, "
            f"{browser}{c['captured output']} captured outputs, {c['server log']} server logs, "
            f"{c['static file']} static files, {c['template']} templates scanned "
            f"for {len(self.secrets)} secrets; {outcome}"
        )

    def report(self) -> list[str]:
        lines = [str(finding) for finding in self.findings]
        if self.missed:
            lines.append(f"... and {self.missed} more")
        return lines
