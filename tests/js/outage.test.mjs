import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";

import { createBackoff } from "../../static/js/backoff.js";
import { Notices } from "../../static/js/notices.js";
import { Outage, RESUMED_TEXT, RESUMING_MEDIA_TEXT, outageNotice, transportPlan } from "../../static/js/outage.js";
import { Relay } from "../../static/js/relay.js";
import { FakeElement, FakeTransport, FakeWebSocket, manualTimers } from "./fakes.mjs";

beforeEach(() => FakeWebSocket.reset());

/**
 * The outage's wiring as the page does it (live_session.js: the relay's and transport's
 * "state", the session frame), on a real Relay over a fake socket, with every #status and
 * #error the page showed recorded. live_session.test.mjs drives the page's own wiring.
 */
function page({ offline = false } = {}) {
  const status = new FakeElement("div");
  const error = new FakeElement("div");
  const notices = new Notices({ status, error, setInterval: () => 0, clearInterval: () => {} });
  const shown = { statuses: [], errors: [] };
  const record = () => {
    const s = status.children[0]?.textContent ?? "";
    if (s && shown.statuses.at(-1) !== s) shown.statuses.push(s);
    if (error.textContent && shown.errors.at(-1) !== error.textContent) shown.errors.push(error.textContent);
  };
  for (const method of ["setStatus", "showError", "clearError"]) {
    const original = notices[method].bind(notices);
    notices[method] = (...args) => {
      original(...args);
      record();
    };
  }
  const env = { offline };
  const outage = new Outage({ notices, offline: () => env.offline });
  const timers = manualTimers();
  const relay = new Relay({
    url: "ws://test/ws/sessions/1/",
    WebSocketImpl: FakeWebSocket,
    backoff: createBackoff({ base: 1000, max: 8000, jitter: 0 }),
    setTimeout: timers.setTimeout,
    clearTimeout: timers.clearTimeout,
  });
  const transport = new FakeTransport();
  const recoveries = [];
  const plans = [];
  relay.on("state", (info) => outage.relayState(info));
  relay.on("message", (m) => {
    if (m.type === "session") plans.push(outage.sessionFrame(m.status, transport.state));
  });
  transport.on("state", (state) => {
    if (outage.quiet) {
      if (state === "failed") outage.transportFailed();
      return;
    }
    if (state === "failed") {
      recoveries.push("recover");
      notices.showError("Reconnecting failed: the avatar can't be reached.", "media");
    }
  });
  relay.attachTransport(transport);
  relay.connect();
  FakeWebSocket.last.serverOpen();
  FakeWebSocket.last.serverSend({ type: "session", status: "active", expires_at: "2030-01-01T00:00:00Z" });
  transport.setState("joined");
  notices.setStatus("Connected. Say hello!");
  return { notices, status, error, shown, outage, relay, transport, timers, recoveries, plans, env };
}

/** The server goes away, and `attempts` reconnects fail; the transport fails too. */
function serverDown(p, attempts) {
  FakeWebSocket.last.serverClose(1006);
  p.transport.setState("reconnecting");
  for (let i = 1; i < attempts; i++) {
    p.timers.runAll();
    if (i === 2) p.transport.setState("failed"); // its own retry is refused meanwhile
    FakeWebSocket.last.serverClose(1006); // refused: never opens
  }
}

test("while the server is unreachable there is one notice, updated, and no error", () => {
  const p = page();
  p.notices.showError("The avatar refused set-params.", "command_failed"); // said before the outage
  serverDown(p, 1);
  const notice = p.status.children[0];
  for (let i = 0; i < 4; i++) {
    p.timers.runAll();
    if (i === 1) p.transport.setState("failed");
    FakeWebSocket.last.serverClose(1006);
  }
  assert.equal(p.relay.backoff.attempt, 5);
  assert.equal(p.status.children[0], notice, "the same notice all along (not redrawn, not announced again)");
  assert.equal(p.status.textContent, "The server can't be reached right now; reconnecting…");
  assert.equal(p.status.dataset.busy, "true");
  assert.equal(p.error.textContent, "", "no error beside the notice (the old one went)");
  assert.deepEqual(p.recoveries, [], "the transport's failure started no recovery of its own");
  const during = p.shown.statuses.slice(p.shown.statuses.indexOf("The server can't be reached right now; reconnecting…"));
  assert.deepEqual(during, ["The server can't be reached right now; reconnecting…"], "one notice");
  assert.doesNotMatch(p.status.textContent, /connection/i, "the user's connection is not blamed");
});

test("when the server is back and the session went on, the page says so and rebuilds the failed transport", () => {
  const p = page();
  serverDown(p, 4);
  p.notices.showError("Not connected to the server right now; try again in a moment.", "not_connected");
  p.timers.runAll();
  FakeWebSocket.last.serverOpen();
  assert.equal(p.outage.quiet, true, "open, but the session's state is not known yet");
  FakeWebSocket.last.serverSend({ type: "session", status: "active", expires_at: "2030-01-01T00:00:00Z" });
  assert.equal(p.plans.at(-1).resumed, true);
  assert.equal(p.plans.at(-1).transport, "rebuild", "fresh credentials for the transport that failed");
  assert.equal(p.status.textContent, RESUMING_MEDIA_TEXT);
  assert.equal(p.error.textContent, "", "'not connected' is moot once reconnected");
  assert.equal(p.outage.quiet, false);
  assert.deepEqual(p.recoveries, []);
  // From now on the transport's troubles are its own again.
  p.transport.setState("failed");
  assert.deepEqual(p.recoveries, ["recover"]);
});

test("when the server is back and nothing failed, the session simply continues", () => {
  const p = page();
  FakeWebSocket.last.serverClose(1011); // e.g. the server's presence task died: a fresh socket
  p.timers.runAll();
  FakeWebSocket.last.serverOpen();
  FakeWebSocket.last.serverSend({ type: "session", status: "active" });
  assert.deepEqual(p.plans.at(-1), { resumed: true, transport: "none", downMs: p.plans.at(-1).downMs });
  assert.equal(p.status.textContent, RESUMED_TEXT);
  assert.equal(p.error.textContent, "");
});

test("when the session could not be kept, the first frame says it ended (and the page ends it)", () => {
  const p = page();
  serverDown(p, 3);
  p.timers.runAll();
  FakeWebSocket.last.serverOpen();
  FakeWebSocket.last.serverSend({ type: "session", status: "closed", close_reason: "crashed" });
  FakeWebSocket.last.serverClose(4410);
  assert.equal(p.plans.at(-1).resumed, false);
  assert.equal(p.relay.state, "closed");
  assert.deepEqual(p.recoveries, []);
  assert.equal(p.error.textContent, "");
});

test("the first connect is not an outage", () => {
  const p = page();
  assert.deepEqual(p.plans, [null]);
  assert.equal(p.status.textContent, "Connected. Say hello!");
});

test("only a browser that says it is offline hears about its connection", () => {
  const p = page({ offline: true });
  serverDown(p, 2);
  assert.match(p.status.textContent, /offline/);
  p.env.offline = false;
  p.outage.show(); // the "online" event
  assert.match(p.status.textContent, /^The server can't be reached right now/);
});

test("outageNotice and transportPlan", () => {
  assert.equal(outageNotice(), "The server can't be reached right now; reconnecting…");
  assert.match(outageNotice({ offline: true }), /offline/);
  assert.equal(transportPlan("joined"), "none");
  assert.equal(transportPlan("waiting"), "none");
  assert.equal(transportPlan("joined", true), "rebuild");
  assert.equal(transportPlan("failed"), "rebuild");
  assert.equal(transportPlan("reconnecting"), "retry");
  assert.equal(transportPlan("connecting"), "wait");
  assert.equal(transportPlan(undefined), "rebuild");
});
