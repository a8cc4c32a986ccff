"""The secret scan as a pytest plugin (`pytest_plugins = ["tools.secret_scan.plugin"]`, or
`-p tools.secret_scan.plugin`): the hooks go in when the session starts and come out when
it finishes; each test's texts are scanned when it ends, under its node id; the captured
stdout, stderr and log sections of every report are scanned too; at the end the static
files and templates; anything found fails the run (exit status 1) with a masked report.

A test module with `PLANTS_SECRETS = True` plants secrets on purpose, inside `scanning(...)`
blocks; what pytest captures of its tests' output is not scanned and their settings are
not learnt (everything else of them still is scanned).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tools.secret_scan import hooks, recording
from tools.secret_scan.files import scan_files
from tools.secret_scan.scanner import Scanner

PLANTS_SECRETS = "PLANTS_SECRETS"
_planting: set[str] = set()  # node ids of the tests that plant secrets


def plants_secrets(item: pytest.Item) -> bool:
    return bool(getattr(getattr(item, "module", None), PLANTS_SECRETS, False))


def pytest_configure(config: pytest.Config) -> None:
    scanner = Scanner(recording.fixed_secrets)
    scanner.learn_extra()
    recording.start(scanner)


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    # After pytest-django has configured Django: the Django and channels imports are safe.
    hooks.install()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    scanner = recording.current()
    if scanner is None:
        return (yield)
    scanner.where = item.nodeid
    if plants_secrets(item):
        _planting.add(item.nodeid)
    try:
        return (yield)
    finally:
        scanner.flush()
        scanner.where = "<outside tests>"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    try:
        return (yield)
    finally:
        _learn_settings(item)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    # Before the fixtures' finalizers: overridden settings are still in place.
    _learn_settings(item)
    return (yield)


def _learn_settings(item: pytest.Item) -> None:
    scanner = recording.current()
    if scanner is not None and not plants_secrets(item):
        scanner.learn_settings()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.nodeid in _planting:
        return
    for title, content in report.sections:
        recording.record("captured output", content, f"{report.when}: {title}")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    scanner = recording.current()
    if scanner is None:
        return
    recording.scan_server_logs()
    hooks.uninstall()
    scanner.where = "<end of run>"
    scan_files(scanner)
    scanner.flush()
    if scanner.findings and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    scanner = recording.current()
    if scanner is None:
        return
    if scanner.findings:
        terminalreporter.section("secret scan: secrets found", sep="=", red=True, bold=True)
        for line in scanner.report():
            terminalreporter.write_line(line)
    for message in scanner.errors:
        terminalreporter.write_line(f"secret scan: scanner error: {message}", yellow=True)
    if scanner.ignored:
        terminalreporter.write_line(
            f"secret scan: ignored values too short to look for: {sorted(scanner.ignored)}"
        )
    if config.option.verbose > 0:
        looked_for = Counter(scanner.secrets.values())
        terminalreporter.write_line(f"secret scan: looked for {dict(looked_for)}")
    terminalreporter.write_line(scanner.summary(), red=bool(scanner.findings))
