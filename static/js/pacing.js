// The stream's rate rule at the page's last hop (the README's "Session websocket"): the
// frames one page sends never total more than `bytesPerSecond` bytes of UTF-8 in any
// window of 1 s plus the jitter allowance. The server paces by the same rule, so frames
// it already paced pass at once (held at most by the unevenness of their way to the
// page); frames queued while the transport was not there (before it joined, while it
// reconnected) leave at the allowed rate instead of as one burst.
//
// Pure: the caller passes `now` (ms, monotonic) and does the waiting. The one window of
// the page: relay.js asks it before each frame.

import { utf8Length } from "./messages.js";

/** Agora's per-sender limit, bytes per second (the server's STREAM_BYTES_PER_SECOND). */
export const BYTES_PER_SECOND = 6000;
/** Seconds added to the window for uneven delays on the way (STREAM_JITTER_ALLOWANCE). */
export const JITTER_ALLOWANCE = 0.15;

/**
 * The window from the page's config: `streamBytesPerSecond` (bytes, at most 6,000) and
 * `streamJitterAllowance` (seconds, not negative), each with its default when absent or invalid.
 * @returns {{limit: number, windowMs: number}}
 */
export function pacingFromConfig(config = {}) {
  const number = (v) => (typeof v === "number" && Number.isFinite(v) ? v : NaN);
  const rate = number(config?.streamBytesPerSecond);
  const jitter = number(config?.streamJitterAllowance);
  const limit = rate >= 1 ? Math.min(Math.floor(rate), BYTES_PER_SECOND) : BYTES_PER_SECOND;
  const allowance = jitter >= 0 ? jitter : JITTER_ALLOWANCE;
  return { limit, windowMs: 1000 * (1 + allowance) };
}

/** What a frame counts for: its bytes of UTF-8. */
export const frameBytes = (frame) => utf8Length(String(frame));

/**
 * A sliding window: a frame sent at `t` counts for [t, t + windowMs). The expiry is stored
 * (never recomputed by subtraction), and a frame whose expiry is `<= now` is gone, as in
 * the server's pacer.
 */
export class RateWindow {
  constructor({ limit = BYTES_PER_SECOND, windowMs = 1000 * (1 + JITTER_ALLOWANCE) } = {}) {
    if (!(limit > 0) || !(windowMs > 0)) throw new RangeError("limit and windowMs must be positive");
    this.limit = limit;
    this.windowMs = windowMs;
    this.history = []; // [expiry, size], oldest first
    this.used = 0;
  }

  #expire(now) {
    let gone = 0;
    while (gone < this.history.length && this.history[gone][0] <= now) {
      this.used -= this.history[gone][1];
      gone += 1;
    }
    if (gone) this.history.splice(0, gone);
  }

  /**
   * Milliseconds until `size` more bytes fit (0: now). A frame larger than the limit can
   * never fit; it waits for an empty window instead of blocking everything behind it.
   */
  delay(size, now) {
    this.#expire(now);
    const need = Math.min(size, this.limit);
    let used = this.used;
    let at = now;
    for (const [expiry, old] of this.history) {
      if (used + need <= this.limit) break;
      used -= old;
      at = expiry;
    }
    return at - now;
  }

  /** `size` bytes went at `now`. */
  record(size, now) {
    this.#expire(now);
    this.history.push([now + this.windowMs, size]);
    this.used += size;
  }
}
