// Issue 17: each sandbox preset has its own face, drawn whole with its name; the mode
// select offers both modes and says why where mode 1 cannot do something.

import { test } from "node:test";
import assert from "node:assert/strict";

import { faceLook, hashOf, HAIR_STYLES } from "../../static/js/face_look.js";
import { SandboxFace } from "../../static/js/sandbox_face.js";
import { PAGE_ELEMENTS } from "../../static/js/elements.js";
import { Notices } from "../../static/js/notices.js";
import { MODE_WHY, Setup } from "../../static/js/setup.js";
import { fakeElements, fire } from "./fakes.mjs";

test("a face is derived from its slug: the same every time, different across presets", () => {
  assert.deepEqual(faceLook("ada"), faceLook("ada"));
  // FNV-1a's published value: the same in every browser, so a face never changes.
  assert.equal(hashOf("a"), 0xe40c292c);
  const trio = ["ada", "ben", "cleo"].map((s) => faceLook(s));
  const key = (l) => JSON.stringify([l.skin, l.hair, l.glasses, l.earrings, l.beard, l.backdrop]);
  assert.equal(new Set(trio.map(key)).size, 3);
  // The demo trio no longer share one haircut.
  assert.equal(new Set(trio.map((l) => l.hair.style)).size, 3);
  // Across many slugs every hair style, glasses, earrings and beards all appear.
  const many = Array.from({ length: 300 }, (_, i) => faceLook(`preset-${i}`));
  assert.deepEqual(new Set(many.map((l) => l.hair.style)), new Set(HAIR_STYLES));
  for (const has of [(l) => l.glasses !== "none", (l) => l.earrings, (l) => l.beard]) {
    assert.ok(many.some(has) && !many.every(has));
  }
});

test("a female voice never gets a beard; thumbnail colours win over derived ones", () => {
  for (let i = 0; i < 300; i++) assert.equal(faceLook(`p${i}`, {}, "female").beard, false);
  const look = faceLook("ada", { backdrop: "rgb(1 2 3)", clothes: "rgb(4 5 6)" });
  assert.equal(look.backdrop, "rgb(1 2 3)");
  assert.equal(look.clothes, "rgb(4 5 6)");
  assert.equal(look.hair.style, faceLook("ada").hair.style);
});

/** A 2D context that accepts any drawing call and records the text drawn. */
function recordingContext() {
  const texts = [];
  const ctx = new Proxy(
    { texts, measureText: (t) => ({ width: 10 * t.length }), createLinearGradient: () => ({ addColorStop() {} }) },
    {
      get(target, prop) {
        if (prop in target) return target[prop];
        if (prop === "fillText") return (t, x, y) => texts.push({ t, x, y });
        return () => {};
      },
      set(target, prop, value) {
        target[prop] = value;
        return true;
      },
    },
  );
  return ctx;
}

test("the face takes the shape of its box (nothing cropped) and shows its name", () => {
  const ctx = recordingContext();
  const canvas = { width: 480, height: 480, getContext: () => ctx, hidden: true };
  const box = { clientWidth: 640, clientHeight: 480 };
  const video = { parentElement: box, play: () => Promise.resolve() };
  const win = { requestAnimationFrame: () => 1, cancelAnimationFrame() {}, performance: { now: () => 0 }, devicePixelRatio: 1 };
  const face = new SandboxFace({ canvas, video, name: "Ada", slug: "ada", win });
  face.start();
  assert.deepEqual([canvas.width, canvas.height], [640, 480]);
  const name = ctx.texts.find((t) => t.t === "Ada");
  assert.ok(name, "the name is drawn");
  assert.ok(name.x >= 0 && name.x < 640 && name.y > 0 && name.y < 480, "inside the picture");
  box.clientWidth = 358;
  box.clientHeight = 358; // a phone's square box
  face.draw(16);
  assert.deepEqual([canvas.width, canvas.height], [358, 358]);
  box.clientWidth = 3000;
  box.clientHeight = 1500; // capped, shape kept
  face.draw(32);
  assert.equal(canvas.width / canvas.height, 2);
  assert.ok(canvas.width <= 960);
});

const PRESETS = {
  avatars: [
    { slug: "ada", name: "Ada", language: "en", mode: 2, use_llm: false },
    { slug: "cleo", name: "Cleo", language: "en", mode: 1, use_llm: false },
    { slug: "lex", name: "Lex", language: "de", mode: 1, use_llm: true },
  ],
  voices: [],
  languages: [{ code: "en", name: "English" }, { code: "de", name: "German" }],
};

async function setupWith(llmAvailable) {
  const el = fakeElements(PAGE_ELEMENTS);
  const notices = new Notices({ status: el.status, error: el.error, setInterval: () => 0, clearInterval: () => {} });
  const setup = new Setup({ el, api: { presets: async () => structuredClone(PRESETS) }, notices, config: { llmAvailable } });
  setup.wire(() => {});
  await setup.load();
  const choose = (slug) => {
    for (const r of el.presetList.querySelectorAll("input[name=preset]")) r.checked = r.value === slug;
    fire(el.presetList.querySelectorAll("input[name=preset]").find((i) => i.value === slug), "change");
  };
  const pickMode = (value) => {
    el.modeSelect.value = value;
    fire(el.modeSelect, "change");
    return el.modeHelp.textContent;
  };
  return { el, setup, choose, pickMode };
}

test("every preset offers both modes, each explained", async () => {
  const { el, choose, pickMode } = await setupWith(false);
  for (const slug of ["ada", "cleo"]) {
    choose(slug);
    assert.deepEqual(el.modeSelect.options.map((o) => [o.value, o.textContent]), [["2", "Dialogue"], ["1", "Retelling"]]);
    assert.equal(pickMode("1"), "The avatar says exactly what you type.");
    assert.equal(pickMode("2"), "The avatar’s own assistant answers you.");
  }
  // The preset's own mode is chosen at first: Ada dialogue, Cleo retelling.
  choose("ada");
  assert.equal(el.modeSelect.value, "2");
  choose("cleo");
  assert.equal(el.modeSelect.value, "1");
});

test("an assistant preset says why retelling speaks your words when no assistant is set up", async () => {
  const { el, setup, choose, pickMode } = await setupWith(false);
  choose("lex");
  assert.deepEqual(el.modeSelect.options.map((o) => o.textContent), ["Dialogue", "Retelling"]);
  assert.equal(pickMode("1"), MODE_WHY.noAssistant);
  assert.match(el.modeHelp.textContent, /none is set up on this site/);
  assert.equal(setup.llmAnswers, false);
  assert.deepEqual(setup.params(), { mode: 1, language: "de" });
});

test("with an assistant, mode 1 is the assistant and says it does not repeat your words", async () => {
  const { el, setup, choose, pickMode } = await setupWith(true);
  choose("lex");
  assert.deepEqual(el.modeSelect.options.map((o) => o.textContent), ["Dialogue", "Own assistant"]);
  assert.match(pickMode("1"), /Our own assistant .* does not repeat your own words\.$/);
  assert.equal(setup.llmAnswers, true);
  assert.equal(pickMode("2"), "The avatar’s own assistant answers you.");
});

test("hair suits the voice's gender where the preset says it, still distinct per slug", () => {
  const many = (gender) => Array.from({ length: 200 }, (_, i) => faceLook(`p${i}`, {}, gender).hair.style);
  const female = new Set(many("female"));
  const male = new Set(many("male"));
  for (const short of ["short", "buzz", "swept"]) assert.ok(!female.has(short), short);
  for (const long of ["long", "bob", "bun"]) assert.ok(!male.has(long), long);
  assert.ok(female.size >= 3 && male.size >= 3);
  // Ada (a female voice) no longer gets a short cut; an unknown gender may get any style.
  assert.notEqual(faceLook("ada", {}, "female").hair.style, "short");
  assert.deepEqual(new Set(many("")), new Set(HAIR_STYLES));
  const trio = ["ada", "ben", "cleo"].map((s) => JSON.stringify(faceLook(s, {}, "female")));
  assert.equal(new Set(trio).size, 3);
});

test("the sandbox's cards preview each preset's face; another provider's show thumbnails", async () => {
  const withFaces = async (sandboxFaces) => {
    const el = fakeElements(PAGE_ELEMENTS);
    const notices = new Notices({ status: el.status, error: el.error, setInterval: () => 0, clearInterval: () => {} });
    const presets = structuredClone(PRESETS);
    for (const a of presets.avatars) a.thumbnail_url = `/static/img/avatars/${a.slug}.svg`;
    const setup = new Setup({ el, api: { presets: async () => presets }, notices, config: { sandboxFaces } });
    await setup.load();
    return el.presetList.querySelectorAll(".thumb").map((t) => t.children[0]?.tagName?.toLowerCase());
  };
  assert.deepEqual(await withFaces(true), ["canvas", "canvas", "canvas"]);
  assert.deepEqual(await withFaces(false), ["img", "img", "img"]);
});
