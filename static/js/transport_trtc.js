// TrtcTransport: AKool's avatar in a Tencent RTC room (trtc-sdk-v5). Its ESM build
// imports `webrtc-adapter` by bare name, so the page loads the UMD build (trtc.js,
// served from /static/vendor/trtc/ and loaded only when a session uses it), which sets
// `globalThis.TRTC`. A stream message is one custom message (cmdId 1, as AKool's demo
// sends); the frames are the relay's, at most 1 KB and 6 KB/s, as on every network.

import { decodePayload } from "./messages.js";
import { Transport, encodeText, localTrack, realTimers, sdkLoadError } from "./transport_base.js";

/** The custom message channel AKool's avatar reads and writes. */
export const TRTC_CMD_ID = 1;
const LOG_ERRORS_ONLY = 4;

/** The UMD build as a module: it sets globalThis.TRTC (no exports, no module object). */
async function loadUmd(url) {
  const mod = await import(url);
  const TRTC = mod?.default ?? globalThis.TRTC;
  if (!TRTC?.create) throw new Error("TRTC did not load");
  return TRTC;
}

/** A room id: TRTC's numeric `roomId` when it is one, else its `strRoomId`. */
export function roomFields(room) {
  const text = String(room ?? "");
  const n = Number(text);
  return /^\d+$/.test(text) && n >= 1 && n <= 4294967294 ? { roomId: n } : { strRoomId: text };
}

export class TrtcTransport extends Transport {
  kind = "trtc";

  /**
   * @param {object} options
   * @param {{app_id, room, user_id, user_sig}} options.rtc
   * @param {string} options.sdkUrl  URL of trtc.js (the UMD build)
   * @param {boolean} [options.uploadLogs]  leave TRTC's log upload to Tencent on
   * @param {HTMLElement} [options.videoContainer]  where the avatar's video plays
   * @param {(url: string) => Promise<object>} [options.loadSdk]  resolves with TRTC
   */
  constructor({ rtc, sdkUrl, uploadLogs = false, videoContainer = null, joinTimeoutMs = 15000, loadSdk = loadUmd, ...timers }) {
    super();
    Object.assign(this, { rtc, sdkUrl, uploadLogs, videoContainer, joinTimeoutMs, loadSdk });
    this.timers = realTimers(timers);
    this.TRTC = null;
    this.trtc = null;
    this.connected = false;
    this.everConnected = false;
    this.closing = false;
    this.remoteUsers = new Set();
    this.resumers = [];
  }

  get avatarPresent() {
    return this.remoteUsers.size > 0;
  }

  async connect() {
    this._setState("connecting");
    let TRTC;
    try {
      TRTC = await this.loadSdk(this.sdkUrl);
    } catch {
      this._setState("failed", { reason: "sdk" });
      throw sdkLoadError();
    }
    this.TRTC = TRTC;
    // Errors only, and no log upload to Tencent unless the operator wants it.
    TRTC.setLogLevel?.(LOG_ERRORS_ONLY, this.uploadLogs);
    if (this.closing) throw new Error("closed");
    const trtc = TRTC.create();
    this.trtc = trtc;
    this.#wire(trtc, TRTC.EVENT);
    const { app_id, room, user_id, user_sig } = this.rtc;
    const enter = trtc.enterRoom({
      sdkAppId: Number(app_id),
      userId: String(user_id),
      userSig: user_sig,
      ...roomFields(room),
      enableAutoPlayDialog: false, // the page offers its own button
    });
    await this._join(enter);
    if (this.closing) return;
    this.connected = true;
    this.everConnected = true;
    this.#update();
  }

  #wire(trtc, E) {
    trtc.on(E.REMOTE_USER_ENTER, ({ userId }) => {
      this.remoteUsers.add(userId);
      this.#update();
    });
    trtc.on(E.REMOTE_USER_EXIT, ({ userId }) => {
      this.remoteUsers.delete(userId);
      this.#update();
    });
    trtc.on(E.REMOTE_VIDEO_AVAILABLE, ({ userId, streamType }) => {
      const view = this.videoContainer;
      Promise.resolve(trtc.startRemoteVideo({ userId, streamType, view, option: { fillMode: "contain" } })).then(
        () => this.emit("avatar-published", { mediaType: "video" }),
        (err) => console.warn("remote video failed", err),
      );
    });
    trtc.on(E.REMOTE_VIDEO_UNAVAILABLE, () => this.emit("avatar-unpublished", { mediaType: "video" }));
    // Remote audio plays on its own (autoReceiveAudio).
    trtc.on(E.REMOTE_AUDIO_AVAILABLE, () => this.emit("avatar-published", { mediaType: "audio" }));
    trtc.on(E.REMOTE_AUDIO_UNAVAILABLE, () => this.emit("avatar-unpublished", { mediaType: "audio" }));
    trtc.on(E.CUSTOM_MESSAGE, ({ cmdId, data }) => {
      if (cmdId !== TRTC_CMD_ID) return;
      let text;
      try {
        text = decodePayload(data);
      } catch {
        return;
      }
      this.emit("message", text);
    });
    trtc.on(E.CONNECTION_STATE_CHANGED, ({ state }) => {
      if (this.closing || !this.everConnected) return;
      if (state === "CONNECTED" || state === "RECONNECTED") {
        this.connected = true;
        this.#update();
      } else if (state === "RECONNECTING" || state === "CONNECTING") {
        // The SDK reconnects on its own; DISCONNECTED, ERROR or KICKED_OUT: it gave up.
        this.connected = false;
        this._setState("reconnecting", { reason: state });
      } else if (state === "DISCONNECTED") {
        this.#lost("disconnected");
      }
    });
    trtc.on(E.KICKED_OUT, ({ reason } = {}) => this.#lost(reason ?? "kicked"));
    trtc.on(E.ERROR, (err) => this.#lost(err?.code ?? "error"));
    trtc.on(E.NETWORK_QUALITY, (q) => {
      this.emit("quality", {
        uplink: q?.uplinkNetworkQuality ?? 0,
        downlink: q?.downlinkNetworkQuality ?? 0,
        rtt: Number.isFinite(q?.uplinkRTT) ? q.uplinkRTT : null,
      });
    });
    trtc.on(E.AUTOPLAY_FAILED, (event) => {
      if (event?.resume) this.resumers.push(event.resume);
      this.emit("autoplay-blocked");
    });
  }

  #lost(reason) {
    if (this.closing || !this.everConnected || this.state === "failed") return;
    this.connected = false;
    this._setState("failed", { reason });
  }

  #update() {
    if (!this.connected || this.closing) return;
    this._setState(this.avatarPresent ? "joined" : "waiting");
  }

  send(text) {
    if (!this.trtc || !this.connected) {
      return Promise.reject(new Error(`not connected to the room (${this.state})`));
    }
    try {
      return Promise.resolve(this.trtc.sendCustomMessage({ cmdId: TRTC_CMD_ID, data: encodeText(text).buffer }));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  // Local media: TRTC captures and publishes in one call; the tracks here are handles.
  get canPublish() {
    return Boolean(this.trtc);
  }

  createMicrophoneTrack() {
    const trtc = this.trtc;
    const track = localTrack({
      mediaTrack: () => trtc.getAudioTrack(),
      setMuted: (mute) => trtc.updateLocalAudio({ mute }),
      stop: () => Promise.resolve(trtc.stopLocalAudio()).catch(() => {}),
    });
    track.start = () => trtc.startLocalAudio();
    return Promise.resolve(track);
  }

  createCameraTrack() {
    const trtc = this.trtc;
    const track = localTrack({
      mediaTrack: () => trtc.getVideoTrack(),
      play: (view, { mirror = false } = {}) => trtc.updateLocalVideo({ view, option: { mirror } }),
      stop: () => Promise.resolve(trtc.stopLocalVideo()).catch(() => {}),
    });
    track.start = () => trtc.startLocalVideo();
    return Promise.resolve(track);
  }

  publish(track) {
    return track.start();
  }

  unpublish(track) {
    track.stop();
    return Promise.resolve();
  }

  /** After a click: play the avatar's audio that autoplay blocked. */
  resumeAudio() {
    const resumers = this.resumers.splice(0);
    for (const resume of resumers) Promise.resolve(resume()).catch(() => {});
  }

  _teardown() {
    const trtc = this.trtc;
    if (!trtc) return Promise.resolve();
    trtc.off?.("*");
    return Promise.resolve(trtc.exitRoom())
      .catch(() => {})
      .then(() => trtc.destroy());
  }
}
