// Issue 17, sessions across devices and tabs: a page asks before joining a session another
// device's page holds (the server says `connected`), a reload still resumes at once; the
// tab a session was taken from learns that it ended (from the tab that ended it, or by
// asking) and says so in words; and a short session is warned before its end too.
import { test } from "node:test";
import assert from "node:assert/strict";

import { warnBeforeFor } from "../../static/js/extend.js";
import { ALREADY_ENDED_TEXT, ENDED_ELSEWHERE_TEXT } from "../../static/js/session.js";
import { ANSWER_WAIT_MS, TabClaims } from "../../static/js/tab_claims.js";
import { fakeBroadcast, fakeClock, fakeStorage, FakeWebSocket } from "./fakes.mjs";
import { CATALOG, buildPage, settle, startSession } from "./page.mjs";

const heading = (p) => p.el.liveList.querySelector("h2")?.textContent ?? "";
const continueButton = (p) => p.el.liveList.querySelector("button[data-action=continue]");

async function openPage(p) {
  const opened = p.open();
  await settle(p, ANSWER_WAIT_MS);
  await opened;
}

test("a session another device's page holds is not joined unasked; Continue here joins it", async () => {
  const p = buildPage({ tabs: { BroadcastChannel: fakeBroadcast(), sessionStorage: fakeStorage() } });
  const s = p.api.addSession({ connected: true });
  await openPage(p);

  assert.equal(p.el.app.dataset.phase, "setup");
  assert.equal(heading(p), "This session is open in another tab or on another device. Continue here?");
  assert.equal(FakeWebSocket.instances.length, 0, "it did not join unasked");

  continueButton(p).click();
  await settle(p);
  p.ws.serverOpen();
  p.ws.serverSend({ type: "session", status: "active", expires_at: s.expires_at });
  await settle(p);
  assert.equal(p.el.app.dataset.phase, "session");
  assert.equal(p.live.id, s.id);
});

test("a reload resumes this tab's own session at once, though its old socket still counts", async () => {
  const storage = fakeStorage();
  const p = buildPage({ tabs: { BroadcastChannel: fakeBroadcast(), sessionStorage: storage } });
  const s = p.api.addSession({ connected: true });
  storage.setItem("avatarsite.session", s.id); // what this tab held before the reload
  await openPage(p);
  await settle(p);
  assert.equal(p.el.liveList.hidden, true);
  assert.equal(p.live?.id, s.id);
});

/** A page whose session another tab took: it shows "Take it back". */
async function takenPage(Channel) {
  const p = buildPage({ tabs: { BroadcastChannel: Channel, sessionStorage: fakeStorage() } });
  await startSession(p);
  const id = p.live.id;
  const other = new TabClaims({ win: { BroadcastChannel: Channel, sessionStorage: fakeStorage() }, clock: fakeClock() });
  other.takeOver(id);
  other.hold(id);
  await settle(p);
  assert.equal(continueButton(p).textContent, "Take it back");
  return { p, id, other };
}

test("the tab a session was taken from hears that it ended, and offers Start in words", async () => {
  const { p, id, other } = await takenPage(fakeBroadcast());
  p.api.sessions.get(id).status = "closed";
  other.ended(id);
  await settle(p);
  assert.equal(p.el.liveList.hidden, true, "no Take it back for an ended session");
  assert.equal(p.status, ENDED_ELSEWHERE_TEXT);
  assert.equal(p.error, "");
});

test("Take it back for a session that ended on another device says it ended, no error", async () => {
  const { p, id } = await takenPage(fakeBroadcast());
  // Ended where no channel reaches (another device): the tab finds out when asked.
  p.api.sessions.get(id).status = "closed";
  const sockets = FakeWebSocket.instances.length;
  continueButton(p).click();
  await settle(p);
  assert.equal(p.error, "");
  assert.equal(p.status, ENDED_ELSEWHERE_TEXT);
  assert.equal(p.el.liveList.hidden, true);
  assert.equal(p.el.app.dataset.phase, "setup");
  assert.equal(FakeWebSocket.instances.length, sockets, "it did not try to join");
  assert.equal(p.api.called("closeSession").length, 0);
});

test("Continue here on a listed session that has since ended says so", async () => {
  const p = buildPage({ tabs: { BroadcastChannel: fakeBroadcast(), sessionStorage: fakeStorage() } });
  const s = p.api.addSession({ connected: true });
  await openPage(p);
  p.api.sessions.get(s.id).status = "closed";
  continueButton(p).click();
  await settle(p);
  assert.equal(p.error, "");
  assert.equal(p.status, ALREADY_ENDED_TEXT);
  assert.equal(p.el.liveList.hidden, true);
});

test("the warning comes at SESSION_END_WARNING, or half-way through a session no longer", () => {
  assert.equal(warnBeforeFor(600, 60000), 60000);
  assert.equal(warnBeforeFor(60, 60000), 30000);
  assert.equal(warnBeforeFor(40, 60000), 20000);
  assert.equal(warnBeforeFor(61, 60000), 60000);
  assert.equal(warnBeforeFor(60, 57000), 57000);
  assert.equal(warnBeforeFor(undefined, 60000), 60000);
});

test("a one-minute session gets the warning and Extend half-way", async () => {
  const catalog = structuredClone(CATALOG);
  catalog.avatars[0].extend_allowed = true;
  const p = buildPage({ catalog });
  p.api.next.createSession = [
    () => ({ ...p.api.addSession({ duration: 60, expires_at: new Date(p.clock.now() + 60000).toISOString() }) }),
  ];
  await startSession(p);
  await p.clock.advance(25000);
  assert.notEqual(p.el.endWarningBox.dataset.shown, "true", "not yet at 35 s left");
  await p.clock.advance(6000);
  assert.equal(p.el.endWarningBox.dataset.shown, "true");
  assert.equal(p.el.extendBtn.hidden, false);
});
