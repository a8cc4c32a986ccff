// The staff live view (staff_live.js): a session watched read-only over its own socket.

import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";

import { createBackoff } from "../../static/js/backoff.js";
import { Relay } from "../../static/js/relay.js";
import { watchLive } from "../../static/js/staff_live.js";
import { FakeDocument, FakeWebSocket, manualTimers } from "./fakes.mjs";

beforeEach(() => FakeWebSocket.reset());

function liveView() {
  const doc = new FakeDocument();
  const el = {
    list: doc.createElement("ol"),
    connection: doc.createElement("p"),
    status: doc.createElement("span"),
    speaking: doc.createElement("dd"),
  };
  const timers = manualTimers();
  const relay = new Relay({
    url: "ws://test/ws/sessions/s1/",
    WebSocketImpl: FakeWebSocket,
    backoff: createBackoff({ base: 1000, jitter: 0 }),
    setTimeout: timers.setTimeout,
    clearTimeout: timers.clearTimeout,
  });
  const config = {
    owner: "demo",
    closeReasons: { admin: "ended by staff" },
    statusNames: { active: "Live", closed: "Ended" }, // sessions/display.py STATUS_NAMES
    wsPath: "/ws/sessions/s1/",
  };
  watchLive({ config, el, relay });
  return { el, relay, timers, ws: () => FakeWebSocket.last };
}

test("the live view replays the transcript with the owner's name, then follows it", () => {
  const { el, ws } = liveView();
  assert.equal(el.connection.textContent, "Connecting…");
  assert.equal(el.connection.dataset.state, "connecting");
  ws().serverOpen();
  assert.equal(el.connection.textContent, "Watching live. New lines appear as they are said.");
  assert.equal(el.connection.dataset.state, "open");
  ws().serverSend({ type: "session", status: "active" });
  ws().serverSend({ type: "transcript", role: "user", mid: "u1", text: "Hello!", final: true, replay: true });
  ws().serverSend({ type: "transcript", role: "avatar", mid: "a1", text: "Hi", final: false });
  ws().serverSend({ type: "transcript", role: "avatar", mid: "a1", text: " there.", final: true });
  ws().serverSend({ type: "avatar", speaking: true });
  ws().serverSend({ type: "command_result", cmd: "interrupt", ok: true });
  const lines = el.list.querySelectorAll("li.line").map((li) => [li.querySelector(".who").textContent, li.querySelector(".text").textContent]);
  assert.deepEqual(lines, [
    ["demo", "Hello!"],
    ["Avatar", "Hi there."],
  ]);
  assert.equal(el.status.textContent, "Live");
  assert.equal(el.status.className, "badge status-active");
  assert.equal(el.speaking.textContent, "speaking");
  assert.equal(el.speaking.dataset.speaking, "true");
  assert.deepEqual(ws().sent, []); // an observer sends nothing
});

test("the live view says when the session ended, and why", () => {
  const { el, ws } = liveView();
  ws().serverOpen();
  ws().serverSend({ type: "session", status: "closed", close_reason: "admin" });
  ws().serverClose(4410);
  assert.equal(el.status.textContent, "Ended");
  assert.equal(el.connection.textContent, "The session has ended: ended by staff.");
  assert.equal(el.connection.dataset.state, "ended");
  assert.equal(el.speaking.textContent, "—");
});

test("the live view reconnects after a drop, and says who may not watch", () => {
  const { el, ws, timers } = liveView();
  ws().serverOpen();
  ws().serverClose(1006);
  assert.equal(el.connection.textContent, "Connection lost; reconnecting in 1 s…");
  assert.equal(el.connection.dataset.state, "reconnecting");
  timers.runAll();
  ws().serverClose(4403);
  assert.equal(el.connection.textContent, "You cannot watch this session (signed out, or no permission).");
  assert.equal(el.connection.dataset.state, "refused");
});
