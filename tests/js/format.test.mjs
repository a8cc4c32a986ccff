import { test } from "node:test";
import assert from "node:assert/strict";

import { existsSync, readFileSync } from "node:fs";

import {
  CLOSE_REASONS,
  CLOSE_REASON_LABELS,
  closeReasonPhrase,
  describeEnd,
  describeQuality,
  describeServerError,
  endedInFailure,
  explainFailure,
  formatCountdown,
  formatDuration,
  initials,
  signedOutText,
  useEmbedWords,
} from "../../static/js/format.js";

const REASONS = ["user", "page_closed", "abandoned", "expired", "admin", "error", "upstream", "crashed", "extended", "revoked"];

test("describeEnd says why a session ended in words, for every close reason", () => {
  const said = (reason, extra = {}) => describeEnd({ status: "closed", close_reason: reason, ...extra });
  assert.equal(said("user"), "You ended the session.");
  assert.equal(said("page_closed"), "The session ended because its page was closed.");
  assert.equal(said("abandoned"), "The session ended because no page was connected to it for a while.");
  assert.equal(said("expired"), "The session's time was up.");
  assert.equal(said("admin"), "A staff member ended the session.");
  assert.equal(said("error"), "The session failed.");
  assert.equal(said("upstream"), "The avatar service ended the session.");
  assert.equal(said("crashed"), "Our server restarted and your session could not be kept.");
  assert.equal(said("extended"), "The session went on in a follow-on session.");
  // Every reason has its own sentence, and each is a whole sentence.
  for (const reason of REASONS) assert.match(said(reason), /^[A-Z].*\.$/, reason);
  assert.equal(new Set(REASONS.map((r) => said(r))).size, REASONS.length);
  assert.deepEqual(Object.keys(CLOSE_REASONS).sort(), [...REASONS].sort());
});

test("describeEnd tells the truth: only crashed talks about our server, page_closed is not 'you'", () => {
  for (const reason of REASONS) {
    const text = describeEnd({ close_reason: reason });
    assert.equal(/server|restart/i.test(text), reason === "crashed", `${reason}: ${text}`);
    if (reason !== "user") assert.doesNotMatch(text, /\byou ended\b/i, reason);
  }
  // The retired reasons are not known any more: shown in plain words, never as a restart.
  assert.equal(describeEnd({ close_reason: "reaper" }), "The session ended: reaper.");
  assert.equal(describeEnd({ close_reason: "disconnect" }), "The session ended: disconnect.");
});

test("describeEnd adds the error text of a failure, and words unknown reasons", () => {
  assert.match(describeEnd({ status: "failed", close_reason: "error", error: "Upstream said no." }), /failed\. Upstream said no\./);
  assert.equal(describeEnd({ status: "closed", close_reason: "error", error: "Media lost" }), "The session failed. Media lost.");
  assert.equal(describeEnd({ status: "closed", close_reason: "expired", error: "ignored" }), "The session's time was up.");
  assert.match(describeEnd({ status: "closed", close_reason: "some_new_reason" }), /some new reason/);
  assert.equal(describeEnd({ close_reason: "toString" }), "The session ended: toString.");
  assert.equal(describeEnd({ status: "failed" }), "The session failed.");
  assert.equal(describeEnd({}), "The session ended.");
});

test("endedInFailure: an error or our crash is a failure; the user, the clock or staff are not", () => {
  assert.equal(endedInFailure({ status: "failed" }), true);
  assert.equal(endedInFailure({ status: "closed", close_reason: "error" }), true);
  assert.equal(endedInFailure({ status: "closed", close_reason: "crashed" }), true);
  for (const reason of ["user", "page_closed", "abandoned", "expired", "admin", "upstream", null]) {
    assert.equal(endedInFailure({ status: "closed", close_reason: reason }), false, reason);
  }
});

test("closeReasonPhrase is the server's own label for each reason", () => {
  assert.equal(closeReasonPhrase("expired"), "its time was up");
  assert.equal(closeReasonPhrase("page_closed"), "the page was closed");
  assert.equal(closeReasonPhrase("abandoned"), "no page was connected");
  assert.equal(closeReasonPhrase("crashed"), "our server stopped");
  assert.equal(closeReasonPhrase("x_y"), "x y");
  assert.equal(closeReasonPhrase(null), "");
  for (const reason of REASONS) assert.ok(closeReasonPhrase(reason), reason);
});

test("the page's close-reason labels are the server's, word for word (sessions/states.py)", (t) => {
  const path = new URL("../../sessions/states.py", import.meta.url);
  if (!existsSync(path)) assert.fail("sessions/states.py not found");
  const source = readFileSync(path, "utf8");
  const body = source.match(/class CloseReason\([^)]*\):([\s\S]*?)(?:\n(?:class |\S)|$)/)?.[1];
  if (!body) assert.fail("CloseReason not found in sessions/states.py");
  const server = Object.fromEntries([...body.matchAll(/^\s+\w+ = "([a-z_]+)", "([^"]+)"/gm)].map((m) => [m[1], m[2]]));
  assert.deepEqual(server, { ...CLOSE_REASON_LABELS });
});

test("describeServerError says plainly that a chat after the time was not sent", () => {
  assert.equal(
    describeServerError({ code: "session_expired", message: "session expired" }),
    "The session's time is up, so that message was not sent.",
  );
  assert.equal(describeServerError({ code: "rate_limited", message: "Slow down." }), "Slow down.");
  assert.equal(describeServerError({}), "Something went wrong.");
});

test("formatCountdown shows m:ss or h:mm:ss and never goes negative", () => {
  assert.equal(formatCountdown(599000), "9:59");
  assert.equal(formatCountdown(3600000), "1:00:00");
  assert.equal(formatCountdown(1), "0:01");
  assert.equal(formatCountdown(-5000), "0:00");
});

test("formatDuration", () => {
  assert.equal(formatDuration(45), "45 s");
  assert.equal(formatDuration(245), "4 min 05 s");
});

test("describeQuality takes the worse link", () => {
  assert.deepEqual(describeQuality({ uplink: 1, downlink: 4, rtt: 80 }), { level: 4, label: "Network: poor (80 ms)" });
  assert.equal(describeQuality({}).label, "Network: unknown");
});

test("initials", () => {
  assert.equal(initials("Ada Lovelace"), "AL");
  assert.equal(initials("tristan"), "TR");
  assert.equal(initials(""), "?");
  assert.equal(initials("Émile  van  Zola"), "ÉZ");
});

test("a failure says what failed, and what to do from its status", () => {
  const api = (status, message, extra = {}) => Object.assign(new Error(message), { name: "ApiError", status, code: "x", ...extra });
  const act = "Could not start the session";
  // The server's refusal says when itself (limits.hit_window): said once, not twice.
  const limited = api(429, "Too many requests (limit 30). Try again in 12 s.", { retryAfter: 12 });
  assert.equal(explainFailure(limited, act), `${act}: Too many requests (limit 30). Try again in 12 s.`);
  assert.equal(explainFailure(api(429, "Too many requests."), act), `${act}: Too many requests. Try again a little later.`);
  assert.match(explainFailure(api(422, "Unknown voice"), act), /Unknown voice\. Check the settings and try again\.$/);
  assert.match(explainFailure(api(503, "Busy."), act), /Busy\. Try again in a minute; if it keeps failing, tell the site's operator\.$/);
  assert.match(explainFailure(api(403, "Forbidden"), act), /Reload the page and sign in again\.$/);
  // Signed out (in another tab): a person's words, not the API's advice about tokens.
  const signedOut = api(401, "Sign in, or send an API token as 'Authorization: Bearer <token>'.");
  assert.equal(explainFailure(signedOut, act), `${act}: you are no longer signed in. Sign in again to go on.`);
  // Waiting frees no slot of one's own: no "try again in 30 s" beside "end one first".
  const full = api(429, "You already have 2 live sessions; end one before starting another.", {
    code: "concurrent_sessions_limit",
    retryAfter: 30,
  });
  assert.equal(explainFailure(full, act), `${act}: You already have 2 live sessions; end one before starting another.`);
  // A network failure or a timeout already says what to do; other errors are passed on.
  const offline = api(0, "The server can't be reached right now. Try again in a moment.", { code: "network" });
  assert.equal(explainFailure(offline, act), `${act}: The server can't be reached right now. Try again in a moment.`);
  assert.equal(explainFailure(new Error("boom"), act), `${act}: boom`);
  assert.equal(explainFailure("plain", act), `${act}: plain`);
});

test("an embed's visitor is told to reload the page, never to sign in (an embed has no sign-in)", () => {
  const api = (status, message) => Object.assign(new Error(message), { name: "ApiError", status, code: "x" });
  const act = "Could not start the session";
  useEmbedWords();
  try {
    for (const said of [
      explainFailure(api(401, "Sign in, or send an API token."), act),
      explainFailure(api(403, "Forbidden"), act),
      signedOutText(),
    ]) {
      assert.match(said, /Reload the page to go on\.$/);
      assert.doesNotMatch(said, /sign/i);
    }
  } finally {
    useEmbedWords(false);
  }
  assert.match(signedOutText(), /no longer signed in/);
});
