// One running session: its session websocket (Relay), its media transport (live_media.js),
// its countdown, and what happens when the server goes away and comes back (outage.js).
// Everything it hooks into (relay and transport events, timers)
// lives in its Scope: when the session ends they are let go of together, so no handler
// of an ended session runs, and only code resuming after an `await` asks `over`.
//
// It shows what happens through its collaborators: notices (#status, #error), the stage,
// the transcript view and the controls; the page (session.js) is told when it ends.

import { systemClock, SessionClock, WARN_BEFORE_MS } from "./clock.js";
import { warnBeforeFor } from "./extend.js";
import { autoText, offerFallback } from "./fallback.js";
import { describeServerError, signedOutText } from "./format.js";
import { CLOSE_TAKEN_OVER, LiveMedia, TAKEN_OVER_TEXT } from "./live_media.js";
import { routeServerMessage } from "./messages.js";
import { Outage } from "./outage.js";
import { Scope } from "./scope.js";
import { SendProgress } from "./send_progress.js";
import { t } from "./i18n.js";
import { networkName as networkNameOf } from "./transport_base.js";

export {
  CLOSE_TAKEN_OVER,
  MAX_TRANSPORT_RECOVERIES,
  MEDIA_DROP_NOTICE_MS,
  RESEND_PARAMS_MS,
  TAKEN_OVER_TEXT,
  VIDEO_WAIT_NOTE_MS,
} from "./live_media.js";

const ENDED = new Set(["closed", "failed"]);

/** Close codes the page answers itself (README, "Session websocket"). */
export const CLOSE_SIGNED_OUT = 4401;
/** What a signed-out page says (an embed's says to reload: format.js signedOutText). */
export const SIGNED_OUT_TEXT = signedOutText();

/** After a fallback: the network it is on now, and the one that could not be reached. */
function connectedAfterFallback(now, before) {
  if (!now) return null;
  return before
    ? t("Connected over %(network)s, since %(other)s could not be reached. Say hello!", { network: now, other: before })
    : t("Connected over %(network)s. Say hello!", { network: now });
}

export class LiveSession {
  /**
   * @param {object} options
   * @param {object} options.session  the API's session (active, with `rtc`)
   * @param {object} [options.preset]  its preset from the catalog
   * @param {object} options.view  transcript.js TranscriptView
   * @param {object} options.api  session(id), closeSession(id, failure)
   * @param {object} options.notices  notices.js
   * @param {object} options.stage  stage.js
   * @param {object} options.controls  controls.js: command results, devices
   * @param {(session) => object} options.makeRelay  a Relay for the session's socket
   * @param {(rtc) => object} options.makeTransport  a transport for `rtc` credentials
   * @param {() => object} options.params  the settings to set again when the avatar arrives
   * @param {(info, options) => Promise} options.onEnd  the page stops it and says why it ended
   * @param {object} [options.clock]  now and timers (clock.js systemClock)
   * @param {object} [options.endWarning]  extend.js EndWarning: the warning before the end
   * @param {number} [options.warnBeforeMs]  how long before the end it comes (a minute)
   * @param {string} [options.fallback]  after a failed join: "offer" another network,
   *   go to it at once ("auto"), or not ("off"); the site's AKOOL_FALLBACK
   * @param {(frame, result) => void} [options.onTranscript]  each transcript frame and
   *   what it did to its line (transcript.js apply), after the view showed it
   */
  constructor({
    session,
    preset = null,
    view,
    api,
    notices,
    stage,
    controls,
    makeRelay,
    makeTransport,
    params,
    onEnd,
    clock = systemClock,
    endWarning = null,
    warnBeforeMs = undefined,
    fallback = "offer",
    onTranscript = null,
  }) {
    Object.assign(this, { session, preset, view, api, notices, stage, controls, makeRelay, makeTransport, params, onEnd });
    this.clock = clock;
    this.id = session.id;
    this.sandbox = session.rtc?.provider === "sandbox";
    this.scope = new Scope(clock);
    this.relay = null;
    this.progress = new SendProgress();
    this.endWarning = endWarning;
    this.timeLeft = new SessionClock({ warnBeforeMs: warnBeforeFor(session.duration, warnBeforeMs || WARN_BEFORE_MS) });
    this.outage = new Outage({ notices, now: clock.now });
    this.ending = false;
    this.stopTicking = null;
    this.media = new LiveMedia(this);
    this.fallback = fallback;
    this.onTranscript = onTranscript;
    this.cancelOffer = null;
  }

  /** The media transport now (the controls' microphone joins it; rebuilt on failure). */
  get transport() {
    return this.media.transport;
  }

  /** Ended, or ending: nothing more of it happens. */
  get over() {
    return this.ending || this.scope.closed;
  }

  /**
   * Connect the relay and the transport. Resolves true once joined, false if the session
   * ended meanwhile (already said); rejects if the transport could not connect.
   */
  async run({ resumed = false } = {}) {
    this.#startCountdown(this.session.expires_at);
    this.relay = this.makeRelay(this.session);
    this.#wireRelay(this.relay);
    this.relay.connect();

    const since = this.clock.now();
    const connecting = this.sandbox ? t("Connecting to the sandbox avatar…") : t("Loading the video SDK and joining the channel…");
    this.notices.setStatus(connecting, { busy: true, since });
    try {
      await this.media.connect(this.session);
    } catch (err) {
      // Ended meanwhile (the server closed it, or the user pressed End): already reported.
      if (this.over) return false;
      const from = this.session.network ?? this.session.rtc?.network ?? "";
      const next = await this.#fallBack(err);
      if (this.over) return false;
      // Said once connected (and kept as the page's news): where it went, and why.
      this.connectedText = connectedAfterFallback(networkNameOf(next.network ?? ""), networkNameOf(from));
      this.session = next;
      try {
        await this.media.replace(next);
      } catch (again) {
        if (this.over) return false;
        throw again;
      }
    }
    if (this.over) return false;
    if (this.sandbox) {
      this.notices.setStatus(resumed ? t("Session resumed.") : this.connectedText ?? t("Connected. Say hello!"));
    } else if (!this.media.avatarVideo) {
      this.media.waitForVideo(since);
    }
    return true;
  }

  /**
   * The join failed: when the session may go on over another network (and the site
   * allows it), offer that (or go at once) and resolve with the session on its new
   * network; otherwise, or if the user ends it, rethrow `err` (the page ends it as failed).
   */
  async #fallBack(err) {
    const to = this.session.fallback_networks?.[0];
    if (!err?.joinFailed || !to || this.fallback === "off") throw err;
    const from = this.session.network ?? this.session.rtc?.network ?? "";
    if (this.fallback === "auto") {
      this.notices.setStatus(autoText(networkNameOf(to)), { busy: true, since: this.clock.now() });
    } else {
      const offer = offerFallback(this.notices, { from, to });
      this.cancelOffer = offer.cancel;
      const go = await offer.choice;
      this.cancelOffer = null;
      if (!go || this.over) throw err;
    }
    this.notices.setStatus(t("Trying %(network)s…", { network: networkNameOf(to) }), { busy: true, since: this.clock.now() });
    const next = await this.api.fallbackSession(this.id, to);
    if (next?.status !== "active" || !next.rtc) throw err;
    return next;
  }

  /** The server or the user ended it: stop, and let the page say why (once). */
  async end(info, options = {}) {
    if (this.over) return;
    this.ending = true;
    this.view.cutOpen();
    await this.onEnd(info, options);
  }

  /** Let go of everything (no server calls); the page tidies its own parts. */
  async stop() {
    this.ending = true;
    this.cancelOffer?.();
    this.endWarning?.hide();
    this.scope.close();
    this.relay?.close();
    await this.transport?.close();
  }

  /** The browser says it went offline or came back: redraw the notice; retry now if back. */
  networkChanged(online) {
    this.outage.show();
    if (online) this.relay?.retryNow();
  }

  // ---------------------------------------------------------------------------------------
  // The session websocket

  #wireRelay(relay) {
    const { scope, notices } = this;
    scope.on(relay, "message", (msg) =>
      routeServerMessage(msg, {
        transcript: (m) => {
          const result = this.view.apply(m);
          this.controls.transcriptLine?.(m);
          this.onTranscript?.(m, result);
        },
        avatar: (m) => this.stage.setSpeaking(m.speaking),
        command_result: (m) => this.controls.commandResult(m),
        session: (m) => this.#sessionFrame(m),
        error: (m) => {
          notices.showError(describeServerError(m), m.code);
          this.controls.serverError?.(m);
        },
      }),
    );
    scope.on(relay, "state", (info) => {
      // A new socket: the commands it replays are the whole list.
      if (info.state === "open") this.controls.relayOpened();
      // While it reconnects: one notice, updated (outage.js).
      this.outage.relayState(info);
      if (info.state === "reconnecting" && info.attempt >= 3) this.#checkStillLive();
    });
    scope.on(relay, "ended", ({ code } = {}) => {
      // Another tab or window of ours holds the session now: it goes on there, untouched.
      if (code === CLOSE_TAKEN_OVER) return this.end(TAKEN_OVER_TEXT, { isError: false, offerNew: false });
      // Signed out (here or elsewhere), or the password changed: the API would refuse too.
      if (code === CLOSE_SIGNED_OUT) return this.end(signedOutText(), { isError: true, offerNew: false, signIn: true });
      // 4404, 4410 and friends: ask the API why, for a useful message.
      const closed = t("The server closed the connection to this session.");
      const gone = t("This session is no longer available: it ended, or it belongs to another account.");
      this.api.session(this.id).then(
        (s) => (ENDED.has(s.status) ? this.end(s) : this.end(closed, { isError: true })),
        () => this.end(gone, { isError: true }),
      );
    });
    scope.on(relay, "frame-queued", (frame) => this.#showProgress(this.progress.queued(frame)));
    scope.on(relay, "frame-sent", (frame) => this.#showProgress(this.progress.sent(frame)));
    scope.on(relay, "send-failed", ({ frame, reason }) => {
      this.#showProgress(this.progress.sent(frame));
      const text = t("A message could not be passed to the avatar (%(reason)s). The server was told; try again.", { reason });
      notices.showError(text, "rtc_send_failed");
    });
  }

  #sessionFrame(m) {
    if (m.expires_at) this.#startCountdown(m.expires_at);
    // The first frame after an outage says whether the session went on.
    const back = this.outage.sessionFrame(m.status, this.transport?.state);
    if (ENDED.has(m.status)) {
      this.end(m);
    } else if (m.status === "closing") {
      this.notices.setStatus(m.close_reason === "expired" ? t("Time is up; the session is ending…") : t("The session is ending…"), {
        busy: true,
      });
    } else if (back?.resumed) {
      this.media.resume(back.transport);
    }
  }

  /** While the socket keeps failing, or the time is up: has the session ended meanwhile? */
  #checkStillLive() {
    this.api.session(this.id).then(
      (s) => {
        if (ENDED.has(s.status)) this.end(s);
      },
      (err) => {
        if (err?.status === 404) this.end({ status: "closed", close_reason: null });
      },
    );
  }

  #showProgress(p) {
    if (!p?.multi) return;
    // In a person's words: the frames are the server's business, the share is the user's.
    if (p.done) this.notices.setStatus(t("Message sent."));
    else this.notices.setStatus(t("Sending your message… %(share)s", { share: `${Math.floor((100 * p.sent) / p.total)}%` }), { busy: true });
  }

  /** The countdown, the one-minute warning and the moment the time is up (clock.js). */
  #startCountdown(expiresAt) {
    this.stopTicking?.();
    this.stopTicking = null;
    if (!this.timeLeft.set(expiresAt, this.clock.now())) {
      this.stage.setEnd(null);
      return;
    }
    this.stage.setEnd(expiresAt);
    const tick = () => {
      const { text, low, minuteLeft, timeUp } = this.timeLeft.tick(this.clock.now());
      this.stage.showTimeLeft(text, low);
      // During an outage its notice stays: the server says how the session ended when back.
      if (this.outage.quiet || this.ending) return;
      if (minuteLeft) {
        if (this.endWarning) this.endWarning.show(this);
        else this.notices.setStatus(t("One minute left."));
      } else if (timeUp) {
        // The server ends the session at its time and says so on the socket; if that word
        // does not come, ask the API.
        this.notices.setStatus(t("Time is up; the session is ending…"), { busy: true });
        for (const ms of [5000, 15000]) this.scope.timeout(() => this.#checkStillLive(), ms);
      }
    };
    tick();
    this.stopTicking = this.scope.interval(tick, 1000);
  }
}
