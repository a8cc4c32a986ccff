// A failed join offers another network (issue 18): "Try <Network>" and End, or, with the
// site's AKOOL_FALLBACK=auto, at once; "off", no other network, or a second failure end
// the session as before (closed as failed).

import { test } from "node:test";
import assert from "node:assert/strict";

import { PageTransport, buildPage, settle } from "./page.mjs";
import { fire } from "./fakes.mjs";

const unreachable = () => Object.assign(new Error("Could not reach the avatar over LiveKit."), { joinFailed: true });

// A session's transport fails to join when its rtc says so (the stand-in of a blocked network).
const join = PageTransport.prototype.connect;
PageTransport.prototype.connect = async function () {
  if (this.rtc.blocked) this.joinError = unreachable();
  return join.call(this);
};

/** A page whose next session streams on LiveKit (blocked) and may fall back to `to`. */
function pageWith({ fallback = "offer", to = ["agora"], secondBlocked = false } = {}) {
  const p = buildPage({ config: { fallback } });
  p.api.next.createSession = [
    (body) => ({
      ...p.api.addSession({
        preset: body.preset,
        network: "livekit",
        fallback_networks: to,
        rtc: { provider: "sandbox", channel: "c1", token: "t", network: "livekit", blocked: true },
      }),
    }),
  ];
  p.api.fallbackSession = async (id, network) => {
    p.api.calls.push(["fallbackSession", id, network]);
    const s = p.api.sessions.get(id);
    Object.assign(s, { network, fallback_networks: [], rtc: { provider: "sandbox", channel: "c2", token: "t2", network, blocked: secondBlocked } });
    return { ...s };
  };
  return p;
}

async function press(p) {
  await p.open();
  await settle(p);
  for (const r of p.el.presetList.querySelectorAll("input[name=preset]")) r.checked = r.value === "ada";
  fire(p.el.presetList.querySelector("input[value=ada]"), "change");
  const started = p.sessions.start();
  await settle(p);
  p.ws?.serverOpen();
  p.ws.serverSend({ type: "session", status: "active", expires_at: p.live?.session.expires_at ?? null });
  await settle(p);
  return { started }; // not awaited here: it waits for the user's choice
}

const button = (p, text) => p.el.error.querySelectorAll("button").find((b) => b.textContent === text);

test("a failed join offers the other network; Try joins it and the session goes on", async () => {
  const p = pageWith();
  const { started } = await press(p);
  assert.equal(p.notices.errorCode, "network_unreachable");
  assert.match(p.error, /^The avatar could not be reached over LiveKit\. You can try Agora instead\./);
  assert.ok(button(p, "End"));
  fire(button(p, "Try Agora"), "click");
  await started;
  await settle(p);
  assert.deepEqual(p.api.called("fallbackSession"), [["fallbackSession", p.live.id, "agora"]]);
  assert.equal(p.transports.length, 2);
  assert.equal(p.transports[0].closed, true);
  assert.equal(p.transports[1].rtc.network, "agora");
  assert.equal(p.el.app.dataset.media, "on");
  assert.equal(p.error, "");
  assert.deepEqual(p.api.called("closeSession"), []);
});

test("End in the offer ends the session as failed, with the reason", async () => {
  const p = pageWith();
  const { started } = await press(p);
  fire(button(p, "End"), "click");
  await started;
  await settle(p);
  assert.deepEqual(p.api.called("fallbackSession"), []);
  const [[, , failure]] = p.api.called("closeSession");
  assert.match(failure, /Could not reach the avatar over LiveKit/);
  assert.match(p.error, /Could not reach the avatar over LiveKit/);
  assert.equal(p.el.app.dataset.phase, "setup");
});

test("auto goes to the other network at once and says so; a second failure ends it", async () => {
  const p = pageWith({ fallback: "auto", secondBlocked: true });
  await (await press(p)).started;
  await settle(p);
  assert.ok(p.shown.statuses.includes("The avatar could not be reached; trying Agora instead…"));
  assert.equal(p.api.called("fallbackSession").length, 1);
  assert.equal(p.transports.length, 2);
  assert.equal(p.api.called("closeSession").length, 1);
  assert.equal(p.el.app.dataset.phase, "setup");
});

test("with fallback off, or no other network, a failed join ends the session as before", async () => {
  for (const options of [{ fallback: "off" }, { to: [] }]) {
    const p = pageWith(options);
    await (await press(p)).started;
    await settle(p);
    assert.equal(p.api.called("fallbackSession").length, 0);
    assert.equal(p.api.called("closeSession").length, 1);
    assert.match(p.error, /Could not reach the avatar over LiveKit/);
  }
});
