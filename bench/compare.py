"""The same load against the framework's floor, a base revision and HEAD, in one run.

    python bench/compare.py                          # 3 rounds of both runs (about 25 minutes)
    python bench/compare.py --rounds 1 --runs page --sessions 200 --duration 10

Absolute figures move from machine to machine and from run to run; ratios measured back to
back on the same machine hold better. So for each run the bench serves, one after the
other, with bench/load.py's memory setup (one process, SQLite, local-memory cache):

- floor: bench/floor.py, bare consumers on the product's socket paths (daphne + Channels,
  the product's HTTP app to create the sessions): what no product could go below;
- base: the --base revision (70d2614 by default), from a git worktree the bench adds in a
  temporary directory and removes at the end (plain daphne, as it was served then; its own
  manage.py migrates and seeds);
- head: this tree, served as bench/load.py serves it.

and does that --rounds times, the order of the variants rotated each round, so that the
spread between rounds shows the noise. Runs (--runs):

- page: 1,000 sessions, page sockets only;
- shuttle: 500 sessions, each with its sandbox avatar's socket too (1,000 sockets), frames
  passed both ways (see bench/load.py --shuttle). The floor's sandbox socket drops what it
  gets: its avatar does not speak.

Every row is printed as it comes (bench/load.py's columns and the server's CPU per chat:
CPU seconds of the server over the window, divided by the chats sent in it), then for each
run the median over the rounds of CPU per chat, p50, p99 and max per variant, with their
spread (min-max), and the ratios head/base, head/floor and base/floor of those medians.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import (  # noqa: E402
    HEADER,
    Row,
    Variant,
    format_row,
    loadavg,
    raise_file_limit,
    run_setup,
)

RUNS = {  # name: (sessions, shuttle)
    "page": (1000, False),
    "shuttle": (500, True),
}
VARIANTS = ("floor", "base", "head")
RATIOS = (("head", "base"), ("head", "floor"), ("base", "floor"))
METRICS = (  # column, Row attribute
    ("CPU ms/chat", "cpu_ms_per_chat"),
    ("p50 ms", "p50"),
    ("p99 ms", "p99"),
    ("max ms", "max"),
)


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    return f"{os.cpu_count()} CPUs, {model}, Python {platform.python_version()}"


@contextmanager
def worktree(commit: str) -> Iterator[Path]:
    """A detached git worktree of `commit` in a temporary directory, removed at the end
    (on failure and Ctrl-C too)."""
    parent = Path(tempfile.mkdtemp(prefix="compare-base-"))
    path = parent / "base"
    git = ["git", "-C", str(ROOT), "worktree"]
    try:
        subprocess.run([*git, "add", "--detach", str(path), commit], check=True)
        yield path
    finally:
        subprocess.run([*git, "remove", "--force", str(path)], check=False)
        subprocess.run([*git, "prune"], check=False)
        shutil.rmtree(parent, ignore_errors=True)


def variant(name: str, base_root: Path | None) -> Variant:
    if name == "floor":
        return Variant("floor", app="bench.floor:application")
    if name == "base":
        assert base_root is not None
        return Variant("base", root=base_root, plain_daphne=True)
    return Variant("head")


def print_row(row: Row) -> None:
    print("  " + format_row(row) + f" {row.cpu_ms_per_chat:.2f} |", flush=True)
    if row.error_kinds:
        print(f"    errors: {row.error_kinds}", flush=True)


def setup_args(args: argparse.Namespace, sessions: int, shuttle: bool) -> argparse.Namespace:
    """What bench/load.py's run_setup reads."""
    return argparse.Namespace(
        sessions=[sessions],
        shuttle=shuttle,
        interval=args.interval,
        duration=args.duration,
        words_per_second=args.words_per_second,
        phase_timeout=args.phase_timeout,
        profile=None,
        preset="cleo",
    )


async def one_run(args: argparse.Namespace, run: str, variants: list[Variant]) -> dict:
    """Every round of one run: the rows of each variant, by name."""
    sessions, shuttle = RUNS[run]
    sessions = args.sessions or sessions
    mode = "page <-> avatar shuttled" if shuttle else "page socket only"
    print(
        f"\n## {run}: {sessions} sessions, {mode}, a chat every {args.interval:g} s per "
        f"session, {args.duration:g} s per window\n\n{HEADER} CPU ms/chat |",
        flush=True,
    )
    rows: dict[str, list[Row]] = {v.name: [] for v in variants}
    for r in range(args.rounds):
        order = variants[r % len(variants) :] + variants[: r % len(variants)]
        print(f"round {r + 1}/{args.rounds}: {', '.join(v.name for v in order)}", flush=True)
        for v in order:
            with tempfile.TemporaryDirectory(prefix=f"compare-{v.name}-") as tmp:
                try:
                    got = await run_setup(
                        setup_args(args, sessions, shuttle), "memory", Path(tmp), v, print_row
                    )
                except Exception as exc:  # noted, and the other variants go on
                    print(f"  {v.name} failed: {exc!r}", flush=True)
                    args.failed += 1
                    continue
            rows[v.name] += got
    return rows


def cell(values: list[float]) -> str:
    if not values:
        return "-"
    digits = 2 if max(values) < 10 else 1 if max(values) < 100 else 0
    median = statistics.median(values)
    return f"{median:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def summary(run: str, rows: dict[str, list[Row]]) -> None:
    """The run's rows again, the medians over rounds with their spread, and the ratios."""
    print(f"\n### {run}: every row\n\n{HEADER} CPU ms/chat |")
    print("|" + "---|" * (HEADER.count(" | ") + 2))
    for name in rows:
        for row in rows[name]:
            print(format_row(row) + f" {row.cpu_ms_per_chat:.2f} |")
    print(f"\n### {run}: median over rounds (min-max)\n")
    print("| variant | rounds | " + " | ".join(m[0] for m in METRICS) + " | errors |")
    print("|---|---|" + "---|" * (len(METRICS) + 1))
    medians: dict[str, list[float]] = {}
    for name, got in rows.items():
        columns = [[getattr(row, attr) for row in got] for _, attr in METRICS]
        medians[name] = [statistics.median(c) if c else float("nan") for c in columns]
        cells = " | ".join(cell(c) for c in columns)
        print(f"| {name} | {len(got)} | {cells} | {sum(row.errors for row in got)} |")
    print_ratios(run, medians)


def print_ratios(run: str, medians: dict[str, list[float]]) -> None:
    print(f"\n### {run}: ratios of the medians\n")
    print("| ratio | " + " | ".join(m[0].removesuffix(" ms") for m in METRICS) + " |")
    print("|---|" + "---|" * len(METRICS))
    for a, b in RATIOS:
        if a in medians and b in medians:
            pairs = zip(medians[a], medians[b], strict=True)
            ratios = [x / y if y else float("nan") for x, y in pairs]
            print(f"| {a}/{b} | " + " | ".join(f"{r:.2f}x" for r in ratios) + " |")


async def compare(args: argparse.Namespace, variants: list[Variant]) -> None:
    results = {run: await one_run(args, run, variants) for run in args.runs}
    print(f"\nload average after: {loadavg()}")
    for run, rows in results.items():
        summary(run, rows)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="70d2614", help="the base revision (a commit)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", nargs="+", choices=list(RUNS), default=list(RUNS))
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument(
        "--sessions", type=int, help="sessions per run, for every run (default: page 1000, "
        "shuttle 500)"
    )  # fmt: skip
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between chats")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per window")
    parser.add_argument("--words-per-second", type=float, default=40.0)
    parser.add_argument("--phase-timeout", type=float, default=300.0)
    args = parser.parse_args()
    args.failed = 0
    return args


def main() -> int:
    args = parse_args()
    raise_file_limit()
    # SIGTERM as Ctrl-C: the servers stop and the worktree goes.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(f"machine: {machine()}")
    print(f"load average before: {loadavg()}", flush=True)
    names = [name for name in VARIANTS if name in args.variants]
    with worktree(args.base) if "base" in names else _no_worktree() as base_root:
        variants = [variant(name, base_root) for name in names]
        asyncio.run(compare(args, variants))
    if args.failed:
        print(f"\n{args.failed} variant run(s) failed (see above)")
    return 1 if args.failed else 0


@contextmanager
def _no_worktree() -> Iterator[None]:
    yield None


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the servers are stopped and the worktree removed by now
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)
