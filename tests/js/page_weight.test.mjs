// The start screen stays light (README, "Page weight"): what only a running session needs
// (live_parts.js) arrives when a session starts or resumes, or when the user points at
// Start; a failed fetch says so, creates nothing, and leaves Start working.

import { test } from "node:test";
import assert from "node:assert/strict";

import * as liveParts from "../../static/js/live_parts.js";
import { fire } from "./fakes.mjs";
import { buildPage, settle, startSession } from "./page.mjs";

const FAILED = "Could not start the session: part of this page did not load. Check your connection, then reload the page.";

/** An importLive that counts its calls and fails while `failing`. */
function loader() {
  const l = {
    calls: 0,
    failing: false,
    importLive: async () => {
      l.calls += 1;
      if (l.failing) throw new TypeError("Failed to fetch dynamically imported module");
      return liveParts;
    },
  };
  return l;
}

test("opening the page fetches none of the session's code; Start fetches it once", async () => {
  const l = loader();
  const p = buildPage({ importLive: l.importLive });
  await p.open();
  await settle(p);
  assert.equal(l.calls, 0);
  await startSession(p, { open: true });
  assert.equal(p.status, "Connected. Say hello!");
  assert.equal(l.calls, 1);
});

test("pointing at Start or tabbing to it fetches the session's code before the press", async () => {
  for (const type of ["pointerover", "focusin"]) {
    const l = loader();
    const p = buildPage({ importLive: l.importLive });
    await p.open();
    fire(p.el.startBtn, type);
    await settle(p);
    assert.equal(l.calls, 1, type);
    await startSession(p, { open: true });
    assert.equal(l.calls, 1, `${type}: Start reuses what was fetched`);
  }
});

test("a failed fetch at Start says so, creates no session, and the next Start works", async () => {
  const l = loader();
  const p = buildPage({ importLive: l.importLive });
  l.failing = true;
  fire(p.el.startBtn, "pointerover"); // a failed preload is quiet: Start tells
  await startSession(p, { open: false });
  assert.equal(p.error, FAILED);
  assert.equal(p.api.called("createSession").length, 0);
  assert.equal(p.el.app.dataset.phase, "setup");
  assert.equal(p.el.startBtn.disabled, false);
  assert.equal(p.el.startBtn.textContent, "Start");

  l.failing = false;
  await startSession(p, { open: true, slug: "ada" });
  assert.equal(p.status, "Connected. Say hello!");
  assert.equal(p.api.called("createSession").length, 1);
});

test("a resume whose code fails to load leaves the session running for a reload", async () => {
  const l = loader();
  const p = buildPage({ importLive: l.importLive });
  const s = p.api.addSession();
  l.failing = true;
  await p.open();
  await settle(p);
  assert.equal(p.error, "Could not resume your session: part of this page did not load. Check your connection, then reload the page.");
  assert.equal(p.api.called("closeSession").length, 0);
  assert.equal(s.status, "active");
  assert.equal(p.el.startBtn.disabled, false);
});
