import { test } from "node:test";
import assert from "node:assert/strict";

import { STARTING_TIMEOUT_MS } from "../../static/js/session.js";
import { FakeEvent, fire } from "./fakes.mjs";
import { apiError, buildPage, settle, startSession } from "./page.mjs";

test("the page opens on the start screen, Start held until it knows no session runs", async () => {
  const p = buildPage();
  const opened = p.open();
  assert.equal(p.el.app.dataset.phase, "setup");
  assert.equal(p.el.setupPanel.hidden, false);
  assert.equal(p.el.sessionPanel.hidden, true);
  assert.equal(p.el.startBtn.disabled, true);
  await opened;
  assert.equal(p.el.startBtn.disabled, false);
  assert.deepEqual(p.api.calls.map((c) => c[0]), ["presets", "activeSessions"]);
});

test("Start creates the session with the settings, connects, and says hello", async () => {
  const p = buildPage();
  await startSession(p, { slug: "cleo" });
  assert.deepEqual(p.api.called("createSession")[0][1], { preset: "cleo", duration: 600, mode: 1, language: "fr" });
  assert.deepEqual(p.shown.statuses, ["Creating the session…", "Connecting to the sandbox avatar…", "Connected. Say hello!"]);
  assert.equal(p.el.app.dataset.phase, "session");
  assert.equal(p.el.sessionPanel.hidden, false);
  assert.equal(p.el.sessionTitle.textContent, "Cleo");
  assert.equal(p.ws.url, `ws://test/ws/sessions/${p.live.id}/`);
  assert.equal(p.transports[0].rtc.provider, "sandbox");
  assert.equal(p.doc.activeElement, p.el.chatInput);
  assert.equal(p.el.startBtn.textContent, "Start");
  assert.equal(p.el.countdown.textContent, "10:00");
  // The transcript shows what the server sends.
  p.ws.serverSend({ type: "transcript", role: "user", mid: "u1", text: "Hi", final: true });
  p.ws.serverSend({ type: "avatar", speaking: true });
  assert.equal(p.el.transcript.querySelector("li.line.user .text").textContent, "Hi");
  assert.equal(p.el.speaking.dataset.speaking, "true");
});

test("a session that is still starting is waited for, with progress", async () => {
  const p = buildPage();
  await p.open();
  p.api.next.createSession = [() => ({ ...p.api.addSession({ status: "starting", rtc: null }) })];
  const started = p.sessions.start();
  await settle(p);
  assert.equal(p.status, "Waiting for the avatar service to start the session…");
  assert.equal(p.el.startBtn.textContent, "Starting…");
  await p.clock.advance(3000);
  const [s] = p.api.sessions.values();
  Object.assign(s, { status: "active", rtc: { provider: "sandbox", channel: "c", token: "t" } });
  await p.clock.advance(1000);
  p.ws.serverOpen();
  await started;
  assert.equal(p.status, "Connected. Say hello!");
  assert.ok(p.api.called("session").length >= 3, "it asked again while waiting");
});

test("a start that takes too long is given up, and the session closed", async () => {
  const p = buildPage();
  await p.open();
  p.api.next.createSession = [() => ({ ...p.api.addSession({ status: "starting", rtc: null }) })];
  const started = p.sessions.start();
  await settle(p);
  await p.clock.advance(STARTING_TIMEOUT_MS + 2000);
  await started;
  await settle(p);
  assert.equal(p.error, "Could not start the session: The avatar service is taking too long to start. Try again in a minute.");
  assert.equal(p.el.app.dataset.phase, "setup");
  assert.equal(p.status, "");
  const [[, id, why]] = p.api.called("closeSession");
  assert.equal(id, [...p.api.sessions.keys()][0]);
  assert.match(why, /taking too long/);
  assert.equal(p.el.startBtn.disabled, false);
  assert.equal(p.doc.activeElement, p.el.startBtn);
});

test("a refused start says why and what to do, and Start works again", async () => {
  const p = buildPage();
  await p.open();
  p.api.fail.createSession = apiError(502, "too many sessions for this account");
  await p.sessions.start();
  assert.equal(
    p.error,
    "Could not start the session: too many sessions for this account. Try again in a minute; if it keeps failing, tell the site's operator.",
  );
  assert.equal(p.notices.errorCode, "http_502");
  assert.equal(p.api.called("closeSession").length, 0); // nothing was created
  delete p.api.fail.createSession;
  await startSession(p);
  assert.equal(p.error, "");
  assert.equal(p.status, "Connected. Say hello!");
});

test("media that cannot join abandons the session: closed with the reason, the page back", async () => {
  const p = buildPage({ provider: "agora" });
  await p.open();
  const originalMake = p.transports.push.bind(p.transports);
  p.transports.push = (t) => {
    t.joinError = new Error("Could not join the video channel. Check your connection and start again.");
    return originalMake(t);
  };
  await p.sessions.start();
  await settle(p);
  assert.ok(p.shown.statuses.includes("Loading the video SDK and joining the channel…"));
  assert.equal(p.error, "Could not start the session: Could not join the video channel. Check your connection and start again.");
  assert.equal(p.el.app.dataset.phase, "setup");
  assert.equal(p.transports[0].closed, true);
  assert.equal(p.ws.closedWith.code, 1000);
  const [[, , why]] = p.api.called("closeSession");
  assert.match(why, /Could not join the video channel/);
  assert.equal(p.clock.pending, 0);
});

test("a session ended while its media joins is not reported as started, nor as failed", async () => {
  const p = buildPage();
  await p.open();
  let join;
  const push = p.transports.push.bind(p.transports);
  p.transports.push = (t) => {
    t.gate = new Promise((resolve) => (join = resolve));
    return push(t);
  };
  const started = p.sessions.start();
  await settle(p);
  p.ws.serverOpen();
  p.ws.serverSend({ type: "session", status: "closed", close_reason: "admin" });
  await settle(p);
  join();
  await started;
  await settle(p);
  assert.equal(p.status, "A staff member ended the session. You can start a new session.");
  assert.equal(p.error, "");
  assert.ok(!p.shown.statuses.includes("Connected. Say hello!"));
  assert.notEqual(p.doc.activeElement, p.el.chatInput);
  assert.equal(p.el.app.dataset.phase, "setup");
});

test("End closes the session and says so; nothing of it runs on", async () => {
  const p = buildPage();
  await startSession(p);
  const ws = p.ws;
  const [transport] = p.transports;
  p.el.endBtn.click();
  assert.equal(p.el.endBtn.disabled, true);
  assert.equal(p.status, "Ending the session…");
  await settle(p);
  assert.equal(p.status, "You ended the session. You can start a new session.");
  assert.equal(p.el.app.dataset.phase, "setup");
  assert.equal(p.el.endBtn.disabled, false);
  assert.equal(p.live, null);
  assert.equal(ws.closedWith.code, 1000);
  assert.equal(transport.closed, true);
  assert.equal(p.faces[0].stopped, true);
  assert.equal(p.el.countdown.textContent, "--:--");
  assert.equal(p.clock.pending, 0);
  assert.equal(p.doc.activeElement, p.el.startBtn);

  // Late news from the old session's socket and transport changes nothing.
  ws.serverSend({ type: "session", status: "failed", close_reason: "error" });
  ws.serverSend({ type: "transcript", role: "avatar", mid: "late", text: "late", final: true });
  transport.setState("failed");
  transport.emit("avatar-published", { mediaType: "video" });
  await p.clock.advance(60000);
  assert.equal(p.status, "You ended the session. You can start a new session.");
  assert.equal(p.error, "");
  assert.equal(p.el.transcript.querySelector("li.line.avatar[data-mid=late]"), null);
});

test("End when the server no longer knows the session still goes back to the start", async () => {
  const p = buildPage();
  await startSession(p);
  p.api.fail.closeSession = apiError(404, "Not found.");
  p.el.endBtn.click();
  await settle(p);
  assert.equal(p.el.app.dataset.phase, "setup");
  assert.match(p.status, /You can start a new session\.$/);

  const q = buildPage();
  await startSession(q);
  q.api.fail.closeSession = apiError(503, "The service is busy or down for a moment.");
  q.el.endBtn.click();
  await settle(q);
  assert.equal(q.el.app.dataset.phase, "session");
  assert.match(q.error, /^Could not end the session: The service is busy/);
});

test("a reload resumes the running session with its settings and transcript", async () => {
  const p = buildPage();
  p.api.addSession({ preset: "cleo", voice_id: "v_calm", language: "fr", mode: 1 });
  const opened = p.open();
  await settle(p);
  p.ws.serverOpen();
  p.ws.serverSend({ type: "transcript", role: "user", mid: "u1", text: "Before", final: true, replay: true });
  p.ws.serverSend({ type: "command_result", cmd: "set-params", ok: true, replay: true, params: { voice: "calm" } });
  await opened;
  assert.deepEqual(p.shown.statuses, ["Resuming your session…", "Connecting to the sandbox avatar…", "Session resumed."]);
  assert.equal(p.el.app.dataset.phase, "session");
  assert.equal(p.el.voiceSelect.value, "calm");
  assert.equal(p.el.modeSelect.value, "1");
  assert.equal(p.el.transcript.children.length, 1);
  assert.equal(p.el.acks.children.length, 1);
  assert.equal(p.api.called("createSession").length, 0);
  assert.equal(p.el.startBtn.disabled, false);
});

test("a session that cannot be resumed is closed, and the page says why", async () => {
  const p = buildPage();
  p.api.addSession({ status: "starting", rtc: null });
  p.api.next.session = [() => ({ ...[...p.api.sessions.values()][0], status: "failed", close_reason: "upstream", error: null })];
  await p.open();
  await settle(p);
  assert.equal(p.error, "Could not resume your session: The avatar service ended the session.");
  assert.equal(p.el.app.dataset.phase, "setup");
  assert.equal(p.el.startBtn.disabled, false);
});

test("leaving the page tells the server with a beacon that carries the CSRF token", async () => {
  const p = buildPage();
  await startSession(p);
  fire(p.win, "pagehide");
  assert.equal(p.beacons.length, 1);
  assert.equal(p.beacons[0].url, `/api/v1/sessions/${p.live.id}/leave`);
  assert.equal(p.beacons[0].data.get("csrfmiddlewaretoken"), "csrf-1");
  p.el.endBtn.click();
  await settle(p);
  fire(p.win, "pagehide");
  assert.equal(p.beacons.length, 1);
});

test("back from the back/forward cache, the page reloads", async () => {
  const p = buildPage();
  await p.open();
  p.win.dispatchEvent(new FakeEvent("pageshow", { persisted: false }));
  assert.equal(p.reloads.length, 0);
  p.win.dispatchEvent(new FakeEvent("pageshow", { persisted: true }));
  assert.equal(p.reloads.length, 1);
});

test("the browser coming back online retries the socket at once", async () => {
  const p = buildPage();
  await startSession(p);
  p.ws.serverClose(1006);
  const before = p.ws;
  fire(p.win, "online");
  assert.notEqual(p.ws, before);
  assert.match(p.status, /can't be reached/);
});

test("a page that cannot open says so", async () => {
  const p = buildPage();
  p.sessions.boot = async () => {
    throw new Error("boom");
  };
  const errors = console.error;
  console.error = () => {};
  try {
    await p.open();
  } finally {
    console.error = errors;
  }
  assert.equal(p.error, "The page failed to start: boom. Reload the page.");
});
