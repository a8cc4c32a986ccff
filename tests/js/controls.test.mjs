import { test } from "node:test";
import assert from "node:assert/strict";

import { fire } from "./fakes.mjs";
import { buildPage, settle, startSession } from "./page.mjs";

const type = (p, text, key = { key: "Enter" }) => {
  p.el.chatInput.value = text;
  return fire(p.el.chatInput, "keydown", key);
};
const ackItems = (p) => p.el.acks.children.map((li) => [li.dataset.cmd, li.dataset.ok, li.textContent]);
const avatarSays = (p, mid, text, final = false) => p.ws.serverSend({ type: "transcript", role: "avatar", mid, text, final });

test("Enter sends the message, emptied once its line comes back; Shift+Enter and blanks do not", async () => {
  const p = buildPage();
  await startSession(p);
  type(p, "  Hello there  ");
  assert.deepEqual(p.sent.at(-1), { type: "chat", text: "Hello there" });
  // Kept until the server accepts it: a second Enter does not send it twice.
  assert.equal(p.el.chatInput.value, "  Hello there  ");
  fire(p.el.chatInput, "keydown", { key: "Enter" });
  assert.equal(p.sent.filter((f) => f.type === "chat").length, 1);
  p.ws.serverSend({ type: "transcript", role: "user", mid: "u1", text: "Hello there", final: true });
  assert.equal(p.el.chatInput.value, "");
  type(p, "line one", { key: "Enter", shiftKey: true });
  type(p, "   ");
  assert.equal(p.sent.filter((f) => f.type === "chat").length, 1);
  assert.equal(p.el.chatInput.value, "   ");
  // The form's own submit (the Send button) sends too.
  p.el.chatInput.value = "Via the button";
  assert.equal(fire(p.el.chatForm, "submit").defaultPrevented, true);
  assert.deepEqual(p.sent.at(-1), { type: "chat", text: "Via the button" });
});

test("a message typed while the server is away is kept, and the page says so", async () => {
  const p = buildPage();
  await startSession(p);
  p.ws.serverClose(1006);
  type(p, "Are you there?");
  assert.equal(p.el.chatInput.value, "Are you there?");
  assert.equal(p.notices.errorCode, "not_connected");
  assert.match(p.error, /your message is kept, send it again/);
});

test("a long message shows its sending progress, frame by frame", async () => {
  const p = buildPage();
  await startSession(p);
  type(p, "word ".repeat(400).trim());
  const frame = (idx, fin) => JSON.stringify({ v: 2, type: "chat", mid: "msg-1", idx, fin, pld: { text: "word ".repeat(150) } });
  p.ws.serverSend({ type: "rtc_send", frame: frame(0, false) });
  await settle(p);
  p.ws.serverSend({ type: "rtc_send", frame: frame(1, true) });
  await settle(p);
  assert.equal(p.transports[0].sent.length, 2);
  // Before the last frame is known, the total is estimated from the text (3 frames).
  assert.ok(p.shown.statuses.includes("Sending your message… 0%"), p.shown.statuses);
  assert.ok(p.shown.statuses.every((s) => !/frame/.test(s)), p.shown.statuses);
  assert.equal(p.status, "Message sent.");
});

test("Interrupt cuts the avatar's open line and is confirmed by its result", async () => {
  const p = buildPage();
  await startSession(p, { slug: "cleo" });
  avatarSays(p, "a1", "Once upon a time");
  p.el.interruptBtn.click();
  assert.deepEqual(p.sent.at(-1), { type: "interrupt" });
  const line = p.el.transcript.querySelector("li.line.avatar");
  assert.equal(line.dataset.cut, "true");
  assert.equal(line.querySelector(".cut-note").textContent, "(interrupted)");
  assert.equal(p.faces[0].interrupted, 1);
  assert.equal(p.status, "Stopping the avatar…");
  p.ws.serverSend({ type: "command_result", cmd: "interrupt", ok: true });
  assert.equal(p.status, "Stopped.");
  assert.equal(p.notices.statusBusy, false);
  assert.deepEqual(ackItems(p), [["interrupt", "true", "Stopped"]]);
});

test("live setting changes are sent, and their results listed", async () => {
  const p = buildPage();
  await startSession(p);
  const { el } = p;
  el.voiceSelect.value = "calm";
  fire(el.voiceSelect, "change");
  assert.deepEqual(p.sent.at(-1), { type: "set_params", params: { voice: "calm" } });
  assert.equal(p.status, "Applying the voice…");
  p.ws.serverSend({ type: "command_result", cmd: "set-params", ok: true, params: { voice: "calm" } });
  assert.equal(p.status, "Voice changed to Calm.");
  // Back to "the avatar's own voice": the preset's voice is asked for by name.
  el.voiceSelect.value = "";
  fire(el.voiceSelect, "change");
  assert.deepEqual(p.sent.at(-1).params, { voice: "warm" });

  el.languageSelect.value = "de";
  fire(el.languageSelect, "change");
  assert.deepEqual(p.sent.at(-1).params, { language: "de" });
  assert.equal(p.faces[0].language, "de");
  el.modeSelect.value = "2";
  fire(el.modeSelect, "change");
  assert.deepEqual(p.sent.at(-1).params, { mode: 2 });

  el.backgroundInput.value = "not an address";
  el.backgroundBtn.click();
  assert.equal(p.error, "Enter the background image's address, starting with https://.");
  assert.equal(p.doc.activeElement, el.backgroundInput);
  el.backgroundInput.value = " https://x.test/bg.png ";
  assert.equal(fire(el.backgroundInput, "keydown", { key: "Enter" }).defaultPrevented, true);
  assert.deepEqual(p.sent.at(-1).params, { background_url: "https://x.test/bg.png" });
  assert.equal(p.faces[0].background, "https://x.test/bg.png");
  assert.equal(p.error, "");
  assert.deepEqual(ackItems(p)[0][0], "set-params");
});

test("a refused command is an error; replayed results are listed but are not news", async () => {
  const p = buildPage();
  await startSession(p);
  p.el.voiceSelect.value = "calm";
  fire(p.el.voiceSelect, "change");
  p.ws.serverSend({ type: "command_result", cmd: "set-params", ok: false, code: 1001, message: "unknown voice" });
  assert.equal(p.error, "Could not change the voice: unknown voice");
  assert.deepEqual(ackItems(p)[0], ["set-params", "false", "Could not change the voice: unknown voice"]);
  assert.equal(p.notices.errorCode, "command_failed");
  assert.equal(p.status, "");

  // A reconnect replays the list: it replaces what is shown, silently.
  p.ws.serverClose(1006);
  await p.clock.advance(1000);
  p.ws.serverOpen();
  p.notices.clearError();
  p.notices.setStatus("Something else.");
  p.ws.serverSend({ type: "command_result", cmd: "interrupt", ok: true, replay: true });
  assert.deepEqual(ackItems(p).map((a) => a[0]), ["interrupt"]);
  assert.equal(p.status, "Something else.");
  assert.equal(p.error, "");
});

test("the microphone turns on, mutes and unmutes, and says where it is only measured", async () => {
  const p = buildPage();
  await startSession(p);
  const { el } = p;
  assert.equal(el.micNote.hidden, false); // the sandbox only measures it
  el.micBtn.click();
  await settle(p);
  assert.equal(el.micBtn.getAttribute("aria-pressed"), "true");
  assert.equal(el.micBtn.textContent, "Microphone on");
  assert.equal(p.status, "Microphone on (measured only in the sandbox).");
  assert.equal(p.mics[0].options.transport, null);
  p.mics[0].options.onLevel(0.4);
  assert.equal(el.micLevel.value, 0.4);
  el.micBtn.click();
  await settle(p);
  assert.equal(p.mics[0].muted, true);
  assert.equal(el.micBtn.textContent, "Microphone off");
  assert.equal(el.micLevel.value, 0);
  el.micBtn.click();
  await settle(p);
  assert.equal(el.micBtn.textContent, "Microphone on");
  assert.equal(p.mics.length, 1);
});

test("a microphone that cannot start is an error, and the button stays off", async () => {
  const p = buildPage({ deviceErrors: { mic: "Microphone blocked. Allow microphone access for this site." } });
  await startSession(p);
  p.el.micBtn.click();
  await settle(p);
  assert.equal(p.error, "Microphone blocked. Allow microphone access for this site.");
  assert.equal(p.notices.errorCode, "microphone");
  assert.equal(p.el.micBtn.getAttribute("aria-pressed"), "false");
  assert.equal(p.el.micBtn.disabled, false);
});

test("with Agora, the microphone waits for the channel and then publishes to it", async () => {
  const p = buildPage({ provider: "agora" });
  await startSession(p);
  const [transport] = p.transports;
  assert.equal(p.el.micNote.hidden, true);
  transport.setState("reconnecting");
  p.el.micBtn.click();
  await settle(p);
  assert.equal(p.error, "Wait until the video channel is joined, then turn the microphone on.");
  assert.equal(p.mics.length, 0);
  transport.setState("joined");
  p.el.micBtn.click();
  await settle(p);
  assert.equal(p.mics[0].options.transport, transport);
  assert.equal(p.status, "Microphone on.");
});

test("the camera shows its preview while on; a failure is an error", async () => {
  const p = buildPage();
  await startSession(p);
  const { el } = p;
  assert.equal(el.cameraBtn.hidden, false);
  el.cameraBtn.click();
  await settle(p);
  assert.equal(el.cameraBtn.getAttribute("aria-pressed"), "true");
  assert.equal(el.localVideo.hidden, false);
  assert.equal(p.cameras[0].options.container, el.localVideo);
  el.cameraBtn.click();
  await settle(p);
  assert.equal(el.cameraBtn.textContent, "Camera off");
  assert.equal(el.localVideo.hidden, true);

  const q = buildPage({ deviceErrors: { camera: "No camera found." } });
  await startSession(q);
  q.el.cameraBtn.click();
  await settle(q);
  assert.equal(q.error, "No camera found.");
  assert.equal(q.notices.errorCode, "camera");
  assert.equal(q.el.localVideo.hidden, true);
});

test("a site without the camera hides its button", async () => {
  const p = buildPage({ config: { cameraEnabled: false } });
  await startSession(p);
  assert.equal(p.el.cameraBtn.hidden, true);
  p.el.cameraBtn.disabled = false;
  fire(p.el.cameraBtn, "click");
  await settle(p);
  assert.equal(p.cameras.length, 0);
});

test("reading answers aloud can be turned off in the sandbox", async () => {
  const p = buildPage({ config: { speechSynthesis: true } });
  await startSession(p);
  assert.equal(p.el.voiceToggleLabel.hidden, false);
  assert.equal(p.el.voiceToggle.checked, true);
  assert.equal(p.faces[0].voice, true);
  p.el.voiceToggle.checked = false;
  fire(p.el.voiceToggle, "change");
  assert.equal(p.faces[0].voice, false);
});

test("devices stop when the session ends, and the controls then do nothing", async () => {
  const p = buildPage();
  await startSession(p);
  p.el.micBtn.click();
  p.el.cameraBtn.click();
  await settle(p);
  p.el.endBtn.click();
  await settle(p);
  assert.equal(p.el.app.dataset.phase, "setup");
  assert.equal(p.mics[0].stops, 1);
  assert.equal(p.cameras[0].stops, 1);
  assert.equal(p.el.micBtn.textContent, "Microphone off");
  const frames = p.sent.length;
  type(p, "Too late");
  p.el.interruptBtn.click();
  p.el.voiceSelect.value = "calm";
  fire(p.el.voiceSelect, "change");
  p.el.micBtn.click();
  await settle(p);
  assert.equal(p.sent.length, frames);
  assert.equal(p.mics.length, 1);
});
