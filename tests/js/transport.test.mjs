import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";

import { AgoraTransport, SandboxTransport, createTransport } from "../../static/js/transport.js";
import { FakeWebSocket, flush, manualTimers } from "./fakes.mjs";

beforeEach(() => FakeWebSocket.reset());

const loc = { protocol: "http:", host: "127.0.0.1:8000" };

// ---------------------------------------------------------------------------------------
// Sandbox

function sandbox(extra = {}) {
  const timers = manualTimers();
  const t = new SandboxTransport({
    rtc: { provider: "sandbox", channel: "chan-1", token: "tok/+=" },
    location: loc,
    WebSocketImpl: FakeWebSocket,
    setTimeout: timers.setTimeout,
    clearTimeout: timers.clearTimeout,
    ...extra,
  });
  return { t, timers };
}

test("the sandbox transport connects to /ws/sandbox/<channel>/ with the encoded token", async () => {
  const { t } = sandbox();
  const states = [];
  t.on("state", (s) => states.push(s));
  const joined = t.connect();
  assert.equal(FakeWebSocket.last.url, "ws://127.0.0.1:8000/ws/sandbox/chan-1/?token=tok%2F%2B%3D");
  FakeWebSocket.last.serverOpen();
  await joined;
  assert.equal(t.state, "joined");
  assert.deepEqual(states, ["connecting", "joined"]);
});

test("each send is one text frame; each received frame is one message", async () => {
  const { t } = sandbox();
  const got = [];
  t.on("message", (m) => got.push(m));
  const joined = t.connect();
  FakeWebSocket.last.serverOpen();
  await joined;
  await t.send('{"v":2,"type":"chat"}');
  assert.deepEqual(FakeWebSocket.last.sent, ['{"v":2,"type":"chat"}']);
  FakeWebSocket.last.serverSend('{"v":2,"type":"event","pld":{"event":"audio_end"}}');
  FakeWebSocket.last.onmessage({ data: new TextEncoder().encode("bytes too").buffer });
  assert.deepEqual(got, ['{"v":2,"type":"event","pld":{"event":"audio_end"}}', "bytes too"]);
});

test("sending before the sandbox socket is open rejects", async () => {
  const { t } = sandbox();
  await assert.rejects(t.send("x"), /not open/);
  t.connect().catch(() => {});
  await assert.rejects(t.send("x"), /not open/);
});

test("a refused or unreachable sandbox rejects connect with a message for a person", async () => {
  const { t } = sandbox();
  const p = t.connect();
  FakeWebSocket.last.serverClose(4403);
  await assert.rejects(p, /refused/);
  assert.equal(t.state, "failed");

  FakeWebSocket.reset();
  const { t: t2, timers } = sandbox();
  const p2 = t2.connect();
  timers.runAll(); // the connect timeout fires
  await assert.rejects(p2, /did not answer/);
});

test("an unreachable sandbox blames the user's connection only when the browser is offline", async () => {
  const { t } = sandbox({ offline: () => false });
  const p = t.connect();
  FakeWebSocket.last.serverClose(1006);
  await assert.rejects(p, (err) => /can't be reached right now/.test(err.message) && !/connection/i.test(err.message));

  FakeWebSocket.reset();
  const { t: t2 } = sandbox({ offline: () => true });
  const p2 = t2.connect();
  FakeWebSocket.last.serverClose(1006);
  await assert.rejects(p2, /offline\. Check your connection/);
});

test("retryNow reconnects a dropped sandbox socket without waiting for the backoff", async () => {
  const { t, timers } = sandbox();
  const p = t.connect();
  FakeWebSocket.last.serverOpen();
  await p;
  assert.equal(t.retryNow(), false, "joined: nothing to retry");
  FakeWebSocket.last.serverClose(1012);
  assert.equal(t.state, "reconnecting");
  assert.equal(timers.pending.length, 1);
  assert.equal(t.retryNow(), true);
  assert.equal(FakeWebSocket.instances.length, 2);
  FakeWebSocket.last.serverClose(4403); // refused (after our restart): failed, for the page to rebuild
  await flush();
  assert.equal(t.state, "failed");
  assert.equal(t.retryNow(), false);
});

test("closing while connecting settles connect", async () => {
  const { t } = sandbox();
  const p = t.connect();
  await t.close();
  await assert.rejects(p, /closed/);
  assert.equal(t.state, "closed");
});

test("a dropped sandbox socket reconnects; a refused one fails", async () => {
  const { t, timers } = sandbox();
  const p = t.connect();
  FakeWebSocket.last.serverOpen();
  await p;
  FakeWebSocket.last.serverClose(1006);
  assert.equal(t.state, "reconnecting");
  timers.runAll();
  FakeWebSocket.last.serverOpen();
  await flush();
  assert.equal(t.state, "joined");
  assert.equal(FakeWebSocket.instances.length, 2);
  FakeWebSocket.last.serverClose(4401);
  assert.equal(t.state, "failed");
});

// ---------------------------------------------------------------------------------------
// Agora, against a fake SDK module

class FakeClient {
  constructor(log, { joinNeverSettles = false } = {}) {
    this.log = log;
    this.handlers = {};
    this.connectionState = "DISCONNECTED";
    this.remoteUsers = [];
    this.streamSent = [];
    this.joinNeverSettles = joinNeverSettles;
  }
  on(event, fn) {
    this.handlers[event] = fn;
  }
  removeAllListeners() {
    this.handlers = {};
  }
  fire(event, ...args) {
    return this.handlers[event]?.(...args);
  }
  join(appId, channel, token, uid) {
    this.log.push(["join", appId, channel, token, uid]);
    if (this.joinNeverSettles) return new Promise(() => {});
    this.connectionState = "CONNECTED";
    this.fire("connection-state-change", "CONNECTED", "CONNECTING");
    return Promise.resolve(uid);
  }
  leave() {
    this.log.push(["leave"]);
    this.connectionState = "DISCONNECTED";
    return Promise.resolve();
  }
  async subscribe(user, mediaType) {
    this.log.push(["subscribe", user.uid, mediaType]);
  }
  async unsubscribe(user, mediaType) {
    this.log.push(["unsubscribe", user.uid, mediaType]);
  }
  async sendStreamMessage(text, flag) {
    this.streamSent.push([text, flag]);
  }
  getRTCStats() {
    return { RTT: 42 };
  }
}

function fakeSdk(opts) {
  const log = [];
  const sdk = {
    log,
    client: null,
    setParameter: (k, v) => log.push(["setParameter", k, v]),
    setLogLevel: (n) => log.push(["setLogLevel", n]),
    createClient: (cfg) => {
      log.push(["createClient", cfg]);
      sdk.client = new FakeClient(log, opts);
      return sdk.client;
    },
  };
  return sdk;
}

function agora(sdk, extra = {}) {
  const imported = [];
  const t = new AgoraTransport({
    rtc: { provider: "agora", app_id: "app", channel: "ch", token: "tk", uid: 7 },
    sdkUrl: "/static/vendor/agora/AgoraRTC_N-production.esm.mjs",
    videoContainer: { id: "avatar-remote" },
    importModule: async (url) => {
      imported.push(url);
      return { default: sdk };
    },
    statsIntervalMs: 1e9,
    ...extra,
  });
  return { t, imported };
}

test("event reporting is switched off before the client is created", async () => {
  const sdk = fakeSdk();
  const { t, imported } = agora(sdk);
  await t.connect();
  assert.deepEqual(imported, ["/static/vendor/agora/AgoraRTC_N-production.esm.mjs"]);
  const names = sdk.log.map((e) => e[0]);
  assert.ok(names.indexOf("setParameter") < names.indexOf("createClient"));
  assert.deepEqual(sdk.log.find((e) => e[0] === "setParameter"), ["setParameter", "ENABLE_EVENT_REPORT", false]);
  assert.deepEqual(sdk.log.find((e) => e[0] === "createClient")[1], { mode: "rtc", codec: "vp8" });
  assert.deepEqual(sdk.log.find((e) => e[0] === "join"), ["join", "app", "ch", "tk", 7]);
  await t.close();
});

test("event reporting stays on when the operator asks for it", async () => {
  const sdk = fakeSdk();
  const { t } = agora(sdk, { eventReport: true });
  await t.connect();
  assert.equal(sdk.log.some((e) => e[0] === "setParameter"), false);
  await t.close();
});

test("a join that never settles times out with a clear error", async () => {
  const sdk = fakeSdk({ joinNeverSettles: true });
  const { t } = agora(sdk, { joinTimeoutMs: 30 });
  await assert.rejects(t.connect(), /Could not join the video channel within/);
  assert.equal(t.state, "failed");
  assert.ok(sdk.log.some((e) => e[0] === "leave"));
});

test("a failing SDK import is a clear error", async () => {
  const t = new AgoraTransport({
    rtc: { app_id: "a", channel: "c", token: "t", uid: 1 },
    sdkUrl: "/nope.mjs",
    importModule: async () => {
      throw new Error("404");
    },
  });
  await assert.rejects(t.connect(), /Could not load the video SDK/);
});

test("joined only once the avatar is in the channel; sends need CONNECTED", async () => {
  const sdk = fakeSdk();
  const { t } = agora(sdk);
  await t.connect();
  assert.equal(t.state, "waiting");
  const avatar = { uid: 99, videoTrack: { play: (el, o) => sdk.log.push(["play-video", el.id, o.fit]) }, audioTrack: { play: () => sdk.log.push(["play-audio"]) } };
  sdk.client.remoteUsers.push(avatar);
  sdk.client.fire("user-joined", avatar);
  assert.equal(t.state, "joined");

  await t.send("frame-1");
  assert.deepEqual(sdk.client.streamSent, [["frame-1", false]]);

  sdk.client.connectionState = "RECONNECTING";
  sdk.client.fire("connection-state-change", "RECONNECTING", "CONNECTED", "NETWORK_ERROR");
  assert.equal(t.state, "reconnecting");
  await assert.rejects(t.send("frame-2"), /not connected/);
  await t.close();
});

test("the avatar's media is subscribed and played, and published is announced", async () => {
  const sdk = fakeSdk();
  const { t } = agora(sdk);
  const published = [];
  t.on("avatar-published", (e) => published.push(e.mediaType));
  await t.connect();
  const avatar = { uid: 99, videoTrack: { play: (el, o) => sdk.log.push(["play-video", el.id, o.fit]) }, audioTrack: { play: () => sdk.log.push(["play-audio"]) } };
  sdk.client.remoteUsers.push(avatar);
  await sdk.client.fire("user-published", avatar, "video");
  await sdk.client.fire("user-published", avatar, "audio");
  assert.deepEqual(published, ["video", "audio"]);
  assert.ok(sdk.log.some((e) => e[0] === "play-video" && e[1] === "avatar-remote" && e[2] === "contain"));
  assert.ok(sdk.log.some((e) => e[0] === "play-audio"));
  sdk.client.fire("user-unpublished", avatar, "video");
  await flush();
  assert.ok(sdk.log.some((e) => e[0] === "unsubscribe" && e[2] === "video"));
  await t.close();
});

test("stream-message payloads (Uint8Array) are decoded to text", async () => {
  const sdk = fakeSdk();
  const { t } = agora(sdk);
  const got = [];
  t.on("message", (m) => got.push(m));
  await t.connect();
  const text = '{"v":2,"type":"chat","mid":"m","pld":{"from":"bot","text":"Grüß dich"}}';
  sdk.client.fire("stream-message", 99, new TextEncoder().encode(text));
  assert.deepEqual(got, [text]);
  await t.close();
});

test("network quality is reported", async () => {
  const sdk = fakeSdk();
  const { t } = agora(sdk);
  const got = [];
  t.on("quality", (q) => got.push(q));
  await t.connect();
  sdk.client.fire("network-quality", { uplinkNetworkQuality: 1, downlinkNetworkQuality: 3 });
  assert.deepEqual(got, [{ uplink: 1, downlink: 3, rtt: null }]);
  await t.close();
});

test("the SDK giving up after a join is a failure the page can act on", async () => {
  const sdk = fakeSdk();
  const { t } = agora(sdk);
  await t.connect();
  sdk.client.fire("connection-state-change", "RECONNECTING", "CONNECTED");
  sdk.client.fire("connection-state-change", "DISCONNECTED", "RECONNECTING", "UID_BANNED");
  assert.equal(t.state, "failed");
  await t.close();
});

test("createTransport never touches Agora for the sandbox", () => {
  let imported = false;
  const t = createTransport(
    { provider: "sandbox", channel: "c", token: "t" },
    { sdkUrl: "/x.mjs", importModule: () => (imported = true), location: loc, WebSocketImpl: FakeWebSocket },
  );
  assert.ok(t instanceof SandboxTransport);
  assert.equal(imported, false);
  assert.ok(createTransport({ provider: "agora", app_id: "a" }, { sdkUrl: "/x.mjs" }) instanceof AgoraTransport);
  assert.throws(() => createTransport({ provider: "other" }), /Unknown media provider/);
  assert.throws(() => createTransport(null), /no media credentials/);
});
