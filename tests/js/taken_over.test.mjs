// The server's own close codes that the page answers itself, without asking the API and
// without reconnecting: 4409 (another tab or window took the session over) and 4401
// (signed out, or the password changed elsewhere).
import { test } from "node:test";
import assert from "node:assert/strict";

import { SIGNED_OUT_TEXT, TAKEN_OVER_TEXT } from "../../static/js/live_session.js";
import { fire, FakeWebSocket } from "./fakes.mjs";
import { buildPage, settle, startSession } from "./page.mjs";

test("a page whose session another tab took over stops and says where it went", async () => {
  const p = buildPage();
  await startSession(p);
  const transport = p.transports.at(-1);
  const sockets = FakeWebSocket.instances.length;
  p.ws.serverSend({ type: "error", code: "taken_over", message: "This session went on in another tab or window." });
  p.ws.serverClose(4409);
  await settle(p);

  assert.equal(p.status, TAKEN_OVER_TEXT);
  assert.doesNotMatch(p.status, /socket|4409|code|start a new session/i);
  assert.equal(p.error, "");
  assert.equal(p.el.app.dataset.phase, "setup");
  assert.equal(transport.closed, true); // its media stopped
  // No reconnect (it would take the session back), no close, no goodbye beacon.
  await p.clock.advance(60000);
  assert.equal(FakeWebSocket.instances.length, sockets);
  fire(p.win, "pagehide");
  assert.deepEqual(p.beacons, []);
  assert.ok(!p.api.calls.some(([name]) => name === "closeSession" || name === "session"));
});

test("a page signed out elsewhere says so and offers to sign in again", async () => {
  const p = buildPage({ config: { loginUrl: "/accounts/login/" } });
  await startSession(p);
  const sockets = FakeWebSocket.instances.length;
  p.ws.serverSend({ type: "error", code: "access_revoked", message: "You were signed out. Sign in again to go on." });
  p.ws.serverClose(4401);
  await settle(p);

  assert.equal(p.error, `${SIGNED_OUT_TEXT} Sign in again`);
  const link = p.el.error.querySelector("a");
  assert.equal(link.href, "/accounts/login/?next=%2F");
  assert.equal(link.textContent, "Sign in again");
  assert.equal(p.transports.at(-1).closed, true);
  await p.clock.advance(60000);
  assert.equal(FakeWebSocket.instances.length, sockets);
});

test("a session the server says is not ours ends without a reconnect loop", async () => {
  const p = buildPage();
  await startSession(p);
  p.api.sessions.clear();
  const sockets = FakeWebSocket.instances.length;
  p.ws.serverClose(4404);
  await settle(p);
  await p.clock.advance(60000);
  assert.equal(FakeWebSocket.instances.length, sockets);
  assert.match(p.error, /no longer available/);
});

test("a page whose avatar channel another tab took (the sandbox's 4409) stops and says so", async () => {
  const p = buildPage();
  await startSession(p);
  const transport = p.transports.at(-1);
  const transports = p.transports.length;
  transport.setState("failed", { code: 4409 });
  await settle(p);

  assert.equal(p.status, TAKEN_OVER_TEXT);
  assert.equal(p.error, "");
  assert.equal(p.el.app.dataset.phase, "setup");
  // No media recovery (it would take the channel back, and the tabs would fight over it
  // until one gave up and ended the session), no close.
  await p.clock.advance(60000);
  assert.equal(p.transports.length, transports);
  assert.ok(!p.api.calls.some(([name]) => name === "closeSession"));
});

test("a session ended because its website's key was turned off offers no new one", async () => {
  const p = buildPage();
  await startSession(p);
  p.ws.serverSend({ type: "session", status: "closed", close_reason: "revoked" });
  await settle(p);

  assert.equal(p.el.app.dataset.phase, "setup");
  assert.equal(p.status, "This website's avatar was turned off, so the session ended.");
  assert.doesNotMatch(p.status + p.error, /start a new session/i);
});
