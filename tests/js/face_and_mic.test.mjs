import { test } from "node:test";
import assert from "node:assert/strict";

import { describeMicError, levelFromSamples, Mic } from "../../static/js/mic.js";
import { mouthOpenness, splitSentences, SandboxFace } from "../../static/js/sandbox_face.js";

test("the mouth is closed when silent and moves while talking", () => {
  assert.equal(mouthOpenness(1234, false), 0);
  const values = Array.from({ length: 50 }, (_, i) => mouthOpenness(i * 33, true));
  assert.ok(values.every((v) => v > 0 && v <= 1));
  assert.ok(Math.max(...values) - Math.min(...values) > 0.3);
});

test("splitSentences keeps unfinished text for later", () => {
  assert.deepEqual(splitSentences("Hello there. How are"), { sentences: ["Hello there."], rest: "How are" });
  assert.deepEqual(splitSentences("One! Two? Three"), { sentences: ["One!", "Two?"], rest: "Three" });
  assert.deepEqual(splitSentences("It costs 3."), { sentences: [], rest: "It costs 3." });
  assert.deepEqual(splitSentences("Line\nNext"), { sentences: ["Line"], rest: "Next" });
  assert.deepEqual(splitSentences(""), { sentences: [], rest: "" });
  assert.deepEqual(splitSentences("It costs 3.50 now. Ok"), { sentences: ["It costs 3.50 now."], rest: "Ok" });
  assert.deepEqual(splitSentences("你好。再见"), { sentences: ["你好。"], rest: "再见" });
});

test("speech synthesis that fails at once never blocks the face", () => {
  const spoken = [];
  const win = {
    speechSynthesis: {
      speak(u) {
        spoken.push(u.text);
        u.onerror?.({ error: "synthesis-failed" });
      },
      cancel() {},
    },
    SpeechSynthesisUtterance: class {
      constructor(text) {
        this.text = text;
      }
    },
    performance: { now: () => 0 },
  };
  const face = new SandboxFace({ canvas: {}, video: {}, voice: true, win });
  face.onStreamMessage({ type: "event", event: "audio_start", data: {} });
  assert.equal(face.speaking, true);
  face.onStreamMessage({ type: "chat", from: "bot", mid: "m", text: "Hi there. I am", fin: false });
  face.onStreamMessage({ type: "chat", from: "bot", mid: "m", text: " the sandbox", fin: true });
  face.onStreamMessage({ type: "event", event: "audio_end", data: {} });
  assert.equal(face.speaking, false);
  assert.deepEqual(spoken, ["Hi there.", "I am the sandbox"]);
});

test("without speech synthesis the face still works", () => {
  const face = new SandboxFace({ canvas: {}, video: {}, voice: true, win: { performance: { now: () => 0 } } });
  face.onStreamMessage({ type: "chat", from: "bot", mid: "m", text: "Hello.", fin: true });
  face.interrupt();
  assert.equal(face.speaking, false);
});

test("microphone errors become messages for a person", () => {
  assert.match(describeMicError(Object.assign(new Error("Requested device not found"), { name: "NotFoundError" })), /No microphone found/);
  assert.match(describeMicError(Object.assign(new Error("Permission denied"), { name: "NotAllowedError" })), /Microphone blocked/);
  assert.match(describeMicError({ code: "PERMISSION_DENIED", message: "NotAllowedError: Permission denied" }), /blocked/);
  assert.match(describeMicError({ code: "DEVICE_NOT_FOUND", message: "" }), /No microphone/);
  assert.match(describeMicError(new Error("weird")), /could not be started \(weird\)/);
});

test("a missing microphone is an error message, and leaves nothing running", async () => {
  const win = {
    navigator: {
      mediaDevices: {
        getUserMedia: async () => {
          throw Object.assign(new Error("Requested device not found"), { name: "NotFoundError" });
        },
      },
    },
    clearInterval() {},
  };
  const levels = [];
  const mic = new Mic({ win, onLevel: (v) => levels.push(v) });
  await assert.rejects(mic.start(), /No microphone found/);
  assert.equal(mic.active, false);
});

test("levelFromSamples: silence is 0, loud is capped at 1", () => {
  assert.equal(levelFromSamples(new Uint8Array(256).fill(128)), 0);
  const loud = new Uint8Array(256).map((_, i) => (i % 2 ? 255 : 0));
  assert.equal(levelFromSamples(loud), 1);
  assert.equal(levelFromSamples(new Uint8Array(0)), 0);
});
