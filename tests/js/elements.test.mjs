import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { PAGE_ELEMENTS, findElements } from "../../static/js/elements.js";

const template = readFileSync(new URL("../../templates/avatar.html", import.meta.url), "utf8");

test("every element the page script uses is in the avatar page, with its tag", () => {
  const tags = new Map([...template.matchAll(/<([a-z0-9]+)\b[^>]*\bid="([^"]+)"/g)].map(([, tag, id]) => [id, tag]));
  const wrong = Object.entries(PAGE_ELEMENTS)
    .map(([name, selector]) => [name, ...selector.split("#")])
    .filter(([, tag, id]) => tags.get(id) !== tag)
    .map(([name, tag, id]) => `${name}: <${tag} id=${id}> is ${tags.has(id) ? `a <${tags.get(id)}>` : "missing"}`);
  assert.deepEqual(wrong, []);
  // The page's script is a same-origin module (the CSP allows nothing else).
  assert.match(template, /<script type="module" src="\{% static 'js\/app\.js' %\}"><\/script>/);
});

test("a page without one of the elements names it", () => {
  const doc = { getElementById: (id) => (id === "chat-input" || id === "acks" ? null : { id }) };
  assert.throws(() => findElements(doc), /the page lacks #chat-input, #acks/);
  const found = findElements({ getElementById: (id) => ({ id }) });
  assert.equal(found.startBtn.id, "start-btn");
});
