"""What the served app imports is installed by requirements.txt, not only by the test
requirements: a fresh `make run` installs requirements.txt alone (jsonschema-rs once came
in with the tests only, and the app would not have started)."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import PackageNotFoundError, packages_distributions, requires
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOCAL = {"sessions", "avatarsite", "tests", "tools", "bench"}

pytestmark = pytest.mark.first_pass  # reads files only: once per make test is enough


def runtime_requirements() -> set[str]:
    names = set()
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(norm(line))
    return names


def norm(name: str) -> str:
    return re.split(r"[\[=<>~!;\s(]", name.strip(), maxsplit=1)[0].lower().replace("_", "-")


def installed_with(names: set[str]) -> set[str]:
    """`names` and everything they install in turn (their requirements without an extra)."""
    seen, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            needs = requires(name) or []
        except PackageNotFoundError:
            continue
        todo += [norm(r) for r in needs if "extra ==" not in r]
    return seen


def imported_modules() -> set[str]:
    found = set()
    for package in ("sessions", "avatarsite"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    found.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    found.add(node.module.split(".")[0])
    return found - LOCAL - set(sys.stdlib_module_names) - {"__future__"}


def test_every_module_the_app_imports_comes_from_requirements_txt():
    wanted = installed_with(runtime_requirements())
    installed_by = packages_distributions()
    missing = {}
    for module in sorted(imported_modules()):
        dists = {d.lower().replace("_", "-") for d in installed_by.get(module, [module])}
        if not dists & wanted:
            missing[module] = sorted(dists)
    assert not missing, f"imported by the app but not in requirements.txt: {missing}"
