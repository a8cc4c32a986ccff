import { test } from "node:test";
import assert from "node:assert/strict";

import { PAGE_ELEMENTS } from "../../static/js/elements.js";
import { Notices } from "../../static/js/notices.js";
import { Setup } from "../../static/js/setup.js";
import { fakeElements, fire, flush } from "./fakes.mjs";
import { CATALOG, apiError } from "./page.mjs";

function setupWith({ presets = async () => structuredClone(CATALOG), config = {} } = {}) {
  const el = fakeElements(PAGE_ELEMENTS);
  const notices = new Notices({ status: el.status, error: el.error, setInterval: () => 0, clearInterval: () => {} });
  const api = { calls: 0, presets: async () => (api.calls++, presets()) };
  const setup = new Setup({ el, api, notices, config: { llmAvailable: true, maxDuration: 1800, defaultDuration: 600, ...config } });
  const starts = [];
  setup.wire(() => starts.push(true));
  setup.setupDuration();
  return { el, api, notices, setup, starts };
}

const cards = (el) => el.presetList.querySelectorAll(".preset-card");
const radio = (el, slug) => el.presetList.querySelectorAll("input[name=preset]").find((i) => i.value === slug);
const optionValues = (select) => select.options.map((o) => o.value);
/** Click a card: its radio checked, the others not (as a radio group does). */
const choose = (el, slug) => {
  for (const r of el.presetList.querySelectorAll("input[name=preset]")) r.checked = r.value === slug;
  fire(radio(el, slug), "change");
};

test("the presets show as cards, the first chosen with its defaults", async () => {
  const { el, setup } = setupWith();
  assert.equal(await setup.load(), true);
  assert.deepEqual(cards(el).map((c) => c.dataset.slug), ["ada", "cleo", "lex"]);
  assert.deepEqual(cards(el).map((c) => c.querySelector(".preset-name").textContent), ["Ada", "Cleo", "Lex"]);
  assert.equal(cards(el)[0].querySelector(".preset-meta").textContent, "English");
  assert.equal(cards(el)[2].querySelector(".preset-meta").textContent, "German · own assistant");
  // A card without a thumbnail shows initials; one whose image fails falls back to them.
  assert.equal(cards(el)[1].querySelector(".initials").textContent, "CL");
  fire(cards(el)[0].querySelector("img"), "error", { bubbles: false });
  assert.equal(cards(el)[0].querySelector(".initials").textContent, "AD");
  assert.equal(radio(el, "ada").checked, true);
  assert.equal(cards(el)[0].classList.contains("selected"), true);
  assert.deepEqual(optionValues(el.voiceSelect), ["", "calm", "warm"]);
  assert.equal(el.voiceSelect.options[2].textContent, "Warm (English, female)");
  assert.deepEqual(optionValues(el.languageSelect), ["", "en", "fr", "de"]);
  assert.equal(el.voiceSelect.value, "warm");
  assert.equal(el.languageSelect.value, "en");
  assert.equal(el.modeSelect.value, "2");
  assert.equal(el.modeHelp.textContent, "The avatar’s own assistant answers you.");
});

test("choosing a preset applies its voice, language and modes", async () => {
  const { el, setup } = setupWith();
  await setup.load();
  choose(el, "cleo");
  assert.equal(cards(el)[1].classList.contains("selected"), true);
  assert.equal(cards(el)[0].classList.contains("selected"), false);
  assert.equal(el.voiceSelect.value, ""); // no default voice: the avatar's own
  assert.equal(el.languageSelect.value, "fr");
  assert.deepEqual(el.modeSelect.options.map((o) => o.textContent), ["Dialogue", "Retelling"]);
  assert.equal(el.modeSelect.value, "1");
  assert.equal(el.modeHelp.textContent, "The avatar says exactly what you type.");
  assert.equal(setup.llmAnswers, false);

  choose(el, "lex");
  assert.deepEqual(el.modeSelect.options.map((o) => o.textContent), ["Dialogue", "Own assistant"]);
  assert.match(el.modeHelp.textContent, /Our own assistant/);
  assert.equal(setup.llmAnswers, true);
  el.modeSelect.value = "2";
  fire(el.modeSelect, "change");
  assert.equal(el.modeHelp.textContent, "The avatar’s own assistant answers you.");
});

test("without our own assistant on the site, an LLM preset offers its plain modes", async () => {
  const { el, setup } = setupWith({ config: { llmAvailable: false } });
  await setup.load();
  choose(el, "lex");
  assert.deepEqual(el.modeSelect.options.map((o) => o.textContent), ["Dialogue", "Retelling"]);
  assert.equal(setup.llmAnswers, false);
  assert.equal(cards(el)[2].querySelector(".preset-meta").textContent, "German");
});

test("a catalog that fails to load says why and offers to try again", async () => {
  let fail = true;
  const { el, setup, notices } = setupWith({
    presets: async () => {
      if (fail) throw apiError(503, "The service is busy or down for a moment.");
      return structuredClone(CATALOG);
    },
  });
  assert.equal(await setup.load(), false);
  assert.equal(el.presetList.textContent, "The avatars could not be loaded.");
  assert.equal(el.reloadPresetsBtn.hidden, false);
  assert.match(notices.errorText, /^Could not load the avatars: The service is busy or down for a moment\. Try again in a minute/);
  fail = false;
  el.reloadPresetsBtn.click();
  await flush();
  await flush();
  assert.equal(notices.errorText, "");
  assert.equal(el.reloadPresetsBtn.hidden, true);
  assert.equal(cards(el).length, 3);
});

test("an empty catalog says that an administrator adds presets", async () => {
  const { el, setup } = setupWith({ presets: async () => ({ avatars: [], voices: [], languages: [] }) });
  await setup.load();
  assert.match(el.presetList.textContent, /No avatars are set up yet/);
});

test("the duration allows the site's maximum and starts at its default", () => {
  const { el } = setupWith({ config: { maxDuration: 1800, defaultDuration: 300 } });
  assert.equal(el.durationInput.max, "30");
  assert.equal(el.durationInput.value, "5");
  assert.equal(el.durationHelp.textContent, "Up to 30 minutes. The session closes by itself when its time is up.");
});

test("Start's request carries the chosen settings", async () => {
  const { el, setup, starts } = setupWith();
  await setup.load();
  choose(el, "cleo");
  el.voiceSelect.value = "calm";
  el.durationInput.value = "12";
  assert.deepEqual(await setup.startRequest(), { preset: "cleo", duration: 720, mode: 1, voice: "calm", language: "fr" });
  const submit = fire(el.startForm, "submit");
  assert.equal(submit.defaultPrevented, true);
  assert.equal(starts.length, 1);
});

test("Start refuses a duration out of range and an avatar not chosen, and says so", async () => {
  const { el, setup, notices } = setupWith();
  await setup.load();
  el.durationInput.value = "31";
  assert.equal(await setup.startRequest(), null);
  assert.equal(notices.errorText, "Choose a duration between 1 and 30 minutes.");
  assert.equal(el.durationInput.ownerDocument.activeElement, el.durationInput);
  el.durationInput.value = "10";
  radio(el, "ada").checked = false;
  assert.equal(await setup.startRequest(), null);
  assert.equal(notices.errorText, "Choose an avatar first.");
  assert.equal(el.durationInput.ownerDocument.activeElement, radio(el, "ada"));
});

test("Start with no catalog loads it instead of starting", async () => {
  const { setup, api } = setupWith();
  assert.equal(await setup.startRequest(), null);
  assert.equal(api.calls, 1);
  assert.equal(setup.catalog.avatars.length, 3);
});

test("a resumed session's settings show in the controls", async () => {
  const { el, setup } = setupWith();
  await setup.load();
  setup.showSession({ preset: "cleo", voice_id: "v_calm", language: "it", mode: 1, background_url: "https://x.test/bg.png" });
  assert.equal(radio(el, "cleo").checked, true);
  assert.equal(el.voiceSelect.value, "calm");
  // A language the catalog does not list is added rather than lost.
  assert.equal(el.languageSelect.value, "it");
  assert.equal(el.modeSelect.value, "1");
  assert.equal(el.backgroundInput.value, "https://x.test/bg.png");
  assert.deepEqual(setup.params(), { mode: 1, voice: "calm", language: "it", background_url: "https://x.test/bg.png" });
});

test("while starting, Start says so and cannot be pressed", () => {
  const { el, setup } = setupWith();
  setup.setStarting(true);
  assert.equal(el.startBtn.textContent, "Starting…");
  assert.equal(el.startBtn.disabled, true);
  assert.equal(el.startBtn.getAttribute("aria-busy"), "true");
  setup.setReady(false);
  setup.setStarting(false);
  assert.equal(el.startBtn.textContent, "Start");
  assert.equal(el.startBtn.disabled, true); // the page still checks for a running session
  setup.setReady(true);
  assert.equal(el.startBtn.disabled, false);
});

test("a preset whose answers are checked offers no dialogue mode, and says why", async () => {
  const catalog = structuredClone(CATALOG);
  catalog.avatars[2].modes = [1]; // lex: our assistant, with declined topics
  catalog.avatars[1].modes = [1, 2];
  const { el, setup } = setupWith({ presets: async () => structuredClone(catalog) });
  await setup.load();
  choose(el, "lex");
  assert.deepEqual(el.modeSelect.options.map((o) => o.textContent), ["Own assistant"]);
  assert.equal(el.modeSelect.value, "1");
  assert.match(el.modeHelp.textContent, /checked before it speaks them, so it has no dialogue mode/);
  assert.equal((await setup.startRequest()).mode, 1);
  assert.equal(setup.params().mode, 1);
  choose(el, "cleo");
  assert.deepEqual(optionValues(el.modeSelect), ["2", "1"]);
  assert.doesNotMatch(el.modeHelp.textContent, /no dialogue mode/);
});
