import { test } from "node:test";
import assert from "node:assert/strict";

import { SessionClock } from "../../static/js/clock.js";

const T0 = Date.parse("2030-01-01T12:00:00Z");
const iso = (ms) => new Date(ms).toISOString();

/** Tick every second from `from` to `to` (ms after T0); collect what was said. */
function run(clock, from, to) {
  const said = [];
  for (let t = from; t <= to; t += 1000) {
    const r = clock.tick(T0 + t);
    if (r.minuteLeft) said.push(["one minute", t / 1000]);
    if (r.timeUp) said.push(["time up", t / 1000]);
  }
  return said;
}

test("a session of more than a minute is warned once, a minute before the end, then told the time is up", () => {
  const clock = new SessionClock();
  clock.set(iso(T0 + 120_000), T0);
  assert.equal(clock.tick(T0).text, "2:00");
  assert.deepEqual(run(clock, 0, 130_000), [
    ["one minute", 60],
    ["time up", 120],
  ]);
  assert.equal(clock.tick(T0 + 130_000).text, "0:00");
});

test("no warning when the page started counting with a minute or less left", () => {
  const clock = new SessionClock();
  clock.set(iso(T0 + 40_000), T0); // a reload 40 s before the end
  assert.deepEqual(run(clock, 0, 45_000), [["time up", 40]]);
  const exact = new SessionClock();
  exact.set(iso(T0 + 60_000), T0);
  assert.deepEqual(run(exact, 0, 61_000), [["time up", 60]]);
});

test("setting the same end again (each reconnect's session frame) says nothing twice", () => {
  const clock = new SessionClock();
  clock.set(iso(T0 + 90_000), T0);
  const first = run(clock, 0, 70_000);
  clock.set(iso(T0 + 90_000), T0 + 70_000);
  const later = run(clock, 71_000, 100_000);
  assert.deepEqual(first, [["one minute", 30]]);
  assert.deepEqual(later, [["time up", 90]]);
});

test("an end moved later with more than a minute to go warns again", () => {
  const clock = new SessionClock();
  clock.set(iso(T0 + 90_000), T0);
  run(clock, 0, 40_000);
  clock.set(iso(T0 + 300_000), T0 + 40_000);
  assert.deepEqual(run(clock, 41_000, 301_000), [
    ["one minute", 240],
    ["time up", 300],
  ]);
});

test("a missed minute (a sleeping tab) does not warn after the end", () => {
  const clock = new SessionClock();
  clock.set(iso(T0 + 120_000), T0);
  clock.tick(T0);
  const r = clock.tick(T0 + 125_000);
  assert.equal(r.minuteLeft, false);
  assert.equal(r.timeUp, true);
});

test("an unknown end shows --:--", () => {
  const clock = new SessionClock();
  assert.equal(clock.set(null, T0), false);
  assert.deepEqual(clock.tick(T0), { text: "--:--", low: false, minuteLeft: false, timeUp: false });
  assert.equal(clock.left(T0), null);
});
