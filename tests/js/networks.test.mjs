// LiveKitTransport and TrtcTransport against stand-ins of their SDKs (issue 18). The
// stand-ins' shape is checked against the installed packages: every event, method and
// constant the transports use must exist in livekit-client (imported here) and in
// trtc-sdk-v5 (its UMD build needs a browser, so its type definitions are read).

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import * as LiveKit from "livekit-client";

import { Emitter } from "../../static/js/emitter.js";
import { LiveKitTransport, SandboxTransport, TrtcTransport, createTransport } from "../../static/js/transport.js";
import { CLOSE_NETWORK_UNREACHABLE } from "../../static/js/transport_sandbox.js";
import { TRTC_CMD_ID, roomFields } from "../../static/js/transport_trtc.js";
import { FakeWebSocket, flush } from "./fakes.mjs";

const source = (name) => readFileSync(new URL(`../../static/js/${name}`, import.meta.url), "utf8");
const TRTC_TYPES = readFileSync(new URL("../../node_modules/trtc-sdk-v5/index.d.ts", import.meta.url), "utf8");
/** What a transport's source calls by `pattern` (never none: a test that finds nothing checks nothing). */
function uses(text, pattern) {
  const found = new Set([...text.matchAll(pattern)].map((m) => m[1]));
  assert.ok(found.size > 0, `nothing matches ${pattern}`);
  return found;
}

/** TRTC's events as its type definitions declare them: NAME -> "value". */
const TRTC_EVENT = Object.fromEntries(
  [...TRTC_TYPES.slice(TRTC_TYPES.indexOf("declare const TRTCEvent")).matchAll(/readonly ([A-Z_]+): '([a-z-]+)';/g)].map((m) => [m[1], m[2]]),
);

/** A timer the test fires. */
function timers() {
  const pending = new Map();
  let n = 0;
  return {
    setTimeout: (fn, ms) => pending.set(++n, { fn, ms }) && n,
    clearTimeout: (id) => pending.delete(id),
    setInterval: () => 0,
    clearInterval: () => {},
    fire() {
      const due = [...pending.values()];
      pending.clear();
      for (const t of due) t.fn();
    },
  };
}

function deferred() {
  let resolve, reject;
  const promise = new Promise((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

const element = () => ({ style: {}, hidden: false, classList: { add() {} }, remove() {} });
const container = () => ({ children: [], replaceChildren(...c) { this.children = c; }, append(...c) { this.children.push(...c); } });

// ---------------------------------------------------------------------------------------
// LiveKit

class FakeRoom extends Emitter {
  static last = null;
  constructor(options) {
    super();
    FakeRoom.last = this;
    this.options = options;
    this.joining = deferred();
    this.state = "disconnected";
    this.canPlaybackAudio = true;
    this.remoteParticipants = new Map();
    this.published = [];
    this.disconnected = 0;
    this.localParticipant = {
      publishData: async (data, opts) => this.published.push({ text: new TextDecoder().decode(data), opts }),
      publishTrack: async (t) => this.published.push({ track: t }),
      unpublishTrack: async (t) => this.published.push({ untrack: t }),
    };
  }
  connect(url, token) {
    this.joined = { url, token };
    return this.joining.promise.then(() => {
      this.state = "connected";
    });
  }
  disconnect() {
    this.disconnected += 1;
    this.state = "disconnected";
  }
  startAudio() {
    this.audioStarted = true;
  }
  removeAllListeners() {
    this.handlers = new Map();
  }
}

const LK_RTC = { provider: "livekit", url: "wss://x.livekit.cloud", token: "tok", room: "r1", identity: "me", avatar_identity: "avatar" };

function livekit(options = {}) {
  const sdk = { Room: FakeRoom, RoomEvent: LiveKit.RoomEvent, setLogLevel: () => {} };
  const box = container();
  const t = new LiveKitTransport({ rtc: LK_RTC, sdkUrl: "/lk.mjs", videoContainer: box, importModule: async () => sdk, ...timers(), ...options });
  const states = [];
  t.on("state", (s, info) => states.push([s, info]));
  return { t, states, box, sdk };
}

test("LiveKit: the stand-in and every event, method and constant the transport uses exist in livekit-client", () => {
  const code = source("transport_livekit.js");
  for (const name of uses(code, /E\.(\w+)/g)) assert.ok(name in LiveKit.RoomEvent, `RoomEvent.${name}`);
  for (const name of uses(code, /this\.sdk\.(\w+)/g)) assert.ok(LiveKit[name], name);
  for (const name of ["createLocalAudioTrack", "createLocalVideoTrack"]) assert.equal(typeof LiveKit[name], "function", name);
  for (const name of ["Room", "RoomEvent", "setLogLevel"]) assert.ok(name in LiveKit, name);
  const room = new LiveKit.Room();
  for (const name of uses(code, /room\.(\w+)/g)) assert.ok(name in room, `room.${name}`);
  for (const name of uses(code, /localParticipant\.(\w+)/g)) assert.equal(typeof room.localParticipant[name], "function", name);
  // A track's fields are set in its constructor (which needs a browser): read them from its types.
  const trackTypes = readFileSync(new URL("../../node_modules/livekit-client/dist/src/room/track/Track.d.ts", import.meta.url), "utf8");
  for (const name of uses(code, /track\.(\w+)/g)) {
    assert.ok(name in LiveKit.LocalAudioTrack.prototype || new RegExp(`readonly ${name}: `).test(trackTypes), `track.${name}`);
  }
  // The stand-in has no method the real room lacks, and speaks the same words.
  for (const name of Object.getOwnPropertyNames(FakeRoom.prototype)) assert.ok(name in room, `FakeRoom.${name}`);
  assert.equal(LiveKit.ConnectionState.Connected, "connected");
  assert.deepEqual(Object.values(LiveKit.ConnectionQuality).sort(), ["excellent", "good", "lost", "poor", "unknown"]);
  assert.equal(LiveKit.Track.Kind.Video, "video");
  room.disconnect();
});

test("LiveKit: joins, waits for the avatar, sends one reliable packet per message and hears the avatar", async () => {
  const { t, states, box } = livekit();
  const joining = t.connect();
  await flush();
  const room = FakeRoom.last;
  assert.deepEqual(room.joined, { url: LK_RTC.url, token: "tok" });
  await assert.rejects(t.send("early"), /not connected/);
  room.joining.resolve();
  await joining;
  assert.equal(t.state, "waiting");
  room.remoteParticipants.set("avatar", { identity: "avatar" });
  room.emit(LiveKit.RoomEvent.ParticipantConnected, { identity: "avatar" });
  assert.equal(t.state, "joined");

  await t.send('{"v":2}');
  assert.deepEqual(room.published, [{ text: '{"v":2}', opts: { reliable: true } }]);
  const heard = [];
  t.on("message", (m) => heard.push(m));
  room.emit(LiveKit.RoomEvent.DataReceived, new TextEncoder().encode("hi"), { identity: "avatar" });
  room.emit(LiveKit.RoomEvent.DataReceived, new TextEncoder().encode("not the avatar"), { identity: "someone" });
  assert.deepEqual(heard, ["hi"]);

  const published = [];
  t.on("avatar-published", (e) => published.push(e));
  t.on("avatar-unpublished", (e) => published.push({ gone: e.mediaType }));
  const video = { kind: "video", attach: () => element(), detach: () => [] };
  room.emit(LiveKit.RoomEvent.TrackSubscribed, video, {}, { identity: "avatar" });
  assert.equal(box.children.length, 1);
  room.emit(LiveKit.RoomEvent.TrackUnsubscribed, video, {}, { identity: "avatar" });
  assert.deepEqual(published, [{ mediaType: "video" }, { gone: "video" }]);
  assert.deepEqual(states.map((s) => s[0]), ["connecting", "waiting", "joined"]);
});

test("LiveKit: reconnects, quality and blocked audio map to the page's events; a lost room fails", async () => {
  const { t, states } = livekit();
  const joining = t.connect();
  await flush();
  const room = FakeRoom.last;
  room.joining.resolve();
  await joining;
  const quality = [];
  let blocked = 0;
  t.on("quality", (q) => quality.push(q));
  t.on("autoplay-blocked", () => (blocked += 1));
  room.emit(LiveKit.RoomEvent.ConnectionQualityChanged, "poor", room.localParticipant);
  room.emit(LiveKit.RoomEvent.ConnectionQualityChanged, "excellent", { identity: "avatar" });
  assert.deepEqual(quality, [{ uplink: 4, downlink: 4, rtt: null }]);
  room.canPlaybackAudio = false;
  room.emit(LiveKit.RoomEvent.AudioPlaybackStatusChanged);
  assert.equal(blocked, 1);
  t.resumeAudio();
  assert.equal(room.audioStarted, true);
  room.emit(LiveKit.RoomEvent.Reconnecting);
  room.emit(LiveKit.RoomEvent.Reconnected);
  room.emit(LiveKit.RoomEvent.Disconnected, "SIGNAL_CLOSE");
  assert.deepEqual(states.map((s) => s[0]), ["connecting", "waiting", "reconnecting", "waiting", "failed"]);
  assert.equal(states.at(-1)[1].reason, "SIGNAL_CLOSE");
});

test("LiveKit: a refused or silent join fails as a join failure and lets the room go; close disconnects", async () => {
  const refused = livekit();
  const a = refused.t.connect();
  await flush();
  FakeRoom.last.joining.reject(new Error("could not establish signal connection"));
  await assert.rejects(a, (err) => err.joinFailed && /^Could not join the video channel\. Check your network/.test(err.message) && /could not establish signal/.test(err.detail));
  assert.equal(FakeRoom.last.disconnected, 1);
  assert.equal(refused.t.state, "failed");

  const clock = timers();
  const silent = livekit({ ...clock, joinTimeoutMs: 5000 });
  const b = silent.t.connect();
  await flush();
  clock.fire();
  await assert.rejects(b, (err) => err.joinFailed && /within 5 s/.test(err.message));

  const missing = livekit({ importModule: async () => Promise.reject(new Error("404")) });
  await assert.rejects(missing.t.connect(), (err) => !err.joinFailed && /Could not load the video SDK/.test(err.message));

  const ok = livekit();
  const c = ok.t.connect();
  await flush();
  FakeRoom.last.joining.resolve();
  await c;
  await ok.t.close();
  assert.equal(ok.t.state, "closed");
  assert.equal(FakeRoom.last.disconnected, 1);
});

test("LiveKit: the microphone and the camera are published to the room and let go", async () => {
  const made = [];
  const sdkTrack = (kind) => {
    const track = { kind, muted: false, mediaStreamTrack: { kind }, attach: () => element(), detach: () => [], mute() { this.muted = true; }, unmute() { this.muted = false; }, stop() { this.stopped = true; } };
    made.push(track);
    return track;
  };
  const { t, sdk } = livekit();
  sdk.createLocalAudioTrack = async () => sdkTrack("audio");
  sdk.createLocalVideoTrack = async () => sdkTrack("video");
  const joining = t.connect();
  await flush();
  FakeRoom.last.joining.resolve();
  await joining;
  assert.ok(t.canPublish);
  const mic = await t.createMicrophoneTrack();
  await t.publish(mic);
  assert.equal(mic.getMediaStreamTrack().kind, "audio");
  await mic.setMuted(true);
  assert.equal(made[0].muted, true);
  const camera = await t.createCameraTrack();
  await t.publish(camera);
  const box = container();
  camera.play(box, { mirror: true });
  assert.equal(box.children.length, 1);
  await t.unpublish(camera);
  camera.close();
  assert.equal(made[1].stopped, true);
  assert.deepEqual(FakeRoom.last.published.map((p) => Object.keys(p)[0]), ["track", "track", "untrack"]);
});

// ---------------------------------------------------------------------------------------
// TRTC

class FakeTrtc extends Emitter {
  static last = null;
  constructor() {
    super();
    FakeTrtc.last = this;
    this.entering = deferred();
    this.custom = [];
    this.calls = [];
  }
  enterRoom(params) {
    this.params = params;
    return this.entering.promise;
  }
  exitRoom() {
    this.calls.push("exitRoom");
    return Promise.resolve();
  }
  destroy() {
    this.calls.push("destroy");
  }
  off(name) {
    this.calls.push(`off ${name}`);
  }
  sendCustomMessage(message) {
    this.custom.push({ cmdId: message.cmdId, text: new TextDecoder().decode(message.data) });
  }
  startRemoteVideo(config) {
    this.calls.push(["startRemoteVideo", config.userId]);
    return Promise.resolve();
  }
  startLocalAudio() {
    this.calls.push("startLocalAudio");
    return Promise.resolve();
  }
  stopLocalAudio() {
    this.calls.push("stopLocalAudio");
    return Promise.resolve();
  }
  updateLocalAudio(config) {
    this.calls.push(["updateLocalAudio", config.mute]);
    return Promise.resolve();
  }
  startLocalVideo() {
    this.calls.push("startLocalVideo");
    return Promise.resolve();
  }
  updateLocalVideo(config) {
    this.calls.push(["updateLocalVideo", config.option.mirror]);
    return Promise.resolve();
  }
  stopLocalVideo() {
    this.calls.push("stopLocalVideo");
    return Promise.resolve();
  }
  getAudioTrack() {
    return { kind: "audio" };
  }
  getVideoTrack() {
    return { kind: "video" };
  }
}

const FakeTRTC = { create: () => new FakeTrtc(), EVENT: TRTC_EVENT, setLogLevel: (...args) => (FakeTRTC.logLevel = args) };
const TRTC_RTC = { provider: "trtc", app_id: "1400000001", room: "12345", user_id: "user-1", user_sig: "sig" };

function trtc(options = {}) {
  const t = new TrtcTransport({ rtc: TRTC_RTC, sdkUrl: "/trtc.js", videoContainer: container(), loadSdk: async () => FakeTRTC, ...timers(), ...options });
  const states = [];
  t.on("state", (s, info) => states.push([s, info]));
  return { t, states };
}

test("TRTC: the stand-in and every event, method and static the transport uses exist in trtc-sdk-v5's definitions", () => {
  const code = source("transport_trtc.js");
  const classBody = TRTC_TYPES.slice(TRTC_TYPES.indexOf("export declare class TRTC"));
  const declared = (name) => new RegExp(`\\n\\s+(static )?${name}[<(]`).test(classBody);
  for (const name of uses(code, /E\.([A-Z_]+)/g)) assert.ok(name in TRTC_EVENT, `TRTC.EVENT.${name}`);
  for (const name of uses(code, /trtc\.(\w+)\(/g)) assert.ok(declared(name), `trtc.${name}()`);
  for (const name of uses(code, /TRTC\.(\w+)\?*\.?\(/g)) assert.ok(declared(name), `TRTC.${name}()`);
  for (const name of Object.getOwnPropertyNames(FakeTrtc.prototype).filter((n) => n !== "constructor")) {
    assert.ok(declared(name) || name in Emitter.prototype, `FakeTrtc.${name}`);
  }
  for (const state of ["CONNECTED", "RECONNECTED", "RECONNECTING", "CONNECTING", "DISCONNECTED"]) assert.match(TRTC_TYPES, new RegExp(`${state} = '${state}'`));
  for (const field of ["sdkAppId", "userId", "userSig", "roomId", "strRoomId", "enableAutoPlayDialog"]) assert.match(TRTC_TYPES, new RegExp(`\\n\\s+${field}\\??: `));
  assert.equal(TRTC_EVENT.CUSTOM_MESSAGE, "custom-message");
});

test("TRTC: enters the room, waits for the avatar, sends custom messages (cmdId 1) and hears the avatar", async () => {
  const { t, states } = trtc();
  const joining = t.connect();
  await flush();
  const room = FakeTrtc.last;
  assert.deepEqual(room.params, { sdkAppId: 1400000001, userId: "user-1", userSig: "sig", roomId: 12345, enableAutoPlayDialog: false });
  assert.deepEqual(FakeTRTC.logLevel, [4, false]); // errors only, no log upload
  room.entering.resolve();
  await joining;
  assert.equal(t.state, "waiting");
  room.emit(TRTC_EVENT.REMOTE_USER_ENTER, { userId: "avatar" });
  assert.equal(t.state, "joined");
  await t.send("frame");
  assert.deepEqual(room.custom, [{ cmdId: TRTC_CMD_ID, text: "frame" }]);
  const heard = [];
  t.on("message", (m) => heard.push(m));
  room.emit(TRTC_EVENT.CUSTOM_MESSAGE, { userId: "avatar", cmdId: 1, data: new TextEncoder().encode("hi").buffer });
  room.emit(TRTC_EVENT.CUSTOM_MESSAGE, { userId: "avatar", cmdId: 2, data: new TextEncoder().encode("other").buffer });
  assert.deepEqual(heard, ["hi"]);
  const published = [];
  t.on("avatar-published", (e) => published.push(e.mediaType));
  room.emit(TRTC_EVENT.REMOTE_VIDEO_AVAILABLE, { userId: "avatar", streamType: "main" });
  room.emit(TRTC_EVENT.REMOTE_AUDIO_AVAILABLE, { userId: "avatar" });
  await flush();
  assert.deepEqual(published.sort(), ["audio", "video"]);
  room.emit(TRTC_EVENT.REMOTE_USER_EXIT, { userId: "avatar" });
  assert.deepEqual(states.map((s) => s[0]), ["connecting", "waiting", "joined", "waiting"]);
  assert.deepEqual(roomFields("room-abc"), { strRoomId: "room-abc" });
});

test("TRTC: reconnects, quality, blocked audio and a kick map to the page's events", async () => {
  const { t, states } = trtc();
  const joining = t.connect();
  await flush();
  const room = FakeTrtc.last;
  room.entering.resolve();
  await joining;
  const quality = [];
  let blocked = 0;
  let resumed = 0;
  t.on("quality", (q) => quality.push(q));
  t.on("autoplay-blocked", () => (blocked += 1));
  room.emit(TRTC_EVENT.NETWORK_QUALITY, { uplinkNetworkQuality: 2, downlinkNetworkQuality: 3, uplinkRTT: 80 });
  assert.deepEqual(quality, [{ uplink: 2, downlink: 3, rtt: 80 }]);
  room.emit(TRTC_EVENT.AUTOPLAY_FAILED, { userId: "avatar", resume: () => (resumed += 1) });
  t.resumeAudio();
  assert.deepEqual([blocked, resumed], [1, 1]);
  room.emit(TRTC_EVENT.CONNECTION_STATE_CHANGED, { prevState: "CONNECTED", state: "RECONNECTING" });
  room.emit(TRTC_EVENT.CONNECTION_STATE_CHANGED, { prevState: "RECONNECTING", state: "RECONNECTED" });
  room.emit(TRTC_EVENT.KICKED_OUT, { reason: "kick" });
  assert.deepEqual(states.map((s) => s[0]), ["connecting", "waiting", "reconnecting", "waiting", "failed"]);
  assert.equal(states.at(-1)[1].reason, "kick");
});

test("TRTC: a refused or silent entry is a join failure; close exits and destroys", async () => {
  const refused = trtc();
  const a = refused.t.connect();
  await flush();
  FakeTrtc.last.entering.reject(new Error("userSig invalid"));
  await assert.rejects(a, (err) => err.joinFailed && /userSig invalid/.test(err.detail) && !/userSig/.test(err.message));
  await flush();
  assert.deepEqual(FakeTrtc.last.calls.filter((c) => typeof c === "string"), ["off *", "exitRoom", "destroy"]);

  const clock = timers();
  const silent = trtc({ ...clock, joinTimeoutMs: 4000 });
  const b = silent.t.connect();
  await flush();
  clock.fire();
  await assert.rejects(b, (err) => err.joinFailed && /within 4 s/.test(err.message));

  const missing = trtc({ loadSdk: () => Promise.reject(new Error("404")) });
  await assert.rejects(missing.t.connect(), (err) => !err.joinFailed && /Could not load the video SDK/.test(err.message));

  const ok = trtc();
  const c = ok.t.connect();
  await flush();
  FakeTrtc.last.entering.resolve();
  await c;
  await ok.t.close();
  assert.equal(ok.t.state, "closed");
  assert.ok(FakeTrtc.last.calls.includes("destroy"));
  await assert.rejects(ok.t.send("late"), /not connected/);
});

test("TRTC: the microphone and the camera start, mute and stop through the room", async () => {
  const { t } = trtc();
  const joining = t.connect();
  await flush();
  const room = FakeTrtc.last;
  room.entering.resolve();
  await joining;
  const mic = await t.createMicrophoneTrack();
  await t.publish(mic);
  assert.equal(mic.getMediaStreamTrack().kind, "audio");
  await mic.setMuted(true);
  const camera = await t.createCameraTrack();
  await t.publish(camera);
  camera.play(container(), { mirror: true });
  await t.unpublish(camera);
  camera.close(); // once: stopping twice would stop it twice
  await t.unpublish(mic);
  assert.deepEqual(room.calls, ["startLocalAudio", ["updateLocalAudio", true], "startLocalVideo", ["updateLocalVideo", true], "stopLocalVideo", "stopLocalAudio"]);
});

// ---------------------------------------------------------------------------------------

test("createTransport picks each network's transport and SDK by rtc.provider, importing nothing yet", () => {
  let imported = 0;
  const sdkUrls = { agora: "/a.mjs", livekit: "/lk.mjs", trtc: "/trtc.js" };
  const lk = createTransport(LK_RTC, { sdkUrls, importModule: () => (imported += 1) });
  assert.ok(lk instanceof LiveKitTransport);
  assert.equal(lk.sdkUrl, "/lk.mjs");
  const tr = createTransport(TRTC_RTC, { sdkUrls });
  assert.ok(tr instanceof TrtcTransport);
  assert.equal(tr.sdkUrl, "/trtc.js");
  assert.equal(tr.uploadLogs, false);
  assert.equal(imported, 0);
});

test("the sandbox avatar's socket closing with 4503 just after it opens is a join failure naming the network", async () => {
  FakeWebSocket.reset();
  const clock = timers();
  const t = new SandboxTransport({
    rtc: { provider: "sandbox", channel: "c", token: "t", network: "livekit" },
    location: { protocol: "http:", host: "test" },
    WebSocketImpl: FakeWebSocket,
    settleMs: 150,
    ...clock,
  });
  const joining = t.connect();
  const ws = FakeWebSocket.last;
  ws.readyState = 1;
  ws.onopen();
  assert.equal(t.state, "connecting"); // not yet: an unreachable network closes at once
  ws.onclose({ code: CLOSE_NETWORK_UNREACHABLE, reason: "network unreachable" });
  await assert.rejects(joining, (err) => err.joinFailed && err.message === "Could not reach the avatar over LiveKit.");
  assert.equal(t.state, "failed");

  // A socket that stays open joins after the settle time, or at the avatar's first word.
  const ok = new SandboxTransport({ rtc: { channel: "c", token: "t" }, location: { protocol: "http:", host: "test" }, WebSocketImpl: FakeWebSocket, settleMs: 150, ...clock });
  const okJoin = ok.connect();
  FakeWebSocket.last.readyState = 1;
  FakeWebSocket.last.onopen();
  FakeWebSocket.last.onmessage({ data: "hello" });
  await okJoin;
  assert.equal(ok.state, "joined");
});

test("a sandbox socket taken by another tab while it settles had joined: the close is a take-over, never 'refused'", async () => {
  // test_devices.py once met "The sandbox avatar refused the connection" here: the other
  // device's socket displaced this one (4409) within the settle time after it opened.
  FakeWebSocket.reset();
  const clock = timers();
  const t = new SandboxTransport({
    rtc: { provider: "sandbox", channel: "c", token: "t", network: "agora" },
    location: { protocol: "http:", host: "test" },
    WebSocketImpl: FakeWebSocket,
    settleMs: 150,
    ...clock,
  });
  const states = [];
  t.on("state", (state, info) => states.push([state, info?.code]));
  const joining = t.connect();
  const ws = FakeWebSocket.last;
  ws.readyState = 1;
  ws.onopen();
  ws.onclose({ code: 4409, reason: "taken over" });
  await joining; // resolves: it had joined
  assert.deepEqual(states.slice(-2), [["joined", undefined], ["failed", 4409]]);
});
