// What every transport shares (the interface is described at the top of transport.js):
// its state and events, the join timeout, and the words for a failure to load an SDK or
// to join. Each network's transport is its own module (transport_<network>.js).

import { Emitter } from "./emitter.js";
import { t } from "./i18n.js";

export class Transport extends Emitter {
  constructor() {
    super();
    this.state = "idle";
  }

  _setState(state, info = {}) {
    if (this.state === state) return;
    this.state = state;
    this.emit("state", state, info);
  }

  /** Join with the SDK's own `join` promise within the join timeout; a failure lets go
   * of the SDK's client (the page may then offer another network). */
  async _join(join) {
    try {
      await joinWithin(join, this.joinTimeoutMs, this.timers);
    } catch (err) {
      this._setState("failed", { reason: "join" });
      this._teardown();
      throw err;
    }
  }

  async close() {
    this.closing = true;
    this.connected = false;
    this._setState("closed");
    await this._teardown();
  }

  /** Let go of the SDK's client: each network's own (nothing to let go of here). */
  _teardown() {
    return Promise.resolve();
  }
}

/** Resolve with `promise`, or reject with `makeError()` after `ms`. */
export function withTimeout(promise, ms, makeError, { setT, clearT }) {
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

/** The timers a transport uses (a test passes its own). */
export function realTimers({ setTimeout: setT, clearTimeout: clearT, setInterval: setI, clearInterval: clearI } = {}) {
  return {
    setT: setT ?? globalThis.setTimeout.bind(globalThis),
    clearT: clearT ?? globalThis.clearTimeout.bind(globalThis),
    setI: setI ?? globalThis.setInterval.bind(globalThis),
    clearI: clearI ?? globalThis.clearInterval.bind(globalThis),
  };
}

/** A network's name as people know it ("" for none). */
export function networkName(network) {
  return { agora: "Agora", livekit: "LiveKit", trtc: "TRTC" }[network] ?? "";
}

/** The SDK's module could not be fetched: a reload may help, a fallback will not. */
export function sdkLoadError() {
  return new Error(t("Could not load the video SDK. Reload the page; if it keeps failing, tell the site's operator."));
}

/**
 * The join failed or timed out: `joinFailed` marks it, so the page may offer another
 * network (live_session.js) instead of ending at once.
 */
export function joinError(err, timeoutMs) {
  const message = err?.joinTimeout
    ? t("Could not join the video channel within %(seconds)s s. Check your network (a firewall or VPN may block WebRTC), then start again.", {
        seconds: Math.round(timeoutMs / 1000),
      })
    : t("Could not join the video channel. Check your network (a firewall or VPN may block WebRTC), then start again.");
  // The SDK's own words (codes, its docs' links) are for the console, not for a person.
  if (!err?.joinTimeout) console.warn("join failed:", err?.message ?? err);
  return Object.assign(new Error(message), { joinFailed: true, detail: String(err?.message ?? err) });
}

/** Join with the SDK's own `join` promise, bounded: offline, SDKs retry for ever. */
export async function joinWithin(join, ms, timers) {
  const joining = Promise.resolve(join);
  joining.catch(() => {}); // a join that settles after the timeout must not go unhandled
  try {
    return await withTimeout(joining, ms, () => Object.assign(new Error("join timeout"), { joinTimeout: true }), timers);
  } catch (err) {
    throw joinError(err, ms);
  }
}

/** A stream message as its bytes (what LiveKit and TRTC carry). */
export const encodeText = (text) => new TextEncoder().encode(text);

/**
 * A local track another SDK gives in its own shape, as mic.js and camera.js use it
 * (getMediaStreamTrack, setMuted, play, stop, close), from the SDK calls given.
 */
export function localTrack({ mediaTrack, setMuted = async () => {}, play = () => {}, stop = () => {} }) {
  let stopped = false;
  const once = () => {
    if (stopped) return;
    stopped = true;
    stop();
  };
  return {
    getMediaStreamTrack: () => mediaTrack(),
    setMuted,
    play,
    stop: once,
    close: once,
  };
}
