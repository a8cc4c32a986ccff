import { test } from "node:test";
import assert from "node:assert/strict";

import { PAGE_ELEMENTS } from "../../static/js/elements.js";
import { CAPTIONS_KEY, Stage } from "../../static/js/stage.js";
import { fakeClock, fakeElements } from "./fakes.mjs";
import { fakeFace } from "./page.mjs";

function stageWith() {
  const el = fakeElements(PAGE_ELEMENTS);
  const faces = [];
  const stage = new Stage({ el, makeFace: (o) => faces.push(fakeFace(o)) && faces.at(-1) });
  return { el, stage, faces };
}

test("a sandbox session shows the drawn face at once, with its background", () => {
  const { el, stage, faces } = stageWith();
  stage.prepare({ sandbox: true, name: "Ada", language: "fr", voice: true, background: "https://x.test/b.png" });
  const [face] = faces;
  assert.equal(face.started, true);
  assert.deepEqual([face.options.name, face.options.language, face.options.voice], ["Ada", "fr", true]);
  assert.equal(face.background, "https://x.test/b.png");
  assert.equal(el.video.hidden, false);
  assert.equal(el.remote.hidden, true);
  assert.equal(el.videoWait.hidden, true);
  assert.equal(el.quality.textContent, "Local sandbox");
  assert.equal(el.quality.dataset.level, "sandbox");
  assert.equal(el.speaking.textContent, "Listening");
});

test("an Agora session waits for the avatar's video and measures the network", () => {
  const { el, stage, faces } = stageWith();
  el.remote.append(el.remote.ownerDocument.createElement("div")); // a previous player
  stage.prepare({ sandbox: false });
  assert.equal(faces.length, 0);
  assert.equal(el.remote.hidden, false);
  assert.equal(el.remote.children.length, 0);
  assert.equal(el.videoWait.hidden, false);
  assert.equal(el.quality.textContent, "Network: measuring…");
  stage.waitForVideo(false);
  assert.equal(el.videoWait.hidden, true);
  stage.showQuality({ uplink: 1, downlink: 1, rtt: 40 });
  assert.match(el.quality.textContent, /^Network: /);
  assert.equal(el.quality.dataset.level, "1");
});

test("the avatar's speech shows as Speaking…, and the face follows the stream", () => {
  const { el, stage, faces } = stageWith();
  stage.prepare({ sandbox: true });
  stage.streamMessage({ type: "event", event: "audio_start", data: {} });
  assert.equal(el.speaking.dataset.speaking, "true");
  assert.equal(el.speaking.textContent, "Speaking…");
  assert.equal(faces[0].speaking, true);
  stage.streamMessage({ type: "chat", from: "bot", mid: "m", text: "Hi", fin: false });
  stage.streamMessage({ type: "event", event: "audio_end", data: {} });
  assert.equal(el.speaking.dataset.speaking, "false");
  assert.equal(faces[0].messages.length, 3);
});

test("blocked autoplay offers a button that turns the sound on", () => {
  const { el, stage } = stageWith();
  let resumed = 0;
  stage.wire(() => (resumed += 1));
  stage.prepare({ sandbox: false });
  assert.equal(el.enableAudioBtn.hidden, true);
  stage.autoplayBlocked();
  assert.equal(el.enableAudioBtn.hidden, false);
  el.enableAudioBtn.click();
  assert.equal(resumed, 1);
  assert.equal(el.enableAudioBtn.hidden, true);
});

test("the countdown shows the time left, or --:-- when the end is unknown", () => {
  const { el, stage } = stageWith();
  stage.setEnd("2030-01-01T12:10:00Z");
  stage.showTimeLeft("09:59", false);
  assert.equal(el.countdown.getAttribute("datetime"), "2030-01-01T12:10:00Z");
  assert.equal(el.countdown.textContent, "09:59");
  stage.showTimeLeft("00:59", true);
  assert.equal(el.countdown.dataset.low, "true");
  stage.setEnd(null);
  assert.equal(el.countdown.textContent, "--:--");
  assert.equal(el.countdown.getAttribute("datetime"), null);
});

test("reset stops the face and empties the stage", () => {
  const { el, stage, faces } = stageWith();
  stage.prepare({ sandbox: true });
  stage.setSpeaking(true);
  stage.autoplayBlocked();
  stage.reset();
  assert.equal(faces[0].stopped, true);
  assert.equal(stage.face, null);
  assert.equal(el.video.hidden, true);
  assert.equal(el.canvas.hidden, true);
  assert.equal(el.enableAudioBtn.hidden, true);
  assert.equal(el.countdown.textContent, "--:--");
  assert.equal(el.speaking.textContent, "Listening");
  // Without a face, what the controls ask of it does nothing.
  stage.interrupt();
  stage.setBackground("https://x.test/b.png");
});

/** A localStorage stand-in. */
function memoryStorage(initial = {}) {
  const data = new Map(Object.entries(initial));
  return { getItem: (k) => data.get(k) ?? null, setItem: (k, v) => data.set(k, String(v)), data };
}

test("captions show the sentence the avatar is saying, and go with an interrupt", () => {
  const el = fakeElements(PAGE_ELEMENTS);
  const stage = new Stage({ el, makeFace: fakeFace, storage: memoryStorage() });
  stage.wire(() => {});
  stage.prepare({ sandbox: true });
  assert.equal(el.captions.hidden, true); // nothing said yet
  stage.streamMessage({ type: "chat", from: "bot", mid: "a", text: "Hello there. How ", fin: false });
  assert.equal(el.captions.textContent, "How");
  assert.equal(el.captions.hidden, false);
  stage.streamMessage({ type: "chat", from: "bot", mid: "a", text: "are you?", fin: true });
  assert.equal(el.captions.textContent, "How are you?");
  // The user's own words are not captioned; a new line of the avatar starts afresh.
  stage.streamMessage({ type: "chat", from: "user", mid: "u", text: "Fine.", fin: true });
  assert.equal(el.captions.textContent, "How are you?");
  stage.streamMessage({ type: "chat", from: "bot", mid: "b", text: "Good", fin: false });
  assert.equal(el.captions.textContent, "Good");
  stage.interrupt();
  assert.equal(el.captions.textContent, "");
  assert.equal(el.captions.hidden, true);
});

test("the captions toggle hides them and is remembered", () => {
  const storage = memoryStorage();
  const el = fakeElements(PAGE_ELEMENTS);
  const stage = new Stage({ el, makeFace: fakeFace, storage });
  stage.wire(() => {});
  stage.prepare({ sandbox: true });
  assert.equal(el.captionsBtn.getAttribute("aria-pressed"), "true");
  el.captionsBtn.click();
  assert.equal(el.captionsBtn.getAttribute("aria-pressed"), "false");
  assert.equal(storage.data.get(CAPTIONS_KEY), "off");
  stage.streamMessage({ type: "chat", from: "bot", mid: "a", text: "Unseen words", fin: false });
  assert.equal(el.captions.hidden, true);
  // A new page (a reload) starts with them off; storage that refuses leaves them on.
  const again = new Stage({ el: fakeElements(PAGE_ELEMENTS), makeFace: fakeFace, storage });
  assert.equal(again.captionsOn, false);
  const refusing = { getItem: () => { throw new Error("denied"); }, setItem: () => { throw new Error("denied"); } };
  const open = new Stage({ el: fakeElements(PAGE_ELEMENTS), makeFace: fakeFace, storage: refusing });
  assert.equal(open.captionsOn, true);
  open.wire(() => {});
  open.el.captionsBtn.click(); // not remembered, but no error
  assert.equal(open.captionsOn, false);
});

test("issue 17: the last caption goes 1.5 s after speech ends; an interrupted line's late words stay uncaptioned", async () => {
  const el = fakeElements(PAGE_ELEMENTS);
  const clock = fakeClock();
  const win = { setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout };
  const stage = new Stage({ el, makeFace: fakeFace, storage: memoryStorage(), win });
  stage.prepare({ sandbox: true });
  stage.streamMessage({ type: "event", event: "audio_start" });
  stage.streamMessage({ type: "chat", from: "bot", mid: "a", text: "All done.", fin: true });
  stage.streamMessage({ type: "event", event: "audio_end" });
  await clock.advance(1400);
  assert.equal(el.captions.textContent, "All done.");
  await clock.advance(100);
  assert.equal(el.captions.textContent, "");
  assert.equal(el.captions.hidden, true);

  // Speaking again before the moment is up keeps the caption.
  stage.streamMessage({ type: "chat", from: "bot", mid: "b", text: "One. ", fin: false });
  stage.streamMessage({ type: "event", event: "audio_end" });
  stage.streamMessage({ type: "event", event: "audio_start" });
  await clock.advance(2000);
  assert.equal(el.captions.textContent, "One.");

  stage.interrupt();
  stage.streamMessage({ type: "chat", from: "bot", mid: "b", text: "Two.", fin: true });
  assert.equal(el.captions.textContent, "");
  stage.streamMessage({ type: "chat", from: "bot", mid: "c", text: "Next line.", fin: true });
  assert.equal(el.captions.textContent, "Next line.");
});
