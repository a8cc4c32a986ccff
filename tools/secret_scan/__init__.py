"""The secret scan: nothing the test suite sees may contain a secret (the AKool key and
client secret, the LLM key).

For the whole run it records, per test:

- every HTTP response (status, headers, cookies, body) of Django's test `Client` and
  `AsyncClient`, and every httpx response from a served process of ours;
- every ASGI message the app sends to a `channels.testing` communicator (websocket
  frames, close reasons, HTTP responses) and every frame a test sends it; every frame
  of a real socket (the `websockets` library) both ways;
- every log record, whatever logger and level, and the captured stdout, stderr and log
  sections of every test report;
- what the test helpers report (tests/support/live.py, tests/support/browser.py): the
  output of `manage.py` for a served process and its log file; in the browser tests,
  every websocket frame both ways, the response headers and each page's final document;

and at the end of the run every static file the site serves and every template. The
secrets are those registered with `look_for` (the fakes' default credentials), every
non-empty value of settings `AKOOL_API_KEY`, `AKOOL_CLIENT_SECRET` and `LLM_API_KEY` seen
during the run (and those handed to a served process), and SECRET_SCAN_EXTRA's. Anything
found fails the run with a report of where, masked.

The modules: `scanner` (what is looked for and found), `texts` (the text of each thing
seen), `hooks` (every patch, put in by one `install()` and taken out by one
`uninstall()`), `recording` (where what is seen goes, and what helpers report), `files`
(static files and templates), `plugin` (the pytest hooks that run it all).
"""

from tools.secret_scan.files import scan_files
from tools.secret_scan.recording import (
    look_for,
    record,
    record_pages,
    scan_server_log,
    scanning,
    serving,
    watch_page,
    watch_server,
)
from tools.secret_scan.scanner import Finding, Scanner

__all__ = [
    "Finding",
    "Scanner",
    "look_for",
    "record",
    "record_pages",
    "scan_files",
    "scan_server_log",
    "scanning",
    "serving",
    "watch_page",
    "watch_server",
]
