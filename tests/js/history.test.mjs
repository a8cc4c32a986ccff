import { test } from "node:test";
import assert from "node:assert/strict";

import { describeCloseReasons, localizeTimes } from "../../static/js/history.js";
import { FakeElement } from "./fakes.mjs";

function time(root, iso, { timeOnly = false } = {}) {
  const t = root.ownerDocument.createElement("time");
  t.dateTime = iso;
  t.textContent = iso;
  t.setAttribute("data-local-time", "");
  if (timeOnly) t.setAttribute("data-time-only", "");
  root.append(t);
  return t;
}

test("times show in the reader's own time zone, the exact time as their tooltip", () => {
  const root = new FakeElement("main");
  const full = time(root, "2030-05-06T07:08:09+02:00");
  const short = time(root, "2030-05-06T07:08:09Z", { timeOnly: true });
  const broken = time(root, "not a time");
  const other = root.ownerDocument.createElement("time");
  other.textContent = "left alone";
  root.append(other);
  localizeTimes(root);
  const at = new Date("2030-05-06T07:08:09+02:00");
  assert.equal(full.textContent, at.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }));
  assert.equal(full.title, "2030-05-06T05:08:09.000Z");
  assert.equal(short.textContent, new Date("2030-05-06T07:08:09Z").toLocaleTimeString());
  assert.equal(broken.textContent, "not a time");
  assert.equal(other.textContent, "left alone");
});

test("close reasons show in words, unknown ones readable", () => {
  const root = new FakeElement("table");
  const cells = ["user", "crashed", "some_new_reason"].map((reason) => {
    const span = root.ownerDocument.createElement("span");
    span.dataset.closeReason = reason;
    span.textContent = reason;
    root.append(span);
    return span;
  });
  describeCloseReasons(root);
  assert.deepEqual(
    cells.map((c) => c.textContent),
    ["ended by the user", "our server stopped", "some new reason"],
  );
});
