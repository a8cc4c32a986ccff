import { test } from "node:test";
import assert from "node:assert/strict";

import { SendProgress, estimateFrames } from "../../static/js/send_progress.js";

const chat = (mid, idx, fin, text = "x") => JSON.stringify({ v: 2, type: "chat", mid, idx, fin, pld: { text } });

test("estimateFrames grows with the text's bytes", () => {
  assert.equal(estimateFrames("hi"), 1);
  assert.equal(estimateFrames("a".repeat(868)), 1);
  assert.equal(estimateFrames("a".repeat(869)), 2);
  assert.equal(estimateFrames("é".repeat(868)), 2);
  assert.ok(estimateFrames("a".repeat(9000)) >= 10);
});

test("progress counts a long message's frames: sent n of m", () => {
  const p = new SendProgress();
  p.expect("a".repeat(868 * 3));
  let v = p.queued(chat("m1", 0, false));
  assert.deepEqual([v.sent, v.total, v.done, v.multi], [0, 3, false, true]);
  p.queued(chat("m1", 1, false));
  v = p.sent(chat("m1", 0, false));
  assert.deepEqual([v.sent, v.total], [1, 3]);
  v = p.queued(chat("m1", 2, true));
  assert.equal(v.total, 3);
  p.sent(chat("m1", 1, false));
  v = p.sent(chat("m1", 2, true));
  assert.deepEqual([v.sent, v.total, v.done], [3, 3, true]);
});

test("the last frame fixes the total when the estimate was off", () => {
  const p = new SendProgress();
  p.expect("a".repeat(5000));
  p.queued(chat("m", 0, false));
  const v = p.queued(chat("m", 1, true));
  assert.equal(v.total, 2);
});

test("a one-frame message is not worth showing; commands are not counted", () => {
  const p = new SendProgress();
  assert.equal(p.queued(chat("m", 0, true)).multi, false);
  assert.equal(p.queued('{"v":2,"type":"command","mid":"c","pld":{"cmd":"interrupt"}}'), null);
  assert.equal(p.sent('{"v":2,"type":"command","mid":"c","pld":{"cmd":"interrupt"}}'), null);
});
