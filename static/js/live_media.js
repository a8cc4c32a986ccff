// A running session's media transport (live_session.js): connecting it, what its events
// mean for the page (the avatar's video arriving, a drop, the other tab taking the
// channel), and rebuilding it from fresh credentials when it fails after having worked.
// Its handlers live in a scope of its own, a child of the session's: a rebuilt transport
// lets go of the old one's handlers, and an ended session of all of them.

import { TAKEN_OVER_TEXT } from "./format.js";
import { parseStreamMessage } from "./messages.js";
import { RESUMED_TEXT, RESUMING_MEDIA_TEXT } from "./outage.js";
import { t } from "./i18n.js";

export const VIDEO_WAIT_NOTE_MS = 20000;
/** Rebuilding a failed media transport: tries before the session is given up. */
export const MAX_TRANSPORT_RECOVERIES = 3;
/** A media reconnect shorter than this is not worth a notice. */
export const MEDIA_DROP_NOTICE_MS = 1500;
/** After the avatar arrives, its params are set again (what was sent before was lost). */
export const RESEND_PARAMS_MS = 300;

/** Another tab or window of ours took the session (README, "Session websocket"). */
export const CLOSE_TAKEN_OVER = 4409;
// Its words live in format.js: the start screen (session.js) shows them before this loads.
export { TAKEN_OVER_TEXT };

/** A failure of the server's, not of the media: it does not count against the media. */
const isServerTrouble = (err) =>
  err?.name === "ApiError" && (err.code === "network" || err.code === "timeout" || err.status >= 500);

export class LiveMedia {
  /** @param {object} live  its LiveSession: notices, stage, relay, scope, api, end… */
  constructor(live) {
    this.live = live;
    this.transport = null;
    this.transportScope = null;
    this.avatarVideo = live.sandbox; // the sandbox's face is there at once
    this.connectedOnce = false;
    this.afterOutage = false; // reconnected after an outage; the transport is being brought back
    this.mediaDropShown = false;
    this.recovering = false;
    this.transportFailures = 0;
    this.cancelResend = null;
  }


  /** A new transport from `session.rtc`, wired in a scope of its own, and joined. */
  async connect(session) {
    const transport = this.live.makeTransport(session.rtc);
    this.transport = transport;
    this.transportScope = this.live.scope.child();
    this.#wire(transport, this.transportScope);
    this.live.relay.attachTransport(transport);
    await transport.connect();
  }

  /** The join failed and the session moved to another network: join that one instead. */
  async replace(session) {
    this.transportScope?.close();
    // A microphone or camera track belongs to the transport that goes: released with it,
    // as when a failed transport is rebuilt (#recover), so the user turns them on again.
    await Promise.allSettled([this.live.controls?.releaseDevices(), this.transport?.close()]);
    await this.connect(session);
  }

  #wire(transport, scope) {
    const { notices, stage } = this.live;
    scope.on(transport, "message", (text) => {
      const m = parseStreamMessage(text);
      if (!m) return;
      stage.streamMessage(m);
      if (m.type === "event" && m.event === "sandbox_violation") {
        notices.showError(t("The sandbox avatar dropped a message (%(reason)s).", { reason: m.data.reason ?? "limit" }), "sandbox_violation");
      }
    });
    scope.on(transport, "state", (state, info = {}) => {
      // Another tab or window of ours took the avatar's channel (one media user per
      // session: the newest wins, as with the session socket): it goes on there.
      if (state === "failed" && info.code === CLOSE_TAKEN_OVER) {
        return this.live.end(TAKEN_OVER_TEXT, { isError: false, offerNew: false });
      }
      const wasConnected = this.connectedOnce;
      if (state === "joined") this.connectedOnce = true;
      if (this.live.outage.quiet) {
        // The server is away: the outage notice speaks; a failure waits for the relay.
        if (state === "failed" && wasConnected) this.live.outage.transportFailed();
        return;
      }
      const troubled = this.afterOutage || this.transportFailures > 0 || this.mediaDropShown;
      const since = this.live.clock.now();
      if (state === "waiting") notices.setStatus(t("Joined. Waiting for the avatar to arrive…"), { busy: true, since });
      else if (state === "reconnecting") this.#dropped(transport, scope);
      else if (state === "joined" && troubled) this.#back();
      else if (state === "failed" && wasConnected) this.#recover();
    });
    scope.on(transport, "avatar-published", ({ mediaType }) => {
      if (mediaType === "video" && !this.avatarVideo) {
        this.avatarVideo = true;
        stage.waitForVideo(false);
        notices.setStatus(this.live.connectedText ?? t("Connected. Say hello!"));
      }
      // Stream messages sent before the avatar was there were lost: set its params again.
      this.cancelResend?.();
      this.cancelResend = this.live.scope.timeout(() => {
        this.live.relay.send({ type: "set_params", params: this.live.params() }, { queue: true });
      }, RESEND_PARAMS_MS);
    });
    scope.on(transport, "avatar-unpublished", ({ mediaType }) => {
      if (mediaType !== "video") return;
      this.avatarVideo = false;
      stage.waitForVideo(true);
    });
    scope.on(transport, "quality", (q) => stage.showQuality(q));
    scope.on(transport, "autoplay-blocked", () => stage.autoplayBlocked());
  }

  waitForVideo(since) {
    this.live.notices.setStatus(t("Waiting for the avatar’s video…"), { busy: true, since });
    this.live.scope.timeout(() => {
      if (this.avatarVideo) return;
      this.live.notices.setStatus(t("Still waiting for the avatar’s video. It can take a minute; you can type already."), {
        busy: true,
        since,
      });
    }, VIDEO_WAIT_NOTE_MS);
  }

  /**
   * The transport is reconnecting on its own. Said only if it lasts: a blip needs no
   * notice, and when the server itself went away (the sandbox's socket goes to the same
   * server and often notices first) the outage notice speaks instead.
   */
  #dropped(transport, scope) {
    scope.timeout(() => {
      if (transport.state !== "reconnecting" || this.live.outage.quiet) return;
      this.live.notices.setStatus(t("The media connection dropped; reconnecting…"), { busy: true });
      this.mediaDropShown = true;
    }, MEDIA_DROP_NOTICE_MS);
  }

  /** The transport works again: say so (after an outage, that the session goes on). */
  #back() {
    this.live.notices.setStatus(this.afterOutage ? RESUMED_TEXT : t("Media connection restored."));
    this.afterOutage = false;
    this.mediaDropShown = false;
  }

  /** After an outage the session goes on: bring the transport back if it needs it. */
  resume(plan) {
    if (plan === "none") return;
    this.afterOutage = true;
    if (plan === "rebuild") {
      this.#recover({ immediate: true });
      return;
    }
    // "retry": hurry it if it can be (the sandbox's socket); Agora's SDK retries on its
    // own. Either way, and for "wait", its "joined" (mediaBack) or "failed" follows.
    if (plan === "retry") this.transport?.retryNow?.();
  }

  /**
   * The transport gave up after having worked: rebuild it from fresh credentials. While
   * the server is away (the relay reconnecting) it waits for it instead: the outage
   * notice speaks, and the session is never ended for our outage.
   */
  async #recover({ immediate = false } = {}) {
    const { live } = this;
    if (live.outage.quiet) {
      live.outage.transportFailed();
      return;
    }
    if (this.recovering) return;
    // Time is up: the server is ending the session (and closed the media first); its word
    // on the socket, or the API check the countdown scheduled, ends the page's session.
    if (live.timeLeft.left(live.clock.now()) === 0) return;
    this.recovering = true;
    let wait = !immediate;
    // The server went away meanwhile: wait for it (resumed from the session frame).
    const pause = () => {
      if (!live.outage.quiet) return false;
      live.outage.transportFailed();
      return true;
    };
    try {
      while (!live.over) {
        if (pause()) return;
        this.transportFailures += 1;
        if (this.transportFailures > MAX_TRANSPORT_RECOVERIES) {
          const why = t("The media connection to the avatar was lost.");
          await live.end(why, { isError: true });
          live.api.closeSession(live.id, why).catch(() => {});
          return;
        }
        const since = live.clock.now();
        if (this.afterOutage) live.notices.setStatus(RESUMING_MEDIA_TEXT, { busy: true, since });
        if (wait) await live.scope.sleep(1000 * this.transportFailures);
        wait = true;
        // After the pause: if the session is ending, its own word comes first.
        if (live.over || pause()) return;
        live.notices.setStatus(this.afterOutage ? RESUMING_MEDIA_TEXT : t("The media connection was lost; reconnecting…"), {
          busy: true,
          since,
        });
        try {
          const s = await live.api.session(live.id);
          if (live.over) return;
          if (s.status !== "active" || !s.rtc) {
            await live.end(s);
            return;
          }
          this.transportScope.close();
          await Promise.allSettled([live.controls.releaseDevices(), this.transport.close()]);
          if (live.over || pause()) return;
          // Its "joined" says that it works again (#wire: #back).
          await this.connect(s);
          return;
        } catch (err) {
          // No error text while still trying (the status says so); the last try's failure
          // ends the session with its own sentence above.
          if (isServerTrouble(err)) this.transportFailures -= 1;
          console.warn("reconnecting the media failed", err);
        }
      }
    } finally {
      this.recovering = false;
    }
  }
}
