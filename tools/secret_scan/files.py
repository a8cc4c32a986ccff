"""The files scanned at the end of a run: every static file the site serves (all the
staticfiles finders: the project's, the apps', vendored) and every template."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tools.secret_scan.scanner import Scanner


def static_files() -> Iterator[tuple[str, bytes]]:
    """Every file the staticfiles finders serve (the project's, the apps', vendored)."""
    from django.contrib.staticfiles import finders

    for finder in finders.get_finders():
        for path, storage in finder.list([]):
            with storage.open(path) as handle:
                yield f"static:{getattr(storage, 'prefix', None) or ''}/{path}", handle.read()


def template_files() -> Iterator[tuple[str, bytes]]:
    from django.template import engines

    for engine in engines.all():
        for directory in getattr(engine, "template_dirs", ()):
            for file in sorted(Path(directory).rglob("*")):
                if file.is_file():
                    yield str(file), file.read_bytes()


def scan_files(scanner: Scanner) -> None:
    for kind, source in (("static file", static_files), ("template", template_files)):
        try:
            for name, content in source():
                scanner.record(kind, content, name)
        except Exception as exc:  # noqa: BLE001
            scanner.error(f"listing {kind}s: {exc!r}")
