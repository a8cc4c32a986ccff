"""Issue 15, item 3: one user exhausting the server through one session. Each test
performs the attack on the session socket and sees it refused with an `error` frame
(the socket stays open), and what a legitimate user needs kept."""

from __future__ import annotations

import json

import pytest
import pytest_asyncio

from sessions.models import SessionEvent, TranscriptEntry
from sessions.services import transcript
from tests.support.wsutil import create_session, open_page, page_is_witness  # noqa: F401

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def next_message(ws) -> dict:
    return json.loads(await ws.receive_from(timeout=3))


async def drain(ws, timeout: float = 0.3) -> list[dict]:
    """Every frame the socket sends until it goes quiet (rtc_send left out)."""
    received = []
    while not await ws.receive_nothing(timeout=timeout):
        message = await next_message(ws)
        if message["type"] != "rtc_send":
            received.append(message)
    return received


def codes(received: list[dict]) -> list[str]:
    return [m["code"] for m in received if m["type"] == "error"]


def piece(mid: str, text: str, *, sender: str = "bot", idx=None, fin=None) -> dict:
    """What the page forwards when the avatar's data stream brings a chat piece."""
    message = {"v": 2, "type": "chat", "mid": mid, "pld": {"from": sender, "text": text}}
    if idx is not None:
        message["idx"] = idx
    if fin is not None:
        message["fin"] = fin
    return {"type": "rtc_message", "data": json.dumps(message)}


async def open_session(world):
    session = await create_session(world.alice_token)
    page = await open_page(session, world.alice_token)
    assert (await next_message(page))["type"] == "session"
    page.session = session
    return page


@pytest_asyncio.fixture
async def page(world):
    ws = await open_session(world)
    yield ws
    await ws.disconnect()


async def events(page, kind: str) -> list[SessionEvent]:
    rows = SessionEvent.objects.filter(session_id=page.session["id"], kind=kind)
    return [e async for e in rows]


async def lines(page) -> list[TranscriptEntry]:
    await transcript.settled()  # typed lines wait up to WRITE_BEHIND_SECONDS: now
    rows = TranscriptEntry.objects.filter(session_id=page.session["id"])
    return [e async for e in rows.order_by("created_at", "id")]


async def test_commands_are_limited_per_session_not_per_socket(world, page, settings):
    """A command flood wrote an event each; a new socket must not bring a fresh rate."""
    settings.COMMANDS_PER_MINUTE = 3
    for _ in range(2):
        await page.send_json_to({"type": "interrupt"})
    await page.send_json_to({"type": "set_params", "params": {"mode": 1}})
    assert codes(await drain(page)) == []
    await page.disconnect()

    again = await open_page(page.session, world.alice_token)  # the same session, anew
    assert (await next_message(again))["type"] == "session"
    for _ in range(5):
        await again.send_json_to({"type": "interrupt"})
    await again.send_json_to({"type": "set_params", "params": {"mode": 2}})
    received = await drain(again)
    await again.disconnect()
    assert codes(received) == ["command_rate_limit"] * 6
    assert all(e["retry_after"] >= 1 for e in received if e["type"] == "error")
    commands = await events(page, SessionEvent.Kind.COMMAND)
    assert [e.message for e in commands] == ["interrupt", "interrupt", "set-params"]
    assert len(await events(page, SessionEvent.Kind.LIMIT)) == 1  # a flood: one row


async def test_set_params_waiting_for_their_ack_are_bounded(page, settings):
    """Nobody acknowledges (no avatar joined): the commands waiting stop at the cap, and
    an interrupt, never refused by it, still goes out."""
    settings.COMMANDS_AWAITING_ACK = 2
    for mode in (1, 2, 1):
        await page.send_json_to({"type": "set_params", "params": {"mode": mode}})
    await page.send_json_to({"type": "interrupt"})
    frames = []
    while not await page.receive_nothing(timeout=0.3):
        frames.append(await next_message(page))
    refused = [f for f in frames if f["type"] == "error"]
    assert [f["code"] for f in refused] == ["commands_pending"]
    assert refused[0]["retry_after"] >= 1
    sent = [json.loads(f["frame"]) for f in frames if f["type"] == "rtc_send"]
    assert [f["type"] for f in sent] == ["command", "command", "command"]
    assert [f["pld"]["cmd"] for f in sent] == ["set-params", "set-params", "interrupt"]
    set_params = [e for e in await events(page, "command") if e.message == "set-params"]
    assert len(set_params) == 2  # the refused one was not recorded as sent


async def test_send_failures_are_recorded_once_a_window(page):
    for i in range(30):
        await page.send_json_to({"type": "rtc_send_failed", "reason": f"net {i}"})
    received = await drain(page)
    assert codes(received) == ["send_failed"] * 30  # the page is told every time
    recorded = await events(page, SessionEvent.Kind.ERROR)
    assert len(recorded) == 1 and "net 0" in recorded[0].message


@pytest.mark.usefixtures("page_is_witness")  # forwards avatar lines, as with AKool
async def test_new_lines_the_page_reports_are_limited_per_session(page, settings):
    settings.LINES_PER_MINUTE = 3
    for n in range(5):
        await page.send_json_to(piece(f"line-{n}", f"I promise refund number {n}.", fin=False))
    # Pieces of a line already refused are dropped, and not told again.
    await page.send_json_to(piece("line-4", " And another.", fin=True))
    # A line already admitted keeps growing.
    await page.send_json_to(piece("line-0", " Really.", fin=True))
    received = await drain(page)
    assert codes(received) == ["line_rate_limit", "line_rate_limit"]
    recorded = {line.mid: line.text for line in await lines(page)}
    assert recorded == {
        "line-0": "I promise refund number 0. Really.",
        "line-1": "I promise refund number 1.",
        "line-2": "I promise refund number 2.",
    }
    assert all(line.reported_by_page for line in await lines(page))
    assert [e.data["code"] for e in await events(page, "limit")] == ["line_rate_limit"]


@pytest.mark.usefixtures("page_is_witness")  # forwards avatar lines, as with AKool
@pytest.mark.parametrize("numbered", [False, True], ids=["appended", "numbered"])
async def test_a_line_grown_through_rtc_message_stops_at_its_cap(page, settings, numbered):
    """Issue 15: one transcript line grew to 1.5 MB through rtc_message."""
    settings.TRANSCRIPT_LINE_MAX_CHARS = 2000
    for idx in range(10):
        await page.send_json_to(piece("long", "z" * 700, idx=idx if numbered else None, fin=False))
    received = await drain(page)
    assert codes(received) == ["line_too_long"]  # told once
    [line] = await lines(page)
    assert line.text == "z" * 1400 and line.final and line.cut
    ended = [m for m in received if m["type"] == "transcript" and m["final"]]
    assert ended == [
        {
            "type": "transcript",
            "role": "avatar",
            "mid": "long",
            "text": "",
            "final": True,
            "cut": True,
        }
    ]


@pytest.mark.usefixtures("page_is_witness")  # forwards avatar lines, as with AKool
async def test_the_whole_transcript_stops_at_its_cap(page, settings):
    settings.TRANSCRIPT_MAX_CHARS = 3000
    for n in range(3):
        await page.send_json_to({"type": "chat", "text": str(n) * 1000})
    await page.send_json_to({"type": "chat", "text": "one more"})
    for n in range(3):
        await page.send_json_to(piece(f"said-{n}", "the avatar goes on", fin=True))
    received = await drain(page)
    # A chat over the cap is refused (not sent unrecorded); the page's reports are
    # dropped, and it is told once.
    assert codes(received) == ["transcript_full", "transcript_full"]
    assert [line.text for line in await lines(page)] == [str(n) * 1000 for n in range(3)]


async def test_a_chat_beyond_the_stream_backlog_is_refused_whole(world, settings):
    settings.CHAT_MAX_CHARS = 10_000
    settings.STREAM_BACKLOG_SECONDS = 0.5  # 3,000 bytes at 6,000 a second
    page = await open_session(world)  # its pacer reads the setting when it joins
    await page.send_json_to({"type": "chat", "text": "w" * 4000})
    received = await drain(page)
    assert codes(received) == ["stream_backlog"]
    assert await lines(page) == []  # not recorded, and not one frame of it sent
    await page.send_json_to({"type": "chat", "text": "short"})
    kinds = set()
    for _ in range(2):
        kinds.add((await next_message(page))["type"])
    await page.disconnect()
    assert kinds == {"transcript", "rtc_send"}
