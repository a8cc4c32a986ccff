"""Size and complexity limits for the site's Python code.

    python -m tools.check_size [PATH ...]     (default: sessions avatarsite)

Fails (exit 1), listing each offender, when a module is over 400 lines, a function or
method is over 60 lines, or a block (function, method, class) is above radon's complexity
grade C. Migrations are generated code and are left out. When everything is within the
limits it prints one line.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

from radon.complexity import add_inner_blocks, cc_rank, cc_visit

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
WORST_GRADE = "C"
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PATHS = ("sessions", "avatarsite")


@dataclass(frozen=True)
class Offender:
    path: str
    line: int
    name: str
    lines: int
    grade: str  # "" for a module

    def __str__(self) -> str:
        grade = f", grade {self.grade}" if self.grade else ""
        return f"{self.path}:{self.line}: {self.name}, {self.lines} lines{grade}"


def modules(paths: list[str]) -> list[Path]:
    found: set[Path] = set()
    for name in paths:
        path = (ROOT / name).resolve()
        candidates = [path] if path.is_file() else path.rglob("*.py")
        found.update(p for p in candidates if "migrations" not in p.relative_to(ROOT).parts)
    return sorted(found)


def function_ends(tree: ast.AST) -> dict[tuple[int, int], int]:
    """The last line of every function, by (first line, column) of its ``def``."""
    return {
        (node.lineno, node.col_offset): node.end_lineno or node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def check_module(path: Path) -> tuple[list[Offender], int]:
    """The offenders in one module, and how many functions it has."""
    source = path.read_text(encoding="utf-8")
    rel = str(path.relative_to(ROOT))
    offenders = []
    lines = len(source.splitlines())
    if lines > MAX_MODULE_LINES:
        offenders.append(Offender(rel, 1, "(module)", lines, ""))
    ends = function_ends(ast.parse(source, filename=rel))
    functions = 0
    for block in add_inner_blocks(cc_visit(source)):
        grade = cc_rank(block.complexity)
        is_function = block.letter != "C"
        functions += is_function
        end = ends.get((block.lineno, block.col_offset), block.endline)
        length = end - block.lineno + 1
        too_long = is_function and length > MAX_FUNCTION_LINES
        if too_long or grade > WORST_GRADE:
            kind = "class" if not is_function else "method" if block.is_method else "function"
            name = f"{block.fullname} ({kind})"
            offenders.append(Offender(rel, block.lineno, name, length, grade))
    return offenders, functions


def main(argv: list[str]) -> int:
    files = modules(argv or list(DEFAULT_PATHS))
    offenders: list[Offender] = []
    functions = 0
    for path in files:
        found, count = check_module(path)
        offenders += found
        functions += count
    limits = (
        f"{MAX_MODULE_LINES} lines a module, {MAX_FUNCTION_LINES} a function, "
        f"complexity grade {WORST_GRADE} at most"
    )
    for offender in sorted(offenders, key=lambda o: (o.path, o.line)):
        print(offender)
    if offenders:
        print(f"check_size: {len(offenders)} over the limits ({limits})")
        return 1
    print(f"check_size: {len(files)} modules, {functions} functions within the limits ({limits})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
