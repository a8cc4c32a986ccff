import { test } from "node:test";
import assert from "node:assert/strict";

import { Emitter } from "../../static/js/emitter.js";
import { Scope } from "../../static/js/scope.js";
import { fakeClock, flush } from "./fakes.mjs";

test("listeners and timers of a closed scope never run", async () => {
  const clock = fakeClock();
  const scope = new Scope(clock);
  const source = new Emitter();
  const seen = [];
  scope.on(source, "news", (x) => seen.push(`news ${x}`));
  scope.timeout(() => seen.push("timeout"), 1000);
  scope.interval(() => seen.push("tick"), 400);
  source.emit("news", 1);
  await clock.advance(500);
  scope.close();
  source.emit("news", 2);
  await clock.advance(5000);
  assert.deepEqual(seen, ["news 1", "tick"]);
  assert.equal(clock.pending, 0);
  assert.equal(scope.closed, true);
});

test("a timeout can be cancelled, and one that ran is not kept", async () => {
  const clock = fakeClock();
  const scope = new Scope(clock);
  const seen = [];
  const cancel = scope.timeout(() => seen.push("cancelled"), 100);
  scope.timeout(() => seen.push("ran"), 200);
  cancel();
  await clock.advance(300);
  assert.deepEqual(seen, ["ran"]);
  assert.equal(clock.pending, 0);
});

test("closing a child lets go of its listeners only; closing the parent closes the child", () => {
  const scope = new Scope(fakeClock());
  const source = new Emitter();
  const seen = [];
  scope.on(source, "x", () => seen.push("parent"));
  const first = scope.child();
  first.on(source, "x", () => seen.push("first"));
  first.close();
  const second = scope.child();
  second.on(source, "x", () => seen.push("second"));
  source.emit("x");
  scope.close();
  source.emit("x");
  assert.deepEqual(seen, ["parent", "second"]);
  assert.equal(second.closed, true);
});

test("sleep resolves true after its time, false at once when the scope closes", async () => {
  const clock = fakeClock();
  const scope = new Scope(clock);
  const done = [];
  scope.sleep(1000).then((v) => done.push(["first", v]));
  await clock.advance(1000);
  scope.sleep(1000).then((v) => done.push(["second", v]));
  scope.close();
  await flush();
  assert.deepEqual(done, [
    ["first", true],
    ["second", false],
  ]);
  assert.equal(await scope.sleep(10), false);
});

test("what is added to a closed scope is let go of at once", () => {
  const clock = fakeClock();
  const scope = new Scope(clock);
  scope.close();
  const source = new Emitter();
  let heard = 0;
  scope.on(source, "x", () => (heard += 1));
  scope.timeout(() => (heard += 1), 1);
  scope.interval(() => (heard += 1), 1);
  source.emit("x");
  assert.equal(heard, 0);
  assert.equal(clock.pending, 0);
});
