import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";

import { createBackoff } from "../../static/js/backoff.js";
import { Relay, isTerminalClose } from "../../static/js/relay.js";
import { FakeTransport, FakeWebSocket, flush, manualTimers } from "./fakes.mjs";

beforeEach(() => FakeWebSocket.reset());

function makeRelay(extra = {}) {
  const timers = manualTimers();
  const relay = new Relay({
    url: "ws://test/ws/sessions/1/",
    WebSocketImpl: FakeWebSocket,
    backoff: createBackoff({ base: 100, max: 1000, jitter: 0 }),
    setTimeout: timers.setTimeout,
    clearTimeout: timers.clearTimeout,
    ...extra,
  });
  return { relay, timers };
}

const rtcSend = (frame) => ({ type: "rtc_send", frame });

test("frames that arrive before the transport has joined are queued, then sent in order", async () => {
  const { relay } = makeRelay();
  const transport = new FakeTransport();
  relay.connect();
  const ws = FakeWebSocket.last;
  ws.serverOpen();
  ws.serverSend(rtcSend("f1"));
  ws.serverSend(rtcSend("f2"));
  relay.attachTransport(transport); // still "connecting"
  ws.serverSend(rtcSend("f3"));
  await flush();
  assert.deepEqual(transport.sent, []);
  assert.equal(relay.pendingFrames, 3);

  transport.setState("waiting"); // in the channel, but the avatar is not: still hold them
  await flush();
  assert.deepEqual(transport.sent, []);

  transport.setState("joined");
  await flush();
  assert.deepEqual(transport.sent, ["f1", "f2", "f3"]);
  assert.equal(relay.pendingFrames, 0);
});

test("sends are sequential and keep order even when each send takes time", async () => {
  const { relay } = makeRelay();
  const transport = new FakeTransport();
  transport.delayMs = 5;
  transport.setState("joined");
  relay.attachTransport(transport);
  relay.connect();
  const ws = FakeWebSocket.last;
  ws.serverOpen();
  const frames = Array.from({ length: 12 }, (_, i) => `frame-${i}`);
  for (const f of frames.slice(0, 6)) ws.serverSend(rtcSend(f));
  await new Promise((r) => setTimeout(r, 12));
  for (const f of frames.slice(6)) ws.serverSend(rtcSend(f));
  await new Promise((r) => setTimeout(r, 120));
  assert.deepEqual(transport.sent, frames);
  assert.equal(transport.maxInFlight, 1);
});

test("frames are passed on unchanged", async () => {
  const { relay } = makeRelay();
  const transport = new FakeTransport();
  transport.setState("joined");
  relay.attachTransport(transport);
  relay.connect();
  FakeWebSocket.last.serverOpen();
  const frame = '{"v":2,"type":"chat","mid":"m","idx":0,"fin":true,"pld":{"text":"héllo \\"quoted\\" 🙂"}}';
  FakeWebSocket.last.serverSend(rtcSend(frame));
  await flush();
  assert.deepEqual(transport.sent, [frame]);
});

test("a transport that drops out holds the remaining frames until it rejoins", async () => {
  const { relay } = makeRelay();
  const transport = new FakeTransport();
  transport.setState("joined");
  relay.attachTransport(transport);
  relay.connect();
  const ws = FakeWebSocket.last;
  ws.serverOpen();
  ws.serverSend(rtcSend("a"));
  await flush();
  transport.setState("reconnecting");
  ws.serverSend(rtcSend("b"));
  ws.serverSend(rtcSend("c"));
  await flush();
  assert.deepEqual(transport.sent, ["a"]);
  transport.setState("joined");
  await flush();
  assert.deepEqual(transport.sent, ["a", "b", "c"]);
});

test("a send that throws is reported as rtc_send_failed and the next frames still go", async () => {
  const { relay } = makeRelay();
  const transport = new FakeTransport();
  transport.failOn.add("bad");
  transport.setState("joined");
  relay.attachTransport(transport);
  const failures = [];
  relay.on("send-failed", (f) => failures.push(f));
  relay.connect();
  const ws = FakeWebSocket.last;
  ws.serverOpen();
  ws.serverSend(rtcSend("good1"));
  ws.serverSend(rtcSend("bad"));
  ws.serverSend(rtcSend("good2"));
  await flush();
  assert.deepEqual(transport.sent, ["good1", "good2"]);
  assert.deepEqual(ws.sentJson, [{ type: "rtc_send_failed", frame: "bad", reason: "boom" }]);
  assert.deepEqual(failures, [{ frame: "bad", reason: "boom" }]);
});

test("stream messages from the avatar are forwarded as rtc_message, and kept while reconnecting", async () => {
  const { relay, timers } = makeRelay();
  const transport = new FakeTransport();
  relay.attachTransport(transport);
  relay.connect();
  const ws1 = FakeWebSocket.last;
  ws1.serverOpen();
  transport.emit("message", '{"v":2,"type":"event","pld":{"event":"audio_start"}}');
  assert.deepEqual(ws1.sentJson, [{ type: "rtc_message", data: '{"v":2,"type":"event","pld":{"event":"audio_start"}}' }]);

  ws1.serverClose(1006);
  transport.emit("message", "piece-1");
  transport.emit("message", "piece-2");
  timers.runAll();
  const ws2 = FakeWebSocket.last;
  assert.notEqual(ws2, ws1);
  ws2.serverOpen();
  assert.deepEqual(
    ws2.sentJson.map((m) => m.data),
    ["piece-1", "piece-2"],
  );
});

test("other server messages are emitted parsed; malformed ones are dropped", () => {
  const { relay } = makeRelay();
  const got = [];
  relay.on("message", (m) => got.push(m));
  relay.connect();
  const ws = FakeWebSocket.last;
  ws.serverOpen();
  ws.serverSend({ type: "session", status: "active", expires_at: "2030-01-01T00:00:00Z", close_reason: null });
  ws.serverSend("garbage{");
  ws.serverSend({ type: "transcript", role: "user", mid: "u1", text: "hi", final: true });
  ws.serverSend({ type: "error", code: "rate_limited", message: "Too many messages." });
  assert.deepEqual(
    got.map((m) => m.type),
    ["session", "transcript", "error"],
  );
});

test("send returns false while disconnected and queues only when asked", () => {
  const { relay } = makeRelay();
  relay.connect();
  const ws = FakeWebSocket.last;
  assert.equal(relay.send({ type: "chat", text: "early" }), false);
  assert.equal(relay.send({ type: "rtc_message", data: "x" }, { queue: true }), false);
  ws.serverOpen();
  assert.deepEqual(ws.sentJson, [{ type: "rtc_message", data: "x" }]);
  assert.equal(relay.send({ type: "chat", text: "now" }), true);
  assert.deepEqual(ws.sentJson.at(-1), { type: "chat", text: "now" });
});

test("a dropped socket reconnects with growing delays, reset once the server speaks", () => {
  const { relay, timers } = makeRelay();
  const states = [];
  relay.on("state", (s) => states.push(s));
  relay.connect();
  FakeWebSocket.last.serverClose(1006);
  assert.equal(timers.pending[0].ms, 100);
  timers.runAll();
  FakeWebSocket.last.serverClose(1006);
  assert.equal(timers.pending[0].ms, 200);
  timers.runAll();
  // Opens, but the server drops it before saying anything: no reset.
  FakeWebSocket.last.serverOpen();
  FakeWebSocket.last.serverClose(1011);
  assert.equal(timers.pending[0].ms, 400);
  timers.runAll();
  FakeWebSocket.last.serverOpen();
  FakeWebSocket.last.serverSend({ type: "session", status: "active" });
  FakeWebSocket.last.serverClose(1001);
  assert.equal(timers.pending[0].ms, 100);
  assert.equal(FakeWebSocket.instances.length, 4);
  assert.ok(states.some((s) => s.state === "reconnecting" && s.attempt === 3));
});

test("the server's own close codes end the relay without reconnecting", () => {
  for (const code of [4403, 4404]) {
    FakeWebSocket.reset();
    const { relay, timers } = makeRelay();
    const ended = [];
    relay.on("ended", (e) => ended.push(e));
    relay.connect();
    FakeWebSocket.last.serverOpen();
    FakeWebSocket.last.serverClose(code, "gone");
    assert.deepEqual(ended, [{ code, reason: "gone" }]);
    assert.equal(relay.state, "closed");
    assert.equal(timers.pending.length, 0);
    assert.equal(FakeWebSocket.instances.length, 1);
  }
  assert.equal(isTerminalClose(1006), false);
  assert.equal(isTerminalClose(1000), false);
  assert.equal(isTerminalClose(4000), true);
});

test("close stops reconnecting and forgets queued work", () => {
  const { relay, timers } = makeRelay();
  relay.connect();
  FakeWebSocket.last.serverClose(1006);
  assert.equal(timers.pending.length, 1);
  relay.close();
  assert.equal(timers.pending.length, 0);
  assert.equal(relay.state, "closed");
  assert.equal(relay.send({ type: "chat", text: "x" }, { queue: true }), false);
  assert.deepEqual(relay.outbox, []);
});

test("frames queued and sent are reported for progress", async () => {
  const { relay } = makeRelay();
  const transport = new FakeTransport();
  const events = [];
  relay.on("frame-queued", (f) => events.push(["queued", f]));
  relay.on("frame-sent", (f) => events.push(["sent", f]));
  relay.connect();
  FakeWebSocket.last.serverOpen();
  FakeWebSocket.last.serverSend(rtcSend("x"));
  relay.attachTransport(transport);
  transport.setState("joined");
  await flush();
  assert.deepEqual(events, [
    ["queued", "x"],
    ["sent", "x"],
  ]);
});

test("3000 (the server closed a socket whose presence task died) is reconnected, not the end", () => {
  const { relay, timers } = makeRelay();
  const states = [];
  const ended = [];
  relay.on("state", (s) => states.push(s));
  relay.on("ended", (e) => ended.push(e));
  relay.connect();
  FakeWebSocket.last.serverOpen();
  FakeWebSocket.last.serverSend({ type: "session", status: "active" });
  FakeWebSocket.last.serverClose(3000, "presence lost");
  assert.equal(isTerminalClose(3000), false);
  assert.equal(isTerminalClose(1012), false); // the server restarting
  assert.deepEqual(ended, []);
  assert.equal(relay.state, "reconnecting");
  assert.deepEqual(states.at(-1), { state: "reconnecting", attempt: 1, delay: 100, code: 3000 });
  timers.runAll();
  assert.equal(FakeWebSocket.instances.length, 2);
  FakeWebSocket.last.serverOpen();
  assert.equal(relay.state, "open");
  // After a crash the server answers the reconnect with the end: 4410 is final.
  FakeWebSocket.last.serverSend({ type: "session", status: "closed", close_reason: "crashed" });
  FakeWebSocket.last.serverClose(4410);
  assert.deepEqual(ended, [{ code: 4410, reason: "" }]);
  assert.equal(relay.state, "closed");
  assert.equal(timers.pending.length, 0);
});

test("retryNow reconnects at once while waiting, and does nothing otherwise", () => {
  const { relay, timers } = makeRelay();
  relay.connect();
  assert.equal(relay.retryNow(), false, "connecting: nothing to hurry");
  FakeWebSocket.last.serverClose(1006);
  assert.equal(timers.pending.length, 1);
  assert.equal(relay.retryNow(), true);
  assert.equal(timers.pending.length, 0);
  assert.equal(FakeWebSocket.instances.length, 2);
  assert.equal(relay.retryNow(), false, "an attempt is under way");
  FakeWebSocket.last.serverOpen();
  assert.equal(relay.state, "open");
  relay.close();
  assert.equal(relay.retryNow(), false);
});
