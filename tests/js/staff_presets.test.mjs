// The admin's preset pages (staff_presets.js): voice samples, and the catalog import's wait.

import { test } from "node:test";
import assert from "node:assert/strict";

import { sampleVoice, wireCatalogImport, wireVoiceSamples } from "../../static/js/staff_presets.js";
import { FakeDocument, FakeElement, fire } from "./fakes.mjs";

/** speechSynthesis that records what it says; `events` plays the utterance's events. */
function speech() {
  const said = [];
  const win = {
    speechSynthesis: {
      cancelled: 0,
      cancel() {
        this.cancelled += 1;
      },
      speak(u) {
        said.push(u);
      },
    },
    SpeechSynthesisUtterance: class {
      constructor(text) {
        this.text = text;
      }
    },
  };
  return { win, said };
}

function voiceButton(doc, { name = "Lyon", lang = "fr" } = {}) {
  const button = doc.createElement("button");
  button.className = "voice-sample";
  button.dataset.name = name;
  if (lang) button.dataset.lang = lang;
  button.textContent = "▶ Sample";
  return button;
}

test("a voice sample is said in its language, the button showing it speaks", () => {
  const root = new FakeElement("div");
  const button = voiceButton(root.ownerDocument);
  root.append(button, voiceButton(root.ownerDocument, { name: "Ada", lang: "" }));
  const { win, said } = speech();
  wireVoiceSamples(root, win);
  button.click();
  const [u] = said;
  assert.equal(u.text, "Hello, I am Lyon. This is how I sound.");
  assert.equal(u.lang, "fr");
  assert.equal(win.speechSynthesis.cancelled, 1); // an earlier sample stops
  u.onstart();
  assert.equal(button.textContent, "■ Speaking…");
  u.onend();
  assert.equal(button.textContent, "▶ Sample");
  root.children[1].click();
  assert.equal(said[1].lang, "en");
});

test("without speech synthesis the sample button says so and turns off", () => {
  const button = voiceButton(new FakeDocument());
  sampleVoice(button, {});
  assert.equal(button.textContent, "No speech synthesis here");
  assert.equal(button.disabled, true);
});

test("a catalog import shows that it is busy once the form is on its way", () => {
  const root = new FakeElement("div");
  const form = root.ownerDocument.createElement("form");
  form.className = "catalog-import";
  const button = root.ownerDocument.createElement("button");
  button.textContent = "Import from the sandbox catalog";
  button.dataset.busyLabel = "Importing the catalog…";
  form.append(button);
  root.append(form);
  const later = [];
  wireCatalogImport(root, (fn) => later.push(fn));
  const submit = fire(form, "submit");
  assert.equal(submit.defaultPrevented, false); // the form still sends
  assert.equal(button.disabled, false); // not yet: a disabled button would not submit
  later.forEach((fn) => fn());
  assert.equal(button.disabled, true);
  assert.equal(button.textContent, "Importing the catalog…");
  assert.equal(form.getAttribute("aria-busy"), "true");
});
