import { test } from "node:test";
import assert from "node:assert/strict";

import { MAX_TRANSPORT_RECOVERIES } from "../../static/js/live_session.js";
import { RESUMED_TEXT, RESUMING_MEDIA_TEXT } from "../../static/js/outage.js";
import { buildPage, settle, startSession } from "./page.mjs";

const OUTAGE = "The server can't be reached right now; reconnecting…";

/** The server goes away: the socket drops and the next attempts are refused. */
async function serverDown(p, ms = 3000) {
  p.ws.serverClose(1006);
  for (let t = 0; t < ms; t += 1000) {
    await p.clock.advance(1000);
    if (p.ws.readyState === 0) p.ws.serverClose(1006);
  }
}

/** The server is back: the socket opens and says the session's state. */
async function serverBack(p, frame) {
  await p.clock.advance(8000);
  p.ws.serverOpen();
  p.ws.serverSend({ type: "session", ...frame });
  await settle(p);
}

test("the server ending the session says why, as news or as a failure", async () => {
  const p = buildPage();
  await startSession(p);
  p.ws.serverSend({ type: "session", status: "closing", close_reason: "admin" });
  assert.equal(p.status, "The session is ending…");
  p.ws.serverSend({ type: "session", status: "closed", close_reason: "admin" });
  await settle(p);
  assert.equal(p.status, "A staff member ended the session. You can start a new session.");
  assert.equal(p.error, "");
  assert.equal(p.el.app.dataset.phase, "setup");

  const q = buildPage();
  await startSession(q);
  q.ws.serverSend({ type: "transcript", role: "avatar", mid: "a1", text: "Half a sen", final: false });
  q.ws.serverSend({ type: "session", status: "failed", close_reason: "error", error: "upstream broke" });
  await settle(q);
  assert.match(q.error, /^The session failed.*You can start a new session\.$/);
  assert.equal(q.notices.errorCode, "session_ended");
  assert.equal(q.status, "");
  // The open line is marked as cut, as on a reload.
  assert.equal(q.el.transcript.querySelector("li.line.avatar").dataset.cut, "true");
});

test("a socket the server refuses is explained from the API", async () => {
  const closed = buildPage();
  await startSession(closed);
  closed.api.sessions.get(closed.live.id).status = "closed";
  closed.api.sessions.get(closed.live.id).close_reason = "expired";
  closed.ws.serverClose(4410);
  await settle(closed);
  assert.equal(closed.status, "The session's time was up. You can start a new session.");

  const gone = buildPage();
  await startSession(gone);
  gone.api.sessions.clear();
  gone.ws.serverClose(4404);
  await settle(gone);
  assert.equal(gone.error, "This session is no longer available: it ended, or it belongs to another account. You can start a new session.");

  const odd = buildPage();
  await startSession(odd);
  odd.ws.serverClose(4403);
  await settle(odd);
  assert.equal(odd.error, "The server closed the connection to this session. You can start a new session.");
});

test("errors from the server and from the sandbox show with their codes", async () => {
  const p = buildPage();
  await startSession(p);
  p.ws.serverSend({ type: "error", code: "rate_limited", message: "Slow down." });
  assert.equal(p.notices.errorCode, "rate_limited");
  p.transports[0].emit("message", JSON.stringify({ v: 2, type: "event", pld: { event: "sandbox_violation", reason: "rate" } }));
  assert.equal(p.error, "The sandbox avatar dropped a message (rate).");
  assert.equal(p.notices.errorCode, "sandbox_violation");
});

test("an outage shows one notice, holds media troubles, then says the session continues", async () => {
  const p = buildPage();
  await startSession(p);
  p.notices.showError("An old error.", "x");
  await serverDown(p);
  assert.equal(p.status, OUTAGE);
  assert.equal(p.error, "");
  assert.equal(p.shown.statuses.filter((s) => s === OUTAGE).length, 1);
  // The media fails too (the sandbox's socket goes to the same server): no recovery yet.
  p.transports[0].setState("failed");
  await p.clock.advance(5000);
  assert.equal(p.transports.length, 1);
  assert.equal(p.status, OUTAGE);

  await serverBack(p, { status: "active", expires_at: p.live.session.expires_at });
  assert.equal(p.transports.length, 2, "rebuilt at once from fresh credentials");
  assert.ok(p.shown.statuses.includes(RESUMING_MEDIA_TEXT));
  assert.equal(p.status, RESUMED_TEXT);
  assert.equal(p.transports[0].closed, true);
  assert.equal(p.el.app.dataset.phase, "session");
});

test("after an outage that ended the session, the page says so plainly", async () => {
  const p = buildPage();
  await startSession(p);
  await serverDown(p);
  await serverBack(p, { status: "closed", close_reason: "crashed" });
  assert.equal(p.el.app.dataset.phase, "setup");
  assert.equal(p.error, "Our server restarted and your session could not be kept. You can start a new session.");
  assert.ok(!/check your connection/i.test(p.shown.errors.map((e) => e.text).join(" ")));
});

test("a socket that keeps failing makes the page ask whether the session still runs", async () => {
  const p = buildPage();
  await startSession(p);
  p.api.sessions.get(p.live.id).status = "closed";
  p.api.sessions.get(p.live.id).close_reason = "abandoned";
  await serverDown(p, 8000);
  await settle(p);
  assert.equal(p.el.app.dataset.phase, "setup");
  assert.equal(p.status, "The session ended because no page was connected to it for a while. You can start a new session.");
});

test("a failed transport is rebuilt from fresh credentials, its devices released", async () => {
  const p = buildPage();
  await startSession(p);
  p.el.micBtn.click();
  await settle(p);
  p.transports[0].setState("failed");
  await settle(p);
  assert.equal(p.transports.length, 1, "it waits a moment first");
  await p.clock.advance(1000);
  await settle(p);
  assert.ok(p.shown.statuses.includes("The media connection was lost; reconnecting…"));
  assert.equal(p.transports.length, 2);
  assert.equal(p.transports[0].closed, true);
  assert.equal(p.mics[0].stops, 1);
  assert.equal(p.el.micBtn.textContent, "Microphone off");
  assert.equal(p.status, "Media connection restored.");
  // The old transport's news is no longer heard.
  p.transports[0].setState("failed");
  await p.clock.advance(5000);
  assert.equal(p.transports.length, 2);
});

test("a transport that cannot be brought back ends the session, and the server is told", async () => {
  const p = buildPage();
  await startSession(p);
  p.transports.push = function push(t) {
    if (this.length) t.joinError = new Error("no way through");
    return Array.prototype.push.call(this, t);
  };
  const warn = console.warn;
  console.warn = () => {};
  try {
    p.transports[0].setState("failed");
    await p.clock.advance(20000);
  } finally {
    console.warn = warn;
  }
  assert.equal(p.transports.length, 1 + MAX_TRANSPORT_RECOVERIES);
  assert.equal(p.error, "The media connection to the avatar was lost. You can start a new session.");
  assert.equal(p.el.app.dataset.phase, "setup");
  const [[, , why]] = p.api.called("closeSession");
  assert.equal(why, "The media connection to the avatar was lost.");
  assert.equal(p.clock.pending, 0);
});

test("a media blip says nothing; a longer drop says it is reconnecting, then restored", async () => {
  const p = buildPage();
  await startSession(p);
  const [t] = p.transports;
  t.setState("reconnecting");
  await p.clock.advance(1000);
  t.setState("joined");
  await p.clock.advance(2000);
  assert.equal(p.status, "Connected. Say hello!");
  t.setState("reconnecting");
  await p.clock.advance(2000);
  assert.equal(p.status, "The media connection dropped; reconnecting…");
  t.setState("joined");
  assert.equal(p.status, "Media connection restored.");
});

test("the countdown warns a minute before the end, then asks the API when the time is up", async () => {
  const p = buildPage();
  await p.open();
  p.api.next.createSession = [() => ({ ...p.api.addSession({ expires_at: new Date(p.clock.now() + 62000).toISOString() }) })];
  const started = p.sessions.start();
  await settle(p);
  p.ws.serverOpen();
  await started;
  assert.equal(p.el.countdown.textContent, "1:02");
  await p.clock.advance(3000);
  // The warning has a place of its own (extend.js), a live region that takes no focus.
  assert.equal(p.el.endWarning.textContent, "This session ends in about a minute.");
  assert.equal(p.el.endWarningBox.dataset.shown, "true");
  assert.equal(p.el.countdown.dataset.low, "true");
  await p.clock.advance(60000);
  assert.equal(p.status, "Time is up; the session is ending…");
  assert.equal(p.el.countdown.textContent, "0:00");
  // The server's word does not come: the API is asked, and says it ended.
  Object.assign(p.api.sessions.get(p.live.id), { status: "closed", close_reason: "expired" });
  await p.clock.advance(5000);
  assert.equal(p.status, "The session's time was up. You can start a new session.");
});

test("a later end from the server moves the countdown", async () => {
  const p = buildPage();
  await startSession(p);
  p.ws.serverSend({ type: "session", status: "active", expires_at: new Date(p.clock.now() + 20 * 60000).toISOString() });
  assert.equal(p.el.countdown.textContent, "20:00");
  await p.clock.advance(1000);
  assert.equal(p.el.countdown.textContent, "19:59");
});

test("with Agora the page waits for the avatar's video, then sets its params again", async () => {
  const p = buildPage({ provider: "agora" });
  await p.open();
  const started = p.sessions.start();
  await settle(p);
  p.ws.serverOpen();
  await started;
  const [t] = p.transports;
  assert.equal(p.status, "Waiting for the avatar’s video…");
  assert.equal(p.el.videoWait.hidden, false);
  await p.clock.advance(20000);
  assert.match(p.status, /^Still waiting for the avatar’s video/);
  t.setState("waiting");
  assert.equal(p.status, "Joined. Waiting for the avatar to arrive…");
  t.emit("avatar-published", { mediaType: "audio" });
  t.emit("avatar-published", { mediaType: "video" });
  assert.equal(p.status, "Connected. Say hello!");
  assert.equal(p.el.videoWait.hidden, true);
  await p.clock.advance(300);
  assert.deepEqual(p.sent.filter((f) => f.type === "set_params"), [
    { type: "set_params", params: { mode: 2, voice: "warm", language: "en" } },
  ]);
  t.emit("avatar-unpublished", { mediaType: "video" });
  assert.equal(p.el.videoWait.hidden, false);
  t.emit("quality", { uplink: 5, downlink: 5, rtt: 900 });
  assert.notEqual(p.el.quality.dataset.level, "0");
  t.emit("autoplay-blocked");
  assert.equal(p.el.enableAudioBtn.hidden, false);
  p.el.enableAudioBtn.click();
  assert.equal(t.audioResumed, 1);
});

test("a frame the transport could not send is an error the user can act on", async () => {
  const p = buildPage();
  await startSession(p);
  p.transports[0].failOn.add("boom-frame");
  p.ws.serverSend({ type: "rtc_send", frame: "boom-frame" });
  await settle(p);
  assert.equal(p.notices.errorCode, "rtc_send_failed");
  assert.match(p.error, /could not be passed to the avatar/);
});
