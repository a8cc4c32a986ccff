// The new API token page (staff_token.js): copy the token once shown.

import { test } from "node:test";
import assert from "node:assert/strict";

import { wireTokenCopy } from "../../static/js/staff_token.js";
import { FakeDocument, fire, flush } from "./fakes.mjs";

function tokenPage() {
  const doc = new FakeDocument();
  const ids = {};
  doc.getElementById = (id) => ids[id] ?? null;
  ids["new-token"] = Object.assign(doc.createElement("input"), { value: "avs_secret" });
  ids["copy-token"] = doc.createElement("button");
  ids["copy-token"].dataset.target = "new-token";
  ids["copy-status"] = doc.createElement("span");
  return { doc, input: ids["new-token"], button: ids["copy-token"], status: ids["copy-status"] };
}

test("Copy puts the new token on the clipboard", async () => {
  const { doc, input, button, status } = tokenPage();
  const copied = [];
  wireTokenCopy(doc, { clipboard: { writeText: async (text) => copied.push(text) } });
  button.click();
  await flush();
  assert.deepEqual(copied, ["avs_secret"]);
  assert.equal(status.textContent, "Copied.");
  fire(input, "focus");
  assert.equal(input.selected, true);
});

test("without clipboard access the token is selected, with how to copy it", async () => {
  for (const navigator of [{}, { clipboard: { writeText: async () => Promise.reject(new Error("denied")) } }]) {
    const { doc, input, button, status } = tokenPage();
    wireTokenCopy(doc, navigator);
    button.click();
    await flush();
    assert.equal(status.textContent, "Selected: press Ctrl+C (⌘C) to copy.");
    assert.equal(doc.activeElement, input);
    assert.equal(input.selected, true);
  }
});

test("a page without a token to copy is left alone", () => {
  const doc = new FakeDocument();
  doc.getElementById = () => null;
  assert.doesNotThrow(() => wireTokenCopy(doc, {}));
});
