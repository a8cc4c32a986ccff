import { test } from "node:test";
import assert from "node:assert/strict";

import { AckLog, MAX_ACKS, ackText, describeParams, renderAcks } from "../../static/js/acks.js";
import { FakeElement } from "./fakes.mjs";

const ack = (cmd, extra = {}) => ({ type: "command_result", cmd, ok: true, code: 1000, message: "ok", ...extra });
const replayed = (cmd, extra = {}) => ack(cmd, { replay: true, ...extra });
const cmds = (log) => log.entries.map((e) => e.cmd);

test("live results are listed in order, at most eight", () => {
  const log = new AckLog();
  log.connected();
  for (let i = 0; i < 10; i++) log.apply(ack(`c${i}`));
  assert.equal(log.entries.length, MAX_ACKS);
  assert.deepEqual(cmds(log), ["c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9"]);
});

test("a reload rebuilds the list from the replayed results", () => {
  const log = new AckLog(); // a fresh page
  log.connected();
  const r = log.apply(replayed("set-params", { params: { voice: "lyon" } }));
  assert.equal(r.rebuilt, true);
  log.apply(replayed("interrupt"));
  assert.deepEqual(cmds(log), ["set-params", "interrupt"]);
  assert.deepEqual(log.entries[0].params, { voice: "lyon" });
  assert.equal(log.entries[0].replay, true);
});

test("a reconnect's replay replaces the list instead of duplicating it", () => {
  const log = new AckLog();
  log.connected();
  log.apply(ack("set-params"));
  log.apply(ack("interrupt"));
  // The socket drops and comes back: the server replays what it acknowledged.
  log.connected();
  log.apply(replayed("set-params"));
  log.apply(replayed("interrupt"));
  assert.deepEqual(cmds(log), ["set-params", "interrupt"]);
  // And again, with one more live result in between.
  log.apply(ack("set-params", { params: { language: "fr" } }));
  log.connected();
  for (const c of ["set-params", "interrupt", "set-params"]) log.apply(replayed(c));
  assert.deepEqual(cmds(log), ["set-params", "interrupt", "set-params"]);
});

test("a connect that replays nothing keeps the list; a later live result is added", () => {
  const log = new AckLog();
  log.connected();
  log.apply(ack("interrupt"));
  log.connected();
  log.apply(ack("set-params"));
  assert.deepEqual(cmds(log), ["interrupt", "set-params"]);
  // A stray replayed result after live ones (no new connect) does not wipe the list.
  log.apply(replayed("x"));
  assert.deepEqual(cmds(log), ["interrupt", "set-params", "x"]);
});

test("ackText says what happened in a person's words, never the protocol's", () => {
  const names = { voice: { lyon: "Lyon" }, language: { fr: "French" }, mode: { 1: "Retelling" } };
  const name = (key, value) => names[key]?.[value] ?? "";
  assert.equal(ackText(ack("interrupt"), name), "Stopped");
  assert.equal(ackText(ack("set-params"), name), "Settings changed");
  assert.equal(ackText(ack("set-params", { params: { voice: "lyon" } }), name), "Voice changed to Lyon");
  assert.equal(ackText(ack("set-params", { params: { language: "fr" } }), name), "Language: French");
  assert.equal(ackText(ack("set-params", { params: { mode: 1 } }), name), "Mode: Retelling");
  assert.equal(ackText(ack("set-params", { params: { background_url: "https://x.test/b.png" } }), name), "Background changed");
  assert.equal(
    ackText(ack("set-params", { params: { voice: "lyon", language: "fr", mode: 1 } }), name),
    "Voice changed to Lyon · Language: French · Mode: Retelling",
  );
  // A value the catalog does not know is shown as it is, rather than nothing.
  assert.equal(ackText(ack("set-params", { params: { voice: "v-123" } }), name), "Voice changed to v-123");
  // Failures in words, with the reason.
  const failed = (params, message) => ack("set-params", { ok: false, code: 1002, message, params });
  assert.equal(ackText(failed({ voice: "lyon" }, "bad voice"), name), "Could not change the voice: bad voice");
  assert.equal(ackText(failed({ language: "xx" }, "failed"), name), "Could not change the language.");
  assert.equal(ackText(failed(null, "busy"), name), "Could not change the settings: busy");
  assert.equal(ackText(ack("interrupt", { ok: false, message: "nothing to stop" })), "Could not stop the avatar: nothing to stop");
  for (const text of [ackText(ack("interrupt")), ackText(failed({ mode: 1 }, "no"))]) {
    assert.doesNotMatch(text, /set-params|interrupt|done|code/);
  }
  assert.equal(describeParams({ voice: "", language: null }), "");
  // Voice params (an object) are named, never shown as "[object Object]".
  assert.equal(describeParams({ voice: "lyon", voice_params: { speed: 1.2 } }, name), "Voice changed to Lyon · voice params changed");
});

test("renderAcks shows the list newest first with its data attributes", () => {
  const list = new FakeElement("ol");
  const log = new AckLog();
  log.connected();
  log.apply(replayed("set-params"));
  log.apply(replayed("interrupt", { ok: false, code: 1001, message: "nothing to interrupt" }));
  renderAcks(list, log);
  renderAcks(list, log); // rendering again does not add anything
  assert.equal(list.children.length, 2);
  const [first, second] = list.children;
  assert.equal(first.dataset.cmd, "interrupt");
  assert.equal(first.className, "ack fail");
  assert.equal(first.dataset.ok, "false");
  assert.equal(first.dataset.code, "1001");
  assert.equal(first.dataset.replay, "true");
  assert.equal(second.className, "ack ok");
  assert.equal(second.textContent, "Settings changed");
  assert.equal(first.textContent, "Could not stop the avatar: nothing to interrupt");
});

test("a reconnect that replays what the page shows keeps its items (nothing announced again)", () => {
  const list = new FakeElement("ol");
  const log = new AckLog();
  log.connected();
  log.apply(ack("set-params", { params: { voice: "lyon" } }));
  renderAcks(list, log);
  log.apply(ack("interrupt"));
  renderAcks(list, log);
  const [newest, oldest] = list.children;
  assert.equal(newest.dataset.cmd, "interrupt");
  log.connected();
  log.apply(replayed("set-params", { params: { voice: "lyon" } }));
  renderAcks(list, log);
  log.apply(replayed("interrupt"));
  renderAcks(list, log);
  assert.equal(list.children.length, 2);
  assert.equal(list.children[0], newest, "the same item, not a new one");
  assert.equal(list.children[1], oldest);
  // A new live result is put on top; the ninth pushes the oldest out.
  for (let i = 0; i < 7; i++) {
    log.apply(ack(`c${i}`));
    renderAcks(list, log);
  }
  assert.equal(list.children.length, MAX_ACKS);
  assert.equal(list.children[0].dataset.cmd, "c6");
  assert.equal(list.children.at(-1), newest, "the oldest (set-params) went, interrupt is last");
});
