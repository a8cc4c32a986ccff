// The page's last hop (pacing.js, and relay.js pumping through it): the frames one page
// sends never total more than 6,000 bytes of UTF-8 in any window of 1 s plus the jitter
// allowance. Time is a fake clock: it passes only when a test says so.

import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";

import { createBackoff } from "../../static/js/backoff.js";
import { BYTES_PER_SECOND, RateWindow, frameBytes, pacingFromConfig } from "../../static/js/pacing.js";
import { Relay } from "../../static/js/relay.js";
import { FakeTransport, FakeWebSocket, fakeClock, flush } from "./fakes.mjs";

beforeEach(() => FakeWebSocket.reset());

const WINDOW_MS = 1150; // 1 s plus the default allowance of 0.15 s

/** A small seeded generator (mulberry32): the same "random" frames on every run. */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// 1, 2, 3 and 4 bytes of UTF-8 each: the window counts bytes, not characters.
const PIECES = ["a", '"', "é", "中", "🙂"];

/** A frame of `bytes` bytes of UTF-8 (give or take the last character), numbered. */
function frameOf(n, bytes, rand) {
  let text = `#${n}:`;
  while (frameBytes(text) < bytes) {
    const piece = PIECES[Math.floor(rand() * PIECES.length)];
    if (frameBytes(text + piece) > bytes) break;
    text += piece;
  }
  return text;
}

/** A relay on the fake clock, its socket open, with a transport recording when it sent. */
function setup({ rateWindow = new RateWindow(), state = "connecting" } = {}) {
  const clock = fakeClock();
  const relay = new Relay({
    url: "ws://test/ws/sessions/1/",
    WebSocketImpl: FakeWebSocket,
    backoff: createBackoff({ base: 100, max: 1000, jitter: 0 }),
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    now: clock.now,
    rateWindow,
  });
  const transport = new FakeTransport();
  const sends = []; // {at, frame}
  const send = transport.send.bind(transport);
  transport.send = (frame) => {
    sends.push({ at: clock.now(), frame });
    return send(frame);
  };
  transport.state = state;
  relay.connect();
  const ws = FakeWebSocket.last;
  ws.serverOpen();
  relay.attachTransport(transport);
  const server = (frame) => ws.serverSend({ type: "rtc_send", frame });
  return { clock, relay, transport, ws, sends, server };
}

/** Let `ms` pass, once what is already under way (a send, the pump's next step) has run. */
async function pass(clock, ms) {
  await flush();
  await clock.advance(ms);
}

/** The most bytes any window of `windowMs` (a send at t counts for [t, t + windowMs)) holds. */
function busiestWindow(sends, windowMs = WINDOW_MS) {
  let most = 0;
  for (let i = 0; i < sends.length; i++) {
    let total = 0;
    for (let j = i; j < sends.length && sends[j].at < sends[i].at + windowMs; j++) total += frameBytes(sends[j].frame);
    most = Math.max(most, total);
  }
  return most;
}

// ---------------------------------------------------------------------------------------
// The window itself

test("the window's settings come from the page config, with the defaults when absent", () => {
  assert.deepEqual(pacingFromConfig({}), { limit: 6000, windowMs: 1150 });
  assert.deepEqual(pacingFromConfig(undefined), { limit: 6000, windowMs: 1150 });
  assert.deepEqual(pacingFromConfig({ streamBytesPerSecond: 4000, streamJitterAllowance: 0.3 }), { limit: 4000, windowMs: 1300 });
  assert.deepEqual(pacingFromConfig({ streamBytesPerSecond: 4000, streamJitterAllowance: 0 }), { limit: 4000, windowMs: 1000 });
  // Never above Agora's limit; nonsense falls back to the defaults.
  assert.deepEqual(pacingFromConfig({ streamBytesPerSecond: 9000 }), { limit: 6000, windowMs: 1150 });
  for (const bad of [null, "fast", -1, 0, Number.NaN, Infinity]) {
    assert.deepEqual(pacingFromConfig({ streamBytesPerSecond: bad, streamJitterAllowance: bad === 0 ? -1 : bad }), {
      limit: 6000,
      windowMs: 1150,
    });
  }
});

test("frames count their bytes of UTF-8", () => {
  assert.equal(frameBytes("abc"), 3);
  assert.equal(frameBytes("é中🙂"), 2 + 3 + 4);
  assert.equal(frameBytes('{"t":"\\ud83d"}'), 14); // an escaped half emoji is ASCII
});

test("a frame fits once enough earlier bytes have left the window, not before", () => {
  const w = new RateWindow({ limit: 6000, windowMs: 1150 });
  assert.equal(w.delay(1000, 0), 0);
  w.record(4000, 0);
  w.record(1500, 300);
  assert.equal(w.delay(500, 400), 0);
  assert.equal(w.delay(501, 400), 750, "until the 4,000 bytes of t=0 leave at 1150");
  assert.equal(w.delay(4500, 400), 750);
  assert.equal(w.delay(4501, 400), 1050, "until the 1,500 bytes of t=300 leave too");
  assert.equal(w.delay(501, 1150), 0, "a frame at exactly the expiry sees it gone");
});

test("a frame larger than the limit waits for an empty window instead of blocking for ever", () => {
  const w = new RateWindow({ limit: 1000, windowMs: 1000 });
  w.record(10, 0);
  assert.equal(w.delay(5000, 500), 500);
  assert.equal(w.delay(5000, 1000), 0);
});

// ---------------------------------------------------------------------------------------
// The relay's pump

test("over random frame sizes and arrival times, no window of 1.15 s ever holds more than 6,000 bytes", async () => {
  for (let seed = 1; seed <= 25; seed++) {
    const rand = random(seed);
    const { clock, transport, sends, server } = setup({ state: rand() < 0.5 ? "connecting" : "joined" });
    const frames = [];
    for (let n = 0; n < 40; n++) {
      const frame = frameOf(n, 1 + Math.floor(rand() * 1024), rand);
      frames.push(frame);
      server(frame);
      // Sometimes a pause, a whole batch at once, or the transport dropping out and back.
      const roll = rand();
      if (roll < 0.3) await pass(clock, Math.floor(rand() * 400));
      else if (roll < 0.4) transport.setState(transport.state === "joined" ? "reconnecting" : "joined");
      await flush();
    }
    transport.setState("joined");
    await pass(clock, 20_000);
    assert.deepEqual(transport.sent, frames, `seed ${seed}: every frame, in order`);
    const most = busiestWindow(sends);
    assert.ok(most <= BYTES_PER_SECOND, `seed ${seed}: ${most} bytes in one window`);
    assert.equal(clock.pending, 0, `seed ${seed}: no timer left behind`);
  }
});

test("more than 6,000 bytes queued before the transport joins leave over more than a second, in order", async () => {
  const rand = random(7);
  const { clock, transport, sends, server } = setup();
  const frames = Array.from({ length: 10 }, (_, n) => frameOf(n, 900, rand)); // ~9,000 bytes
  for (const f of frames) server(f);
  await pass(clock, 3000);
  assert.deepEqual(transport.sent, [], "nothing goes before the join");

  const joined = clock.now();
  transport.setState("joined");
  await flush();
  const burst = sends.filter((s) => s.at === joined);
  assert.ok(burst.length >= 1 && burst.reduce((n, s) => n + frameBytes(s.frame), 0) <= 6000, "what fits goes at once");
  assert.ok(burst.length < frames.length, "not the whole queue");

  await pass(clock, 5000);
  assert.deepEqual(transport.sent, frames);
  assert.ok(sends.at(-1).at - joined >= WINDOW_MS, `the last frame left ${sends.at(-1).at - joined} ms after the join`);
  assert.ok(busiestWindow(sends) <= 6000);
});

test("a transport reconnect never bursts: the window remembers what went before the drop", async () => {
  const rand = random(11);
  const { clock, transport, sends, server } = setup({ state: "joined" });
  const before = Array.from({ length: 5 }, (_, n) => frameOf(n, 1000, rand));
  for (const f of before) server(f);
  await flush();
  assert.equal(sends.length, 5, "5,000 bytes fit at once");

  transport.setState("reconnecting");
  const during = Array.from({ length: 8 }, (_, n) => frameOf(5 + n, 1000, rand));
  for (const f of during) server(f);
  await pass(clock, 200);
  transport.setState("joined"); // back 200 ms later: only 1,000 bytes may go until 1,150
  await flush();
  assert.equal(sends.length, 6);

  await pass(clock, 5000);
  assert.deepEqual(transport.sent, [...before, ...during]);
  assert.ok(busiestWindow(sends) <= 6000, `${busiestWindow(sends)} bytes in one window`);
  assert.ok(sends.at(-1).at >= 2 * WINDOW_MS);
});

test("frames the server already paced pass without waiting; uneven arrival delays them at most that much", async () => {
  for (const jitter of [0, 100]) {
    const rand = random(3 + jitter);
    // The server's releases, by the same window: 60 frames of up to 950 bytes.
    const server = new RateWindow();
    const released = [];
    let t = 0;
    for (let n = 0; n < 60; n++) {
      const frame = frameOf(n, 200 + Math.floor(rand() * 750), rand);
      t += server.delay(frameBytes(frame), t);
      server.record(frameBytes(frame), t);
      released.push({ at: t, frame });
      t += Math.floor(rand() * 50);
    }
    // Each arrives up to `jitter` ms late, in order.
    let last = 0;
    const arrivals = released.map(({ at, frame }) => {
      last = Math.max(last, at + Math.floor(rand() * (jitter + 1)));
      return { at: last, frame };
    });
    const page = setup({ state: "joined" });
    const start = page.clock.now();
    for (const a of arrivals) {
      await pass(page.clock, start + a.at - page.clock.now());
      page.server(a.frame);
      await flush();
    }
    await pass(page.clock, 5000);
    assert.deepEqual(page.transport.sent, released.map((r) => r.frame));
    const held = page.sends.map((s, i) => s.at - start - arrivals[i].at);
    assert.ok(Math.max(...held) <= jitter, `held up to ${Math.max(...held)} ms with ${jitter} ms of jitter`);
    if (jitter === 0) assert.deepEqual(new Set(held), new Set([0]));
  }
});

test("a failed send is still reported as rtc_send_failed, and the paced frames behind it still go in order", async () => {
  const rand = random(5);
  const { clock, transport, ws, sends, server } = setup();
  const frames = Array.from({ length: 9 }, (_, n) => frameOf(n, 1000, rand));
  const bad = frames[6]; // one that has to wait for the window
  transport.failOn.add(bad);
  for (const f of frames) server(f);
  transport.setState("joined");
  await pass(clock, 5000);
  assert.deepEqual(transport.sent, frames.filter((f) => f !== bad));
  assert.deepEqual(
    ws.sentJson.filter((m) => m.type === "rtc_send_failed"),
    [{ type: "rtc_send_failed", frame: bad, reason: "boom" }],
  );
  assert.ok(busiestWindow(sends) <= 6000, "a failed frame counts too: it may have gone");
});

test("closing the relay while it waits for the window stops at once and leaves no timer", async () => {
  const rand = random(9);
  const { clock, relay, transport, server } = setup({ state: "joined" });
  for (let n = 0; n < 9; n++) server(frameOf(n, 1000, rand));
  await flush();
  assert.equal(transport.sent.length, 6);
  assert.equal(clock.pending, 1, "the pump waits for the window");
  relay.close();
  await flush();
  assert.equal(clock.pending, 0);
  await pass(clock, 5000);
  assert.equal(transport.sent.length, 6);
  assert.equal(relay.pendingFrames, 0);
});

test("relays of one page share its window: a new session's socket does not start a fresh budget", async () => {
  const rateWindow = new RateWindow();
  const rand = random(13);
  const first = setup({ rateWindow, state: "joined" });
  for (let n = 0; n < 5; n++) first.server(frameOf(n, 1000, rand));
  await flush();
  first.relay.close();
  const second = setup({ rateWindow, state: "joined" });
  for (let n = 0; n < 3; n++) second.server(frameOf(5 + n, 1000, rand));
  await flush();
  assert.equal(second.transport.sent.length, 1, "only 1,000 bytes are left in this window");
  second.relay.close();
});
