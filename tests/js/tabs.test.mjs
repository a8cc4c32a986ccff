// Issue 17, several tabs: over the cap the page lists the live sessions (Continue here,
// End); a tab that opens while another tab holds the session asks before joining it; the
// tab a session is taken from lets go of its media and offers it back; a reload of the
// same tab resumes without asking. And Interrupt says "Stopped" only when something was.
import { test } from "node:test";
import assert from "node:assert/strict";

import { NOTHING_TO_STOP } from "../../static/js/controls.js";
import { TAKEN_OVER_TEXT } from "../../static/js/live_session.js";
import { ANSWER_WAIT_MS, TabClaims } from "../../static/js/tab_claims.js";
import { fakeBroadcast, fakeClock, fakeStorage, FakeWebSocket } from "./fakes.mjs";
import { apiError, buildPage, settle, startSession } from "./page.mjs";

/** Another tab of the same browser, holding `id` (or nothing). */
function otherTab(Channel, id = null) {
  const claims = new TabClaims({ win: { BroadcastChannel: Channel, sessionStorage: fakeStorage() }, clock: fakeClock() });
  if (id) claims.hold(id);
  claims.taken = [];
  claims.onTaken = (taken) => claims.taken.push(taken);
  return claims;
}

const heading = (p) => p.el.liveList.querySelector("h2")?.textContent ?? "";
const rows = (p) => p.el.liveList.querySelectorAll("li.live-session");
const button = (p, action, i = 0) => rows(p)[i].querySelector(`button[data-action=${action}]`);

async function openPage(p) {
  const opened = p.open();
  await settle(p, ANSWER_WAIT_MS);
  await opened;
}

/** The page's resume connects: the socket opens and says the session is active. */
async function connect(p) {
  await settle(p);
  p.ws.serverOpen();
  p.ws.serverSend({ type: "session", status: "active", expires_at: p.live.session.expires_at });
  await settle(p);
}

test("a tab that opens while another tab holds the session asks, and Continue here moves it", async () => {
  const Channel = fakeBroadcast();
  const p = buildPage({ tabs: { BroadcastChannel: Channel, sessionStorage: fakeStorage() } });
  const s = p.api.addSession({ preset: "ada", started_at: new Date(p.clock.now() - 60000).toISOString() });
  const other = otherTab(Channel, s.id);
  await openPage(p);

  assert.equal(p.el.app.dataset.phase, "setup");
  assert.equal(p.el.liveList.hidden, false);
  assert.equal(heading(p), "This session is open in another tab or on another device. Continue here?");
  assert.equal(rows(p)[0].querySelector(".live-name").textContent, "Ada");
  assert.match(rows(p)[0].textContent, /Started at .*\. 10 minutes left\./);
  assert.equal(FakeWebSocket.instances.length, 0, "it did not join unasked");
  assert.equal(p.api.called("session").length, 0);

  button(p, "continue").click();
  await connect(p);
  assert.deepEqual(other.taken, [s.id], "the other tab was told to let go");
  assert.equal(p.el.app.dataset.phase, "session");
  assert.equal(p.el.app.dataset.media, "on");
  assert.equal(p.el.liveList.hidden, true);
  // Now this tab answers for it: a third tab would ask too.
  assert.deepEqual([...(await heldBy(Channel))], [s.id]);
});

/** What the tabs of this browser say they hold, asked from one more tab. */
async function heldBy(Channel) {
  const clock = fakeClock();
  const found = new TabClaims({ win: { BroadcastChannel: Channel }, clock }).heldElsewhere();
  await settle({ clock }, ANSWER_WAIT_MS);
  return found;
}

test("a reload of the same tab resumes its session without asking", async () => {
  const Channel = fakeBroadcast();
  const storage = fakeStorage();
  const first = buildPage({ tabs: { BroadcastChannel: Channel, sessionStorage: storage } });
  await startSession(first);
  const id = first.live.id;
  // The reloaded page: the same tab's storage, and the old page no longer answers. An
  // older session of the user's, held by no tab, is listed first: the tab's own wins.
  first.sessions.claims.channel.close();
  const p = buildPage({ tabs: { BroadcastChannel: Channel, sessionStorage: storage } });
  p.api.addSession({ id: "older", preset: "cleo" });
  p.api.sessions.set(id, first.api.sessions.get(id));
  otherTab(Channel); // a tab of this browser with no session does not answer
  await openPage(p);
  await connect(p);
  assert.equal(p.el.liveList.hidden, true);
  assert.equal(p.el.app.dataset.phase, "session");
  assert.equal(p.live.id, id);
  assert.deepEqual([...p.api.sessions.keys()], ["older", id]);
  assert.ok(p.shown.statuses.includes("Resuming your session…"));
});

test("over the cap, Start lists the live sessions; End one and Start works", async () => {
  const p = buildPage();
  await p.open();
  await settle(p);
  const a = p.api.addSession({ preset: "ada" });
  const b = p.api.addSession({ preset: "cleo" });
  const refusal = "You already have 2 live sessions; end one before starting another.";
  p.api.next.createSession = [apiError(429, refusal, { code: "concurrent_sessions_limit", retryAfter: 30 })];
  await p.sessions.start();
  await settle(p);

  assert.equal(p.error, "");
  assert.doesNotMatch(p.status, /Try again/);
  assert.equal(heading(p), "You already have 2 live sessions. End one to start another, or continue one here.");
  assert.deepEqual([...rows(p)].map((r) => r.dataset.id), [a.id, b.id]);
  assert.equal(p.doc.activeElement, button(p, "continue"));

  button(p, "end", 1).click();
  await settle(p);
  assert.deepEqual(p.api.called("closeSession").at(-1), ["closeSession", b.id, null]);
  assert.equal(p.status, "Your session with Cleo has ended. You can start a new session.");
  assert.deepEqual([...rows(p)].map((r) => r.dataset.id), [a.id]);
  assert.equal(heading(p), "You have a live session. Continue it here, or end it.");

  const started = p.sessions.start();
  await settle(p);
  p.ws.serverOpen();
  await started;
  assert.equal(p.el.app.dataset.phase, "session");
  assert.equal(p.el.liveList.hidden, true);
});

test("the tab a session is taken from stops its media and offers it back", async () => {
  const Channel = fakeBroadcast();
  const p = buildPage({ tabs: { BroadcastChannel: Channel, sessionStorage: fakeStorage() } });
  await startSession(p);
  const id = p.live.id;
  const transport = p.transports.at(-1);
  p.el.micBtn.click();
  await settle(p);
  assert.equal(p.el.app.dataset.media, "on");

  const other = otherTab(Channel);
  other.takeOver(id);
  other.hold(id);
  await settle(p);

  assert.equal(p.el.app.dataset.phase, "setup");
  assert.equal(p.el.app.dataset.media, "off");
  assert.equal(transport.closed, true);
  assert.equal(p.mics[0].stops, 1);
  assert.equal(p.status, TAKEN_OVER_TEXT);
  assert.equal(p.error, "");
  assert.equal(heading(p), "You can take it back to go on here.");
  assert.equal(button(p, "continue").textContent, "Take it back");
  assert.ok(!p.api.called("closeSession").length, "the session goes on");

  button(p, "continue").click();
  await connect(p);
  assert.deepEqual(other.taken, [id]);
  assert.equal(p.el.app.dataset.phase, "session");
  assert.equal(p.live.id, id);
});

test("Interrupt with nothing being said says so and sends nothing", async () => {
  const p = buildPage();
  await startSession(p);
  const frames = p.sent.length;
  p.el.interruptBtn.click();
  assert.equal(p.status, NOTHING_TO_STOP);
  assert.equal(p.sent.length, frames);
  assert.equal(p.faces[0].interrupted, 0);
  // While it speaks, it stops.
  p.ws.serverSend({ type: "avatar", speaking: true });
  p.el.interruptBtn.click();
  assert.deepEqual(p.sent.at(-1), { type: "interrupt" });
  assert.equal(p.status, "Stopping the avatar…");
});

test("without BroadcastChannel no other tab is known, at once", async () => {
  const claims = new TabClaims({ win: {}, clock: fakeClock() });
  assert.deepEqual([...(await claims.heldElsewhere())], []);
  claims.hold("s1");
  assert.equal(claims.remembered(), "s1");
  claims.release();
  assert.equal(claims.remembered(), null);
});
