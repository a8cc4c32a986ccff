import { test } from "node:test";
import assert from "node:assert/strict";

import { createBackoff } from "../../static/js/backoff.js";

test("delays grow exponentially without jitter", () => {
  const b = createBackoff({ base: 100, factor: 2, max: 100000, jitter: 0 });
  assert.deepEqual([b.next(), b.next(), b.next(), b.next()], [100, 200, 400, 800]);
  assert.equal(b.attempt, 4);
});

test("delays stop growing at the cap", () => {
  const b = createBackoff({ base: 500, factor: 2, max: 3000, jitter: 0 });
  const delays = Array.from({ length: 8 }, () => b.next());
  assert.deepEqual(delays, [500, 1000, 2000, 3000, 3000, 3000, 3000, 3000]);
  // Far past any realistic attempt count, still capped (no Infinity or NaN).
  for (let i = 0; i < 2000; i++) b.next();
  assert.equal(b.next(), 3000);
});

test("jitter stays within (d * (1 - jitter), d]", () => {
  const lo = createBackoff({ base: 1000, max: 1000, jitter: 0.5, random: () => 0.999999 });
  const hi = createBackoff({ base: 1000, max: 1000, jitter: 0.5, random: () => 0 });
  assert.equal(hi.next(), 1000);
  assert.equal(lo.next(), 500);
  const b = createBackoff({ base: 400, factor: 2, max: 10000, jitter: 0.3 });
  for (let i = 0; i < 200; i++) {
    const ceiling = Math.min(10000, 400 * 2 ** Math.min(i, 30));
    const d = b.next();
    assert.ok(d <= ceiling && d >= Math.floor(ceiling * 0.7), `attempt ${i}: ${d} vs ${ceiling}`);
  }
});

test("the injected random decides the jitter", () => {
  const values = [0.25, 0.75];
  const b = createBackoff({ base: 1000, factor: 1, max: 1000, jitter: 0.4, random: () => values.shift() });
  assert.equal(b.next(), 900);
  assert.equal(b.next(), 700);
});

test("reset starts over from the first delay", () => {
  const b = createBackoff({ base: 100, max: 10000, jitter: 0 });
  b.next();
  b.next();
  b.next();
  b.reset();
  assert.equal(b.attempt, 0);
  assert.equal(b.next(), 100);
});

test("nonsense options are refused", () => {
  assert.throws(() => createBackoff({ base: 0 }), RangeError);
  assert.throws(() => createBackoff({ base: 1000, max: 10 }), RangeError);
  assert.throws(() => createBackoff({ jitter: 2 }), RangeError);
  assert.throws(() => createBackoff({ factor: 0.5 }), RangeError);
});
