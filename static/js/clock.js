// The session's clock: the countdown, one warning a minute before the end, and the
// moment the time is up. Pure: the page passes `now`.
//
// The warning is given once, and only if the session had more than a minute left when
// the page started counting (a page resumed 40 s before the end does not say "one
// minute left"). If the end moves later with more than a minute to go, it is given again.

import { formatCountdown } from "./format.js";

export const WARN_BEFORE_MS = 60000;

export class SessionClock {
  constructor({ warnBeforeMs = WARN_BEFORE_MS } = {}) {
    this.warnBeforeMs = warnBeforeMs;
    this.at = null; // ms since the epoch, or null when unknown
    this.warnArmed = false;
    this.upSaid = false;
  }

  /** The session ends at `expiresAt` (ISO text). Returns whether the time is known. */
  set(expiresAt, now) {
    const at = Date.parse(expiresAt ?? "");
    if (Number.isNaN(at)) {
      this.at = null;
      this.warnArmed = false;
      return false;
    }
    if (at !== this.at) {
      const left = at - now;
      this.warnArmed = left > this.warnBeforeMs;
      if (left > 0) this.upSaid = false;
      this.at = at;
    }
    return true;
  }

  /** Milliseconds left (never negative), or null when unknown. */
  left(now) {
    return this.at === null ? null : Math.max(0, this.at - now);
  }

  /**
   * One tick: {text, low, minuteLeft, timeUp}; `minuteLeft` and `timeUp` are true on the
   * one tick that should say so.
   */
  tick(now) {
    if (this.at === null) return { text: "--:--", low: false, minuteLeft: false, timeUp: false };
    const left = this.at - now;
    let minuteLeft = false;
    let timeUp = false;
    if (left <= 0) {
      this.warnArmed = false;
      if (!this.upSaid) {
        this.upSaid = true;
        timeUp = true;
      }
    } else if (left <= this.warnBeforeMs && this.warnArmed) {
      this.warnArmed = false;
      minuteLeft = true;
    }
    return { text: formatCountdown(left), low: left < this.warnBeforeMs, minuteLeft, timeUp };
  }
}

/**
 * The page's clock: the time and the timers. The page modules take it as `clock`, so node
 * tests can hand them one whose time passes only when the test says so.
 */
export const systemClock = Object.freeze({
  now: () => Date.now(),
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (id) => globalThis.clearTimeout(id),
  setInterval: (fn, ms) => globalThis.setInterval(fn, ms),
  clearInterval: (id) => globalThis.clearInterval(id),
});
