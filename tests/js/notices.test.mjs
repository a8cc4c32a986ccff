import { test } from "node:test";
import assert from "node:assert/strict";

import { Notices } from "../../static/js/notices.js";
import { FakeElement } from "./fakes.mjs";

function notices() {
  const status = new FakeElement("div");
  const error = new FakeElement("div");
  const intervals = new Map();
  let next = 1;
  let now = 0;
  const n = new Notices({
    status,
    error,
    now: () => now,
    setInterval: (fn) => {
      intervals.set(next, fn);
      return next++;
    },
    clearInterval: (id) => intervals.delete(id),
  });
  return {
    n,
    status,
    error,
    intervals,
    advance(ms) {
      now += ms;
      for (const fn of intervals.values()) fn();
    },
  };
}

test("a status is a sentence; empty means no children at all (the box hides)", () => {
  const { n, status } = notices();
  n.setStatus("Connected. Say hello!");
  assert.equal(status.textContent, "Connected. Say hello!");
  assert.equal(status.dataset.busy, "false");
  n.setStatus("");
  assert.equal(status.children.length, 0);
});

test("a new error replaces old news: no 'You ended the session' beside a failure", () => {
  const { n, status, error } = notices();
  n.setStatus("You ended the session. You can start a new session.");
  n.showError("Could not start the session: the avatar service is busy.", "busy");
  assert.equal(status.textContent, "");
  assert.equal(error.textContent, "Could not start the session: the avatar service is busy.");
  assert.equal(error.dataset.code, "busy");
});

test("work in progress stays beside an error about it", () => {
  const { n, status } = notices();
  n.setStatus("The server can't be reached right now; reconnecting…", { busy: true });
  n.showError("Not connected to the server right now; try again in a moment.", "not_connected");
  assert.equal(status.textContent, "The server can't be reached right now; reconnecting…");
});

test("clearError with codes clears only those", () => {
  const { n, error } = notices();
  n.showError("The avatar refused set-params.", "command_failed");
  n.clearError(["not_connected"]);
  assert.equal(error.textContent, "The avatar refused set-params.");
  n.clearError(["command_failed"]);
  assert.equal(error.textContent, "");
  assert.equal(error.dataset.code, "");
});

test("the same notice again (each reconnect attempt) stays one notice: nothing is redrawn", () => {
  const { n, status, intervals } = notices();
  n.setStatus("The server can't be reached right now; reconnecting…", { busy: true, since: 0 });
  const sentence = status.children[0];
  const ticker = [...intervals.keys()];
  n.setStatus("The server can't be reached right now; reconnecting…", { busy: true, since: 0 });
  assert.equal(status.children[0], sentence, "the sentence node is kept, so nothing is announced again");
  assert.deepEqual([...intervals.keys()], ticker, "and its running time goes on");
  n.setStatus("The server can't be reached right now; reconnecting…", { busy: true, since: 5 });
  assert.notEqual(status.children[0], sentence, "a new wait is a new notice");
});

test("since shows the running seconds for the eye only, and stops with the next status", () => {
  const { n, status, intervals, advance } = notices();
  n.setStatus("Waiting…", { busy: true, since: 0 });
  advance(3000);
  assert.equal(status.textContent, "Waiting… 3 s");
  assert.equal(status.querySelector(".elapsed").getAttribute("aria-hidden"), "true");
  n.setStatus("Connected.");
  assert.equal(intervals.size, 0);
  assert.equal(status.textContent, "Connected.");
});

test("issue 17: news fades after fadeMs, work in progress and errors stay, close clears the error", async () => {
  const { fakeClock, fire } = await import("./fakes.mjs");
  const clock = fakeClock();
  const status = new FakeElement("div");
  const error = new FakeElement("div");
  const close = new FakeElement("button");
  const n = new Notices({ status, error, close, fadeMs: 1000, ...clock });
  n.setStatus("Connected. Say hello!");
  assert.equal(status.dataset.faded, "false");
  await clock.advance(999);
  assert.equal(status.dataset.faded, "false");
  await clock.advance(1);
  assert.equal(status.dataset.faded, "true");
  assert.equal(n.statusText, "Connected. Say hello!"); // the eye only: the text stays

  n.setStatus("Reconnecting…", { busy: true });
  assert.equal(status.dataset.faded, "false");
  await clock.advance(5000);
  assert.equal(status.dataset.faded, "false");
  assert.equal(clock.pending, 0);

  n.showError("The avatar service did not answer.", "upstream");
  await clock.advance(5000);
  assert.equal(n.errorText, "The avatar service did not answer.");
  fire(close, "click");
  assert.equal(n.errorText, "");
});
