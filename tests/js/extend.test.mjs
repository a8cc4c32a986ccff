// The recording notice's tick (consent.js) and the warning before the end with Extend
// (extend.js), on the page built from stand-ins (page.mjs).

import { test } from "node:test";
import assert from "node:assert/strict";

import { refusalText, warningText } from "../../static/js/extend.js";
import { CATALOG, apiError, buildPage, settle, startSession } from "./page.mjs";
import { fire } from "./fakes.mjs";

const NOTICE = { text: "This conversation is recorded.", llm_text: "Our assistant at llm.example hears you." };
const catalog = structuredClone(CATALOG);
catalog.avatars[0].extend_allowed = true; // ada
catalog.avatars[1].consent_required = true; // cleo

function choose(p, slug) {
  for (const r of p.el.presetList.querySelectorAll("input[name=preset]")) r.checked = r.value === slug;
  fire(p.el.presetList.querySelector(`input[value=${slug}]`), "change");
}

test("the notice is shown; a preset's tick keeps Start disabled and goes with the create", async () => {
  const p = buildPage({ catalog, config: { recordingNotice: NOTICE } });
  await p.open();
  await settle(p);
  assert.equal(p.el.recordingNoticeText.textContent, NOTICE.text);
  assert.equal(p.el.consentLabel.hidden, true);
  assert.equal(p.el.startBtn.disabled, false);

  choose(p, "cleo");
  assert.equal(p.el.consentLabel.hidden, false);
  assert.equal(p.el.startBtn.disabled, true);
  await p.sessions.start(); // e.g. Enter in a field: refused, and said why
  assert.equal(p.api.called("createSession").length, 0);
  assert.match(p.error, /Tick the box/);

  p.el.consentCheck.checked = true;
  fire(p.el.consentCheck, "change");
  assert.equal(p.el.startBtn.disabled, false);
  p.sessions.start();
  await settle(p);
  assert.equal(p.api.called("createSession")[0][1].consent, true);
});

test("the LLM's host is named only for an avatar our assistant answers for", async () => {
  const p = buildPage({ catalog, config: { recordingNotice: NOTICE, llmAvailable: true } });
  await p.open();
  await settle(p);
  assert.equal(p.el.recordingNoticeLlm.hidden, true); // ada: the avatar's own dialogue
  choose(p, "lex"); // use_llm, retelling our assistant's answers
  assert.equal(p.el.recordingNoticeLlm.hidden, false);
  assert.equal(p.el.recordingNoticeLlm.textContent, NOTICE.llm_text);
  p.el.modeSelect.value = "2";
  fire(p.el.modeSelect, "change");
  assert.equal(p.el.recordingNoticeLlm.hidden, true);
});

test("the warning's words are whole sentences", () => {
  assert.equal(warningText(60, false), "This session ends in about a minute.");
  assert.equal(warningText(180, true), "This session ends in about 3 minutes. Press Extend to carry on talking in a follow-on session.");
  const refused = apiError(403, "This avatar's sessions cannot be extended.", { code: "extend_not_allowed" });
  assert.equal(refusalText(refused), "The session could not be extended: This avatar's sessions cannot be extended. It goes on until its time is up.");
});

async function warned(p) {
  p.api.next.createSession = [() => ({ ...p.api.addSession({ expires_at: new Date(p.clock.now() + 62000).toISOString() }) })];
  await startSession(p);
  await p.clock.advance(3000);
  assert.equal(p.el.endWarningBox.dataset.shown, "true");
}

test("Extend moves the page to the follow-on session, the transcript kept", async () => {
  const p = buildPage({ catalog, config: { recordingNotice: NOTICE } });
  await warned(p);
  assert.equal(p.el.extendBtn.hidden, false);
  const old = p.live;
  p.ws.serverSend({ type: "transcript", role: "user", mid: "m1", text: "Hello", final: true });
  const next = { ...p.api.addSession({ continues: old.id }) };
  p.api.extendSession = async (id) => {
    // The old socket hears of the close before the answer comes: that is no end.
    p.ws.serverSend({ type: "session", status: "closed", close_reason: "extended" });
    p.api.sessions.get(id).status = "closed";
    return next;
  };
  fire(p.el.extendBtn, "click");
  await settle(p);
  p.ws.serverOpen();
  await settle(p);
  assert.equal(p.live.id, next.id);
  assert.equal(p.el.app.dataset.phase, "session");
  assert.equal(p.status, "The session goes on in a follow-on session.");
  assert.equal(p.el.endWarningBox.dataset.shown, "false");
  assert.equal(p.el.transcript.children.length, 1);
});

test("a refused Extend says why, and the session goes on", async () => {
  const p = buildPage({ catalog, config: { recordingNotice: NOTICE } });
  await warned(p);
  const id = p.live.id;
  p.api.extendSession = async () => {
    throw apiError(429, "Too many sessions started this hour. Try again in 30 s.", { code: "session_rate_limit", retryAfter: 30 });
  };
  fire(p.el.extendBtn, "click");
  await settle(p);
  assert.equal(p.live.id, id);
  assert.equal(p.el.app.dataset.phase, "session");
  assert.match(p.error, /could not be extended: Too many sessions started this hour\. Try again in 30 s\. It goes on/);
  assert.equal(p.el.extendBtn.hidden, false); // a limit may pass later
  assert.equal(p.el.extendBtn.disabled, false);
});

test("Extend says the notice was ticked, so a preset that now requires it goes on", async () => {
  const p = buildPage({ catalog, config: { recordingNotice: NOTICE } });
  await warned(p);
  const asked = [];
  p.api.extendSession = async (id, consent) => {
    asked.push(consent);
    throw apiError(400, "Tick the box.", { code: "consent_required" });
  };
  fire(p.el.extendBtn, "click");
  await settle(p);
  p.el.consentCheck.checked = true;
  fire(p.el.extendBtn, "click");
  await settle(p);
  assert.deepEqual(asked, [false, true]);
});
