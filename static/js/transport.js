// The data-stream transport: one interface, two implementations.
//
//   connect() -> Promise       join; rejects with a message for a person
//   send(text) -> Promise      one stream message; rejects if it cannot go now
//   on(event, fn)              "state" (state, info), "message" (text),
//                              "avatar-published" ({mediaType}), "avatar-unpublished",
//                              "quality" ({uplink, downlink, rtt}), "autoplay-blocked"
//   close() -> Promise
//   retryNow() -> bool         (optional) reconnect now instead of after the backoff
//   state                      idle | connecting | waiting (joined, no avatar yet) |
//                              joined | reconnecting | failed | closed
//
// "joined" means a stream message sent now reaches the avatar: the relay sends only then.
// AgoraTransport rides the data stream of Agora's RTC channel (AKool's streaming avatar);
// SandboxTransport is a websocket to the sandbox avatar, one text frame per message.

import { Emitter } from "./emitter.js";
import { createBackoff } from "./backoff.js";
import { decodePayload, sandboxUrl } from "./messages.js";
import { t } from "./i18n.js";

class Transport extends Emitter {
  constructor() {
    super();
    this.state = "idle";
  }

  _setState(state, info = {}) {
    if (this.state === state) return;
    this.state = state;
    this.emit("state", state, info);
  }
}

// ---------------------------------------------------------------------------------------

export class SandboxTransport extends Transport {
  kind = "sandbox";

  /**
   * @param {object} options
   * @param {{channel: string, token: string}} options.rtc
   * @param {Location|{protocol, host}} [options.location]
   */
  constructor({
    rtc,
    location = globalThis.location,
    WebSocketImpl = globalThis.WebSocket,
    connectTimeoutMs = 10000,
    backoff = createBackoff({ base: 500, max: 10000 }),
    setTimeout: setT = globalThis.setTimeout.bind(globalThis),
    clearTimeout: clearT = globalThis.clearTimeout.bind(globalThis),
    offline = () => globalThis.navigator?.onLine === false,
  }) {
    super();
    this.url = sandboxUrl(rtc, location);
    this.offline = offline;
    this.WebSocketImpl = WebSocketImpl;
    this.connectTimeoutMs = connectTimeoutMs;
    this.backoff = backoff;
    this.setTimeout = setT;
    this.clearTimeout = clearT;
    this.ws = null;
    this.retryTimer = null;
    this.abortOpen = null;
  }

  connect() {
    this._setState("connecting");
    return this.#open();
  }

  #open() {
    return new Promise((resolve, rejectOpen) => {
      const reject = (err) => {
        this.abortOpen = null;
        rejectOpen(err);
      };
      // close() while connecting must settle the promise, or the page would wait forever.
      this.abortOpen = () => {
        this.clearTimeout(timer);
        reject(new Error("closed while connecting"));
      };
      const ws = new this.WebSocketImpl(this.url);
      ws.binaryType = "arraybuffer";
      this.ws = ws;
      let opened = false;
      const timer = this.setTimeout(() => {
        if (opened) return;
        ws.onclose = null;
        try {
          ws.close();
        } catch {
          // never opened
        }
        this._setState("failed", { reason: "timeout" });
        reject(new Error(t("The sandbox avatar did not answer in time. Try again in a moment.")));
      }, this.connectTimeoutMs);
      ws.onopen = () => {
        opened = true;
        this.abortOpen = null;
        this.clearTimeout(timer);
        this.backoff.reset();
        this._setState("joined");
        resolve();
      };
      ws.onmessage = (event) => {
        let text;
        try {
          text = decodePayload(event.data);
        } catch {
          return;
        }
        this.emit("message", text);
      };
      ws.onclose = (event) => {
        if (ws !== this.ws) return;
        this.ws = null;
        const code = event?.code ?? 1006;
        if (!opened) {
          this.clearTimeout(timer);
          this._setState("failed", { code });
          reject(
            new Error(
              code >= 4000 && code < 5000
                ? t("The sandbox avatar refused the connection (its pass may have expired). Start a new session.")
                : this.offline()
                  ? t("Could not reach the sandbox avatar: your device is offline. Check your connection, then try again.")
                  : t("The sandbox avatar can't be reached right now (the server may be restarting). Try again in a moment."),
            ),
          );
          return;
        }
        if (this.state === "closed") return;
        if (code >= 4000 && code < 5000) {
          // Refused: a bad or expired token, or the session is over.
          this._setState("failed", { code, reason: event?.reason ?? "" });
          return;
        }
        this._setState("reconnecting", { code });
        this.retryTimer = this.setTimeout(() => {
          this.retryTimer = null;
          if (this.state === "closed") return;
          this.#open().catch(() => {
            // #open already reported "failed"; the page decides what to do next.
          });
        }, this.backoff.next());
      };
      ws.onerror = () => {
        // close follows
      };
    });
  }

  /** While waiting to reconnect, try now (the server is known to be back). */
  retryNow() {
    if (this.state !== "reconnecting" || this.retryTimer === null) return false;
    this.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.#open().catch(() => {
      // #open already reported "failed"; the page decides what to do next.
    });
    return true;
  }

  send(text) {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1) {
      return Promise.reject(new Error(`the sandbox connection is not open (${this.state})`));
    }
    try {
      ws.send(text);
    } catch (err) {
      return Promise.reject(err);
    }
    return Promise.resolve();
  }

  async close() {
    this._setState("closed");
    this.abortOpen?.();
    if (this.retryTimer !== null) this.clearTimeout(this.retryTimer);
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      try {
        ws.close(1000, "done");
      } catch {
        // already closed
      }
    }
  }
}

// ---------------------------------------------------------------------------------------

/** Resolve with `promise`, or reject with `makeError()` after `ms`. */
function withTimeout(promise, ms, makeError, { setT, clearT }) {
  return new Promise((resolve, reject) => {
    const timer = setT(() => reject(makeError()), ms);
    promise.then(
      (value) => {
        clearT(timer);
        resolve(value);
      },
      (err) => {
        clearT(timer);
        reject(err);
      },
    );
  });
}

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
    setTimeout: setT = globalThis.setTimeout.bind(globalThis),
    clearTimeout: clearT = globalThis.clearTimeout.bind(globalThis),
    setInterval: setI = globalThis.setInterval.bind(globalThis),
    clearInterval: clearI = globalThis.clearInterval.bind(globalThis),
  }) {
    super();
    this.rtc = rtc;
    this.sdkUrl = sdkUrl;
    this.eventReport = eventReport;
    this.videoContainer = videoContainer;
    this.joinTimeoutMs = joinTimeoutMs;
    this.statsIntervalMs = statsIntervalMs;
    this.importModule = importModule;
    this.timers = { setT, clearT, setI, clearI };
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
      throw new Error(t("Could not load the video SDK. Reload the page; if it keeps failing, tell the site's operator."));
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
    const join = Promise.resolve(client.join(app_id, channel, token ?? null, uid ?? null));
    join.catch(() => {}); // a join that settles after the timeout must not go unhandled
    try {
      await withTimeout(
        join,
        this.joinTimeoutMs,
        () =>
          Object.assign(
            new Error(
              t("Could not join the video channel within %(seconds)s s. Check your network (a firewall or VPN may block WebRTC), then start again.", {
                seconds: Math.round(this.joinTimeoutMs / 1000),
              }),
            ),
            { joinTimeout: true },
          ),
        this.timers,
      );
    } catch (err) {
      this._setState("failed", { reason: "join" });
      this.#teardown();
      if (err?.joinTimeout) throw err;
      throw new Error(t("Could not join the video channel: %(reason)s. Start again.", { reason: err?.message ?? err }));
    }
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

  // Local media for mic.js / camera.js: only Agora publishes them.
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

  #teardown() {
    if (this.statsTimer !== null) this.timers.clearI(this.statsTimer);
    this.statsTimer = null;
    const client = this.client;
    if (!client) return Promise.resolve();
    client.removeAllListeners?.();
    return Promise.resolve(client.leave()).catch(() => {});
  }

  async close() {
    this.closing = true;
    this.connected = false;
    this._setState("closed");
    await this.#teardown();
  }
}

// ---------------------------------------------------------------------------------------

/**
 * The transport for a session's `rtc`: sandbox never touches Agora (no import, no
 * client); agora imports the SDK lazily.
 */
export function createTransport(rtc, { sdkUrl, eventReport = false, videoContainer = null, ...rest } = {}) {
  if (!rtc) throw new Error(t("The session has no media credentials yet."));
  if (rtc.provider === "sandbox") return new SandboxTransport({ rtc, ...rest });
  if (rtc.provider === "agora") return new AgoraTransport({ rtc, sdkUrl, eventReport, videoContainer, ...rest });
  throw new Error(t("Unknown media provider “%(provider)s”.", { provider: rtc.provider }));
}
