import { test } from "node:test";
import assert from "node:assert/strict";

import { Transcript, TranscriptView } from "../../static/js/transcript.js";
import { FakeElement } from "./fakes.mjs";

const avatar = (mid, text, final = false) => ({ role: "avatar", mid, text, final });
const user = (mid, text) => ({ role: "user", mid, text, final: true });
const texts = (t) => t.lines.map((l) => [l.role, l.mid, l.text, l.final]);

test("avatar pieces with one mid are appended in order", () => {
  const t = new Transcript();
  assert.equal(t.apply(avatar("a1", "Hello")).added, true);
  assert.equal(t.apply(avatar("a1", ", wor")).added, false);
  t.apply(avatar("a1", "ld."));
  assert.deepEqual(texts(t), [["avatar", "a1", "Hello, world.", false]]);
});

test("a final frame with empty text finalizes without changing the text", () => {
  const t = new Transcript();
  t.apply(avatar("a1", "Hi"));
  t.apply(avatar("a1", " there"));
  const r = t.apply(avatar("a1", "", true));
  assert.equal(r.changed, true);
  assert.deepEqual(texts(t), [["avatar", "a1", "Hi there", true]]);
});

test("a final frame may carry the last piece", () => {
  const t = new Transcript();
  t.apply(avatar("a1", "Hi"));
  t.apply(avatar("a1", " there.", true));
  assert.deepEqual(texts(t), [["avatar", "a1", "Hi there.", true]]);
});

test("pieces of different mids make different lines", () => {
  const t = new Transcript();
  t.apply(avatar("a1", "One"));
  t.apply(avatar("a2", "Two"));
  t.apply(avatar("a1", " more", true));
  t.apply(avatar("a2", "", true));
  assert.deepEqual(texts(t), [
    ["avatar", "a1", "One more", true],
    ["avatar", "a2", "Two", true],
  ]);
});

test("user lines arrive whole and final", () => {
  const t = new Transcript();
  t.apply(user("u1", "What is the time?"));
  t.apply(avatar("a1", "Noon.", true));
  assert.deepEqual(texts(t), [
    ["user", "u1", "What is the time?", true],
    ["avatar", "a1", "Noon.", true],
  ]);
});

test("a user line and an avatar line may share a mid without merging", () => {
  const t = new Transcript();
  t.apply(user("m", "Question"));
  t.apply(avatar("m", "Answer", true));
  assert.equal(t.lines.length, 2);
});

test("a reconnect's replay replaces lines by mid instead of duplicating them", () => {
  const t = new Transcript();
  t.apply(user("u1", "Hi"));
  t.apply(avatar("a1", "Hello"));
  t.apply(avatar("a1", " you", true));
  // The socket reconnects: the server sends the whole transcript again.
  const r1 = t.apply(user("u1", "Hi"));
  const r2 = t.apply(avatar("a1", "Hello you", true));
  assert.equal(r1.changed, false);
  assert.equal(r2.changed, false);
  assert.deepEqual(texts(t), [
    ["user", "u1", "Hi", true],
    ["avatar", "a1", "Hello you", true],
  ]);
});

test("a replay completes a line whose last pieces were missed while disconnected", () => {
  const t = new Transcript();
  t.apply(avatar("a1", "The answer"));
  // Disconnected here: " is 42." and the final frame never arrived.
  t.apply(avatar("a1", "The answer is 42.", true));
  assert.deepEqual(texts(t), [["avatar", "a1", "The answer is 42.", true]]);
});

test("a replay into an empty page rebuilds the transcript in order", () => {
  const t = new Transcript();
  for (const f of [user("u1", "A"), avatar("a1", "B", true), user("u2", "C"), avatar("a2", "D", true)]) t.apply(f);
  for (const f of [user("u1", "A"), avatar("a1", "B", true), user("u2", "C"), avatar("a2", "D", true)]) t.apply(f);
  assert.deepEqual(
    t.lines.map((l) => l.text),
    ["A", "B", "C", "D"],
  );
});

test("pieces after a replay that marked a running answer final reopen and extend it", () => {
  const t = new Transcript();
  t.apply(avatar("a1", "Part one", true)); // replayed while the avatar still speaks
  t.apply(avatar("a1", ", part two"));
  assert.deepEqual(texts(t), [["avatar", "a1", "Part one, part two", false]]);
  t.apply(avatar("a1", "", true));
  assert.equal(t.get("avatar", "a1").final, true);
});

test("cutOpen marks unfinished avatar lines only", () => {
  const t = new Transcript();
  t.apply(user("u1", "Stop"));
  t.apply(avatar("a0", "Done", true));
  t.apply(avatar("a1", "Half"));
  const cut = t.cutOpen();
  assert.deepEqual(
    cut.map((l) => l.mid),
    ["a1"],
  );
  assert.equal(t.get("avatar", "a1").cut, true);
  assert.equal(t.get("avatar", "a0").cut, false);
  assert.deepEqual(t.cutOpen(), []);
  // The server's final frame still finalizes it; it stays marked as cut.
  t.apply(avatar("a1", "", true));
  assert.equal(t.get("avatar", "a1").final, true);
  assert.equal(t.get("avatar", "a1").cut, true);
});

test("frames without a role or mid are ignored", () => {
  const t = new Transcript();
  assert.equal(t.apply({ role: "avatar", text: "x" }), null);
  assert.equal(t.apply({ role: "bot", mid: "m", text: "x" }), null);
  assert.equal(t.lines.length, 0);
});

test("a replayed line that was cut short (interrupted, or cut by a reload) is marked cut", () => {
  const t = new Transcript();
  t.apply({ role: "user", mid: "u1", text: "Tell me a story", final: true, replay: true });
  t.apply({ role: "avatar", mid: "a1", text: "Once upon a", final: true, cut: true, replay: true });
  t.apply({ role: "avatar", mid: "a2", text: "Done.", final: true, cut: false, replay: true });
  assert.equal(t.get("avatar", "a1").cut, true);
  assert.equal(t.get("avatar", "a2").cut, false);
  // The next reconnect's replay again: still one line, still cut.
  const again = t.apply({ role: "avatar", mid: "a1", text: "Once upon a", final: true, cut: true, replay: true });
  assert.equal(again.changed, false);
  assert.equal(t.lines.length, 3);
});

test("a line the page saw running and the replay says was cut gets the marker", () => {
  const t = new Transcript();
  t.apply({ role: "avatar", mid: "a1", text: "Once upon" });
  const r = t.apply({ role: "avatar", mid: "a1", text: "Once upon a", final: true, cut: true });
  assert.equal(r.changed, true);
  assert.deepEqual([t.get("avatar", "a1").text, t.get("avatar", "a1").final, t.get("avatar", "a1").cut], ["Once upon a", true, true]);
});

test("the view shows '(interrupted)' once on a replayed cut line, and data-cut", () => {
  const list = new FakeElement("ol");
  const view = new TranscriptView(list);
  const frame = { role: "avatar", mid: "a1", text: "Once upon a", final: true, cut: true, replay: true };
  view.apply({ role: "user", mid: "u1", text: "Tell me a story", final: true, replay: true });
  view.apply(frame);
  view.apply(frame); // a reconnect replays it again
  view.render(view.model.get("avatar", "a1"));
  assert.equal(list.children.length, 2);
  const line = list.children[1];
  assert.equal(line.dataset.cut, "true");
  assert.equal(line.classList.contains("cut"), true);
  assert.equal(line.querySelectorAll(".cut-note").length, 1);
  assert.equal(line.querySelector(".cut-note").textContent, "(interrupted)");
  assert.equal(line.querySelector(".text").textContent, "Once upon a");
  assert.equal(list.children[0].dataset.cut, undefined);
});

test("a replayed answer still being spoken stays open: its pieces and its end add to it", () => {
  const t = new Transcript();
  // A second tab (or a reconnect) arrives mid-answer.
  t.apply({ role: "avatar", mid: "a1", text: "Noted: dragons. What", final: false, replay: true });
  t.apply({ role: "avatar", mid: "a1", text: " would you like", final: false });
  // The same line replayed again (another reconnect): put in place, not doubled.
  t.apply({ role: "avatar", mid: "a1", text: "Noted: dragons. What would you like", final: false, replay: true });
  // An interrupt ends it with an empty final frame, cut.
  t.apply({ role: "avatar", mid: "a1", text: "", final: true, cut: true });
  const line = t.get("avatar", "a1");
  assert.equal(line.text, "Noted: dragons. What would you like");
  assert.equal(line.final, true);
  assert.equal(line.cut, true);
});

test("an interrupted answer shows what was said, and the rest struck through as not said", () => {
  const list = new FakeElement("ol");
  const view = new TranscriptView(list);
  // The whole answer went out, sentence by sentence, before the avatar got far.
  view.apply({ role: "avatar", mid: "a1", text: "The museum opens at nine. " });
  view.apply({ role: "avatar", mid: "a1", text: "Tickets cost twelve euros. " });
  view.apply({ role: "avatar", mid: "a1", text: "Enjoy!" });
  view.cutOpen(); // the page's own interrupt marks it first
  // The server: the avatar began the first sentence only.
  const frame = {
    role: "avatar", mid: "a1", text: "The museum opens at nine. ", final: true, cut: true,
    replay: true, unspoken: "Tickets cost twelve euros. Enjoy!",
  };
  view.apply(frame);
  view.apply(frame); // a reconnect replays it again: not doubled
  const line = list.children[0];
  assert.equal(line.querySelector(".text").textContent, "The museum opens at nine. ");
  const rests = line.querySelectorAll(".unspoken");
  assert.equal(rests.length, 1);
  assert.equal(rests[0].querySelector("s").textContent, "Tickets cost twelve euros. Enjoy!");
  // Named for screen readers, which do not read strike-through.
  assert.equal(rests[0].querySelector(".visually-hidden").textContent, "Not said:");
  const order = line.children.map((c) => c.className);
  assert.ok(order.indexOf("unspoken") < order.indexOf("cut-note"), order.join(" "));
  assert.equal(line.querySelectorAll(".cut-note").length, 1);
  assert.deepEqual(view.model.get("avatar", "a1").unspoken, "Tickets cost twelve euros. Enjoy!");
});

test("a line without an unsaid rest shows none", () => {
  const list = new FakeElement("ol");
  const view = new TranscriptView(list);
  view.apply({ role: "avatar", mid: "a1", text: "Once upon a", final: true, cut: true, replay: true });
  assert.equal(list.children[0].querySelector(".unspoken"), null);
});
