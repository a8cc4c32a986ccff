// AgoraTransport rides the data stream of Agora's RTC channel (agora-rtc-sdk-ng, served
// from /static/vendor/agora/ and imported only when a session uses it).

import { decodePayload } from "./messages.js";
import { Transport, realTimers, sdkLoadError } from "./transport_base.js";

export class AgoraTransport extends Transport {
  kind = "agora";

  /**
   * @param {object} options
   * @param {{app_id, channel, token, uid}} options.rtc  the session's credentials
   * @param {string} options.sdkUrl  URL of AgoraRTC_N-production.esm.mjs
   * @param {boolean} [options.eventReport]  leave Agora's stats reports on
   * @param {HTMLElement} [options.videoContainer]  where the avatar's video plays
   * @param {number} [options.joinTimeoutMs]  offline, join never settles
   * @param {(url: string) => Promise<object>} [options.importModule]
   */
  constructor({
    rtc,
    sdkUrl,
    eventReport = false,
    videoContainer = null,
    joinTimeoutMs = 15000,
    statsIntervalMs = 2000,
    importModule = (url) => import(url),
    ...timers
  }) {
    super();
    this.rtc = rtc;
    this.sdkUrl = sdkUrl;
    this.eventReport = eventReport;
    this.videoContainer = videoContainer;
    this.joinTimeoutMs = joinTimeoutMs;
    this.statsIntervalMs = statsIntervalMs;
    this.importModule = importModule;
    this.timers = realTimers(timers);
    this.AgoraRTC = null;
    this.client = null;
    this.connected = false;
    this.everConnected = false;
    this.statsTimer = null;
    this.rtt = null;
    this.closing = false;
  }

  get avatarPresent() {
    return (this.client?.remoteUsers?.length ?? 0) > 0;
  }

  async connect() {
    this._setState("connecting");
    let mod;
    try {
      mod = await this.importModule(this.sdkUrl);
    } catch {
      this._setState("failed", { reason: "sdk" });
      throw sdkLoadError();
    }
    const AgoraRTC = mod?.default ?? mod;
    this.AgoraRTC = AgoraRTC;
    // Before createClient, or the SDK starts sending reports to Agora's servers.
    if (!this.eventReport) AgoraRTC.setParameter?.("ENABLE_EVENT_REPORT", false);
    AgoraRTC.setLogLevel?.(3); // errors only
    AgoraRTC.onAutoplayFailed = () => this.emit("autoplay-blocked");
    if (this.closing) throw new Error("closed");

    const client = AgoraRTC.createClient({ mode: "rtc", codec: "vp8" });
    this.client = client;
    this.#wire(client);

    const { app_id, channel, token, uid } = this.rtc;
    await this._join(client.join(app_id, channel, token ?? null, uid ?? null));
    if (this.closing) return;
    this.connected = true;
    this.everConnected = true;
    this.#update();
    this.statsTimer = this.timers.setI(() => this.#pollStats(), this.statsIntervalMs);
  }

  #wire(client) {
    client.on("connection-state-change", (cur, _prev, reason) => {
      if (this.closing) return;
      if (cur === "CONNECTED") {
        this.connected = true;
        this.everConnected = true;
        this.#update();
      } else if (cur === "RECONNECTING") {
        this.connected = false;
        this._setState("reconnecting", { reason });
      } else if (cur === "DISCONNECTED" && this.everConnected) {
        // The SDK gave up (or was kicked: UID_BANNED, CHANNEL_BANNED, ...).
        this.connected = false;
        this._setState("failed", { reason: reason ?? "disconnected" });
      }
    });
    client.on("user-joined", () => this.#update());
    client.on("user-left", () => this.#update());
    client.on("user-published", async (user, mediaType) => {
      try {
        await client.subscribe(user, mediaType);
      } catch (err) {
        console.warn("subscribe failed", err);
        return;
      }
      if (mediaType === "video") user.videoTrack?.play(this.videoContainer, { fit: "contain" });
      if (mediaType === "audio") user.audioTrack?.play();
      this.#update();
      this.emit("avatar-published", { mediaType });
    });
    client.on("user-unpublished", (user, mediaType) => {
      Promise.resolve(client.unsubscribe(user, mediaType)).catch(() => {});
      this.emit("avatar-unpublished", { mediaType });
    });
    client.on("stream-message", (_uid, payload) => {
      let text;
      try {
        text = decodePayload(payload);
      } catch {
        return;
      }
      this.emit("message", text);
    });
    client.on("network-quality", (q) => {
      this.emit("quality", {
        uplink: q?.uplinkNetworkQuality ?? 0,
        downlink: q?.downlinkNetworkQuality ?? 0,
        rtt: this.rtt,
      });
    });
  }

  #update() {
    if (!this.connected || this.closing) return;
    this._setState(this.avatarPresent ? "joined" : "waiting");
  }

  #pollStats() {
    try {
      const stats = this.client?.getRTCStats?.();
      if (stats && Number.isFinite(stats.RTT)) this.rtt = stats.RTT;
    } catch {
      // stats are a nicety
    }
  }

  send(text) {
    const client = this.client;
    if (!client || client.connectionState !== "CONNECTED") {
      return Promise.reject(new Error(`not connected to the channel (${client?.connectionState ?? "no client"})`));
    }
    try {
      return Promise.resolve(client.sendStreamMessage(text, false));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  // Local media for mic.js / camera.js: tracks the avatar hears and sees.
  get canPublish() {
    return Boolean(this.client);
  }

  createMicrophoneTrack() {
    return this.AgoraRTC.createMicrophoneAudioTrack();
  }

  createCameraTrack() {
    return this.AgoraRTC.createCameraVideoTrack();
  }

  publish(track) {
    return this.client.publish(track);
  }

  unpublish(track) {
    return this.client.unpublish(track);
  }

  /** After a click: play the avatar's audio that autoplay blocked. */
  resumeAudio() {
    for (const user of this.client?.remoteUsers ?? []) user.audioTrack?.play();
  }

  _teardown() {
    if (this.statsTimer !== null) this.timers.clearI(this.statsTimer);
    this.statsTimer = null;
    const client = this.client;
    if (!client) return Promise.resolve();
    client.removeAllListeners?.();
    return Promise.resolve(client.leave()).catch(() => {});
  }
}

