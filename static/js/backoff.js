// Reconnect delays: exponential growth with a cap and jitter, reset after a success.
// Pure; `random` is injectable so tests can pin the jitter.

/**
 * @param {object} [options]
 * @param {number} [options.base=500]    first delay, ms
 * @param {number} [options.factor=2]    growth per attempt
 * @param {number} [options.max=15000]   cap, ms
 * @param {number} [options.jitter=0.5]  fraction of the delay that is randomised away:
 *   a delay d becomes a value in (d * (1 - jitter), d], so many pages dropped by one
 *   server restart do not all come back in the same millisecond.
 * @param {() => number} [options.random=Math.random]  returns [0, 1)
 */
export function createBackoff({ base = 500, factor = 2, max = 15000, jitter = 0.5, random = Math.random } = {}) {
  if (!(base > 0) || !(factor >= 1) || !(max >= base) || !(jitter >= 0 && jitter <= 1)) {
    throw new RangeError("backoff: need base > 0, factor >= 1, max >= base, 0 <= jitter <= 1");
  }
  let attempt = 0;
  return {
    /** The delay before the next attempt; each call counts one attempt. */
    next() {
      const ceiling = Math.min(max, base * factor ** attempt);
      attempt += 1;
      return Math.round(ceiling * (1 - jitter * random()));
    },
    /** Back to the first delay (call once a connection has proved healthy). */
    reset() {
      attempt = 0;
    },
    /** Attempts since the last reset. */
    get attempt() {
      return attempt;
    },
  };
}
