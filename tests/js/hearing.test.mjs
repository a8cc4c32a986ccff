import { test } from "node:test";
import assert from "node:assert/strict";

import { HEAR_MAX_CHARS, Hearing, hearFrame, mayHear, speechRecognition } from "../../static/js/hearing.js";

class FakeRecognition {
  static made = [];
  constructor() {
    this.started = 0;
    this.stopped = 0;
    FakeRecognition.made.push(this);
  }
  start() {
    this.started += 1;
  }
  stop() {
    this.stopped += 1;
  }
  say(text, isFinal = true) {
    this.onresult({ resultIndex: 0, results: [Object.assign([{ transcript: text }], { isFinal })] });
  }
}

test("the browser's recogniser is found under either name, or not at all", () => {
  assert.equal(speechRecognition({ SpeechRecognition: FakeRecognition }), FakeRecognition);
  assert.equal(speechRecognition({ webkitSpeechRecognition: FakeRecognition }), FakeRecognition);
  assert.equal(speechRecognition({}), null);
});

test("only a sandbox session whose preset opts in may hear through the browser", () => {
  const win = { SpeechRecognition: FakeRecognition };
  const live = { sandbox: true, preset: { browser_speech: true } };
  assert.equal(mayHear(live, win), true);
  assert.equal(mayHear({ ...live, sandbox: false }, win), false); // never towards AKool
  assert.equal(mayHear({ ...live, preset: { browser_speech: false } }, win), false); // off by default
  assert.equal(mayHear(live, {}), false); // no recogniser in this browser
});

test("a phrase becomes one sandbox-hear command, trimmed and bounded", () => {
  const frame = JSON.parse(hearFrame("  Hello there  ", "m1"));
  assert.deepEqual(frame, { v: 2, type: "command", mid: "m1", pld: { cmd: "sandbox-hear", data: { text: "Hello there" } } });
  const long = JSON.parse(hearFrame("é".repeat(1000), "m2"));
  assert.equal(long.pld.data.text.length, HEAR_MAX_CHARS);
  assert.ok(new TextEncoder().encode(hearFrame("字".repeat(1000), "m3")).length <= 1024);
});

test("final results are sent, interim ones are not, and stop stops listening", async () => {
  FakeRecognition.made = [];
  const sent = [];
  const hearing = new Hearing({ send: async (f) => sent.push(JSON.parse(f)), lang: "en", win: { SpeechRecognition: FakeRecognition } });
  hearing.start();
  const rec = FakeRecognition.made[0];
  assert.equal(rec.lang, "en");
  assert.equal(rec.started, 1);
  rec.say("When does it", false);
  rec.say("When does it open?");
  rec.say("   ");
  await Promise.resolve();
  assert.deepEqual(sent.map((f) => f.pld.data.text), ["When does it open?"]);
  rec.onend(); // the recogniser stopped after a silence: it listens again
  assert.equal(rec.started, 2);
  hearing.stop();
  assert.equal(rec.stopped, 1);
  rec.onend();
  assert.equal(rec.started, 2);
  assert.equal(hearing.active, false);
});
