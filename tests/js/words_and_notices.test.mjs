// The avatar page's words and notices (issue 17): command results in a person's words,
// the microphone's status following its button, notices that go when they are old news,
// and a refused chat message that stays in the box, under a counter and a cap.
import { test } from "node:test";
import assert from "node:assert/strict";

import { chatCount } from "../../static/js/controls.js";
import { TAKEN_OVER_TEXT } from "../../static/js/live_session.js";
import { ENDED_ELSEWHERE_TEXT } from "../../static/js/session.js";
import { fire } from "./fakes.mjs";
import { buildPage, settle, startSession } from "./page.mjs";

const acked = (p, params, extra = {}) => p.ws.serverSend({ type: "command_result", cmd: "set-params", ok: true, params, ...extra });
const ackTexts = (p) => p.el.acks.children.map((li) => li.textContent);
const PROTOCOL = /set-params|interrupt done|frames|\bdone\b|code \d/;

test("changing voice, language, mode and background is confirmed in a person's words", async () => {
  const p = buildPage();
  await startSession(p);
  const { el } = p;
  el.voiceSelect.value = "warm";
  fire(el.voiceSelect, "change");
  acked(p, { voice: "warm" });
  assert.equal(p.status, "Voice changed to Warm.");
  el.languageSelect.value = "de";
  fire(el.languageSelect, "change");
  acked(p, { language: "de" });
  assert.equal(p.status, "Language: German.");
  el.modeSelect.value = "1";
  fire(el.modeSelect, "change");
  acked(p, { mode: 1 });
  assert.equal(p.status, "Mode: Retelling.");
  el.backgroundInput.value = "https://x.test/bg.png";
  el.backgroundBtn.click();
  acked(p, { background_url: "https://x.test/bg.png" });
  assert.equal(p.status, "Background changed.");
  p.ws.serverSend({ type: "avatar", speaking: true });
  el.interruptBtn.click();
  p.ws.serverSend({ type: "command_result", cmd: "interrupt", ok: true, message: "ok" });
  assert.equal(p.status, "Stopped.");
  const listed = ["Stopped", "Background changed", "Mode: Retelling", "Language: German", "Voice changed to Warm"];
  assert.deepEqual(ackTexts(p), listed);
  for (const text of [...p.shown.statuses, ...ackTexts(p)]) assert.doesNotMatch(text, PROTOCOL);

  // A failure says what could not be done and why.
  el.voiceSelect.value = "calm";
  fire(el.voiceSelect, "change");
  p.ws.serverSend({ type: "command_result", cmd: "set-params", ok: false, code: 1002, message: "unknown voice" });
  assert.equal(p.error, "Could not change the voice: unknown voice");
  assert.equal(ackTexts(p)[0], "Could not change the voice: unknown voice");

  // A reconnect replays the results: the same words, quietly.
  p.ws.serverClose(1006);
  await p.clock.advance(1000);
  p.ws.serverOpen();
  acked(p, { voice: "warm" }, { replay: true });
  acked(p, { language: "de" }, { replay: true });
  p.ws.serverSend({ type: "command_result", cmd: "interrupt", ok: true, replay: true });
  assert.deepEqual(ackTexts(p), ["Stopped", "Language: German", "Voice changed to Warm"]);
});

test("the microphone's status follows its button, off as well as on", async () => {
  const p = buildPage();
  await startSession(p);
  const { el } = p;
  el.micBtn.click();
  await settle(p);
  assert.equal(el.micBtn.textContent, "Microphone on");
  assert.match(p.status, /^Microphone on/);
  el.micBtn.click();
  await settle(p);
  assert.equal(el.micBtn.textContent, "Microphone off");
  assert.equal(p.status, "Microphone off.");
  el.micBtn.click();
  await settle(p);
  assert.equal(el.micBtn.textContent, "Microphone on");
  assert.match(p.status, /^Microphone on/);
});

test("'Connected. Say hello!' and an old error go once the user sends a message", async () => {
  const p = buildPage();
  await startSession(p);
  assert.equal(p.status, "Connected. Say hello!");
  p.el.chatInput.value = "Hello";
  fire(p.el.chatInput, "keydown", { key: "Enter" });
  assert.equal(p.status, "");
  p.ws.serverSend({ type: "error", code: "chat_rate_limit", message: "Too many messages this minute (limit 20). Try again in 9 s." });
  assert.match(p.error, /Too many messages/);
  p.ws.serverSend({ type: "transcript", role: "user", mid: "u1", text: "Later", final: true });
  p.el.chatInput.value = "Later";
  fire(p.el.chatInput, "keydown", { key: "Enter" });
  assert.equal(p.error, "");
});

test("an ended session's notice does not stay beside a new error", async () => {
  const p = buildPage();
  await startSession(p);
  p.el.endBtn.click();
  await settle(p);
  assert.match(p.status, /^You ended the session/);
  p.api.fail.createSession = Object.assign(new Error("The server is busy."), { name: "ApiError", status: 503, code: "busy" });
  await p.sessions.start();
  await settle(p);
  assert.notEqual(p.error, "");
  assert.equal(p.status, "");
});

test("the takeover notice is replaced once the other tab has ended the session", async () => {
  const p = buildPage();
  await startSession(p);
  const id = p.live.id;
  p.ws.serverClose(4409);
  await settle(p);
  assert.equal(p.status, TAKEN_OVER_TEXT);
  // Still running in the other tab: the notice is true and stays.
  fire(p.win, "focus");
  await settle(p);
  assert.equal(p.status, TAKEN_OVER_TEXT);
  p.api.sessions.get(id).status = "closed";
  fire(p.win, "focus");
  await settle(p);
  assert.equal(p.status, ENDED_ELSEWHERE_TEXT);
  assert.equal(p.error, "");
});

test("a refused message stays in the box; an accepted one goes once its line comes back", async () => {
  const p = buildPage({ config: { chatMaxChars: 4000 } });
  await startSession(p);
  const { el } = p;
  const long = "x".repeat(4500);
  el.chatInput.value = long;
  fire(el.chatInput, "keydown", { key: "Enter" });
  assert.equal(p.sent.at(-1).type, "chat");
  p.ws.serverSend({ type: "error", code: "message_too_long", message: "The message has 4500 characters; the limit is 4000." });
  assert.equal(el.chatInput.value, long);
  // Over the chat rate: kept too, and the user may send it again later.
  el.chatInput.value = "Hi";
  fire(el.chatInput, "keydown", { key: "Enter" });
  p.ws.serverSend({ type: "error", code: "chat_rate_limit", message: "Too many messages this minute (limit 20)." });
  assert.equal(el.chatInput.value, "Hi");
  fire(el.chatInput, "keydown", { key: "Enter" });
  assert.equal(p.sent.filter((f) => f.type === "chat").length, 3);
  // Another line of the user's (a replay) does not empty the box; its own line does.
  p.ws.serverSend({ type: "transcript", role: "user", mid: "u0", text: "Hi", final: true, replay: true });
  assert.equal(el.chatInput.value, "Hi");
  p.ws.serverSend({ type: "transcript", role: "user", mid: "u1", text: "Hi", final: true });
  assert.equal(el.chatInput.value, "");
});

test("the chat box is capped at the server's limit and counts toward it", async () => {
  const p = buildPage({ config: { chatMaxChars: 4000 } });
  await startSession(p);
  const { el } = p;
  assert.equal(el.chatInput.maxLength, 4000);
  assert.equal(el.chatCount.hidden, false);
  assert.equal(el.chatCount.textContent, "0 / 4000");
  el.chatInput.value = "y".repeat(120);
  fire(el.chatInput, "input");
  assert.equal(el.chatCount.textContent, "120 / 4000");
  assert.equal(el.chatCount.dataset.level, "ok");
  assert.deepEqual(chatCount(3600, 4000), { text: "3600 / 4000", level: "near" });
  assert.deepEqual(chatCount(3599, 4000).level, "ok");
  assert.deepEqual(chatCount(4000, 4000).level, "full");
  // Accepted: the box empties and the counter with it.
  el.chatInput.value = "Hello";
  fire(el.chatInput, "keydown", { key: "Enter" });
  p.ws.serverSend({ type: "transcript", role: "user", mid: "u1", text: "Hello", final: true });
  assert.equal(el.chatCount.textContent, "0 / 4000");
  // Without a limit in the config there is no counter to show.
  const q = buildPage();
  await startSession(q);
  assert.equal(q.el.chatCount.hidden, true);
});
