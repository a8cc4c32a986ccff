import { test } from "node:test";
import assert from "node:assert/strict";

import { closeReasonPhrase, describeEnd, describeQuality, formatCountdown, formatDuration, initials } from "../../static/js/format.js";

test("describeEnd says why a session ended in words", () => {
  assert.equal(describeEnd({ status: "closed", close_reason: "user" }), "You ended the session.");
  assert.match(describeEnd({ status: "closed", close_reason: "expired" }), /time was up/);
  assert.match(describeEnd({ status: "closed", close_reason: "disconnect" }), /page went away/);
  assert.match(describeEnd({ status: "closed", close_reason: "admin" }), /staff/);
  assert.match(describeEnd({ status: "failed", close_reason: "error", error: "Upstream said no." }), /failed\. Upstream said no\./);
  assert.match(describeEnd({ status: "closed", close_reason: "some_new_reason" }), /some new reason/);
  assert.equal(describeEnd({ status: "failed" }), "The session failed.");
  assert.equal(describeEnd({}), "The session ended.");
});

test("closeReasonPhrase is short", () => {
  assert.equal(closeReasonPhrase("expired"), "time was up");
  assert.equal(closeReasonPhrase("x_y"), "x y");
  assert.equal(closeReasonPhrase(null), "");
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
