// When the server cannot be reached: one notice that updates, and a plain answer when it
// is back (the session goes on, or it ended and why).
//
// The session websocket (Relay) is the page's line to the server. While it reconnects:
//  - #status shows one notice, updated on each attempt; older news and errors go;
//  - the media transport's troubles wait: they start no recovery, no end of the session
//    and no error text of their own (in the sandbox the transport's socket goes to the
//    same server, so it fails with it; after our restart it is even refused);
//  - the page never blames the user's connection, unless the browser itself says it is
//    offline (navigator.onLine === false).
// When the relay is back, the server's first frame is the session's state:
//  - active: "Reconnected; your session continues.", the transport rebuilt from fresh
//    credentials if it failed meanwhile (or retried at once if it is still waiting);
//  - closed/failed: the page ends the session with the reason in words (format.js).
//
// Pure: the page hands in relay states, transport failures and session frames, and
// gives it a `notices` object (notices.js) to write to.

import { t } from "./i18n.js";

export const RESUMED_TEXT = t("Reconnected; your session continues.");
export const RESUMING_MEDIA_TEXT = t("Reconnected; reconnecting to the avatar…");

/**
 * The outage notice: one sentence for the whole outage (the page adds the running time
 * since it began); another only if the browser goes offline or comes back meanwhile.
 */
export function outageNotice({ offline = false } = {}) {
  return offline
    ? t("Your device is offline; the page reconnects when it is back online…")
    : t("The server can't be reached right now; reconnecting…");
}

/** Error codes that only say "not connected right now": moot once reconnected. */
export const CONNECTION_ERROR_CODES = ["not_connected", "rtc_send_failed"];

/**
 * What to do with the transport once the session is known to go on: "none" (it works),
 * "wait" (a connect is under way), "retry" (it is retrying on its own: try now), or
 * "rebuild" (it failed: new transport, fresh credentials from the API).
 */
export function transportPlan(state, lostDuringOutage = false) {
  if (lostDuringOutage || !state || state === "failed" || state === "closed" || state === "idle") return "rebuild";
  if (state === "reconnecting") return "retry";
  if (state === "connecting") return "wait";
  return "none"; // joined, or waiting (in the channel, for the avatar)
}

export class Outage {
  /**
   * @param {object} options
   * @param {object} options.notices  {setStatus, showError, clearError}
   * @param {() => boolean} [options.offline]  whether the browser says it is offline
   */
  constructor({ notices, offline = () => globalThis.navigator?.onLine === false, now = () => Date.now() }) {
    this.notices = notices;
    this.offline = offline;
    this.now = now;
    /** up | down (socket gone, retrying) | back (open again; the session's state not yet known) */
    this.phase = "up";
    this.transportLost = false;
    this.since = null;
  }

  /** While true, transport troubles wait for the relay and say nothing. */
  get quiet() {
    return this.phase !== "up";
  }

  /** A Relay "state" event ({state, attempt, delay}): only the state matters here. */
  relayState(info) {
    const { state } = info;
    if (state === "reconnecting") {
      if (this.phase === "up") {
        this.since = this.now();
        // The outage supersedes whatever was said before it.
        this.notices.clearError();
      }
      this.phase = "down";
      this.show();
    } else if (state === "open") {
      if (this.phase === "down") this.phase = "back";
    } else if (state === "closed") {
      this.phase = "up";
      this.transportLost = false;
    }
  }

  /** Redraw the notice (the browser went offline or online meanwhile). */
  show() {
    if (this.phase !== "down") return;
    this.notices.setStatus(outageNotice({ offline: this.offline() }), { busy: true, since: this.since });
  }

  /**
   * The transport failed. Returns true if the page should recover it now; false while
   * the relay is away (noted: the page rebuilds it once the session is known to go on).
   */
  transportFailed() {
    if (!this.quiet) return true;
    this.transportLost = true;
    return false;
  }

  /**
   * The `session` frame that opens each connection. Returns null unless it ends an
   * outage; then {resumed, transport: "none"|"retry"|"rebuild", downMs}. When resumed
   * and nothing is left to do, it already said so.
   */
  sessionFrame(status, transportState) {
    if (this.phase !== "back") return null;
    this.phase = "up";
    const lost = this.transportLost;
    this.transportLost = false;
    const downMs = this.since === null ? 0 : this.now() - this.since;
    this.since = null;
    if (status !== "active") return { resumed: false, transport: "none", downMs };
    this.notices.clearError(CONNECTION_ERROR_CODES);
    const transport = transportPlan(transportState, lost);
    this.notices.setStatus(transport === "none" ? RESUMED_TEXT : RESUMING_MEDIA_TEXT, { busy: transport !== "none" });
    return { resumed: true, transport, downMs };
  }
}
