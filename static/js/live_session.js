// One running session: its session websocket (Relay), its media transport, its countdown,
// what happens when the server goes away and comes back (outage.js), and rebuilding the
// transport when it fails. Everything it hooks into (relay and transport events, timers)
// lives in its Scope: when the session ends they are let go of together, so no handler
// of an ended session runs, and only code resuming after an `await` asks `over`.
//
// It shows what happens through its collaborators: notices (#status, #error), the stage,
// the transcript view and the controls; the page (session.js) is told when it ends.

import { systemClock, SessionClock } from "./clock.js";
import { describeServerError } from "./format.js";
import { parseStreamMessage, routeServerMessage } from "./messages.js";
import { Outage, RESUMED_TEXT, RESUMING_MEDIA_TEXT } from "./outage.js";
import { Scope } from "./scope.js";
import { SendProgress } from "./send_progress.js";

export const VIDEO_WAIT_NOTE_MS = 20000;
/** Rebuilding a failed media transport: tries before the session is given up. */
export const MAX_TRANSPORT_RECOVERIES = 3;
/** A media reconnect shorter than this is not worth a notice. */
export const MEDIA_DROP_NOTICE_MS = 1500;
/** After the avatar arrives, its params are set again (what was sent before was lost). */
export const RESEND_PARAMS_MS = 300;

const ENDED = new Set(["closed", "failed"]);

/** Close codes the page answers itself (README, "Session websocket"). */
export const CLOSE_SIGNED_OUT = 4401;
export const CLOSE_TAKEN_OVER = 4409;
export const TAKEN_OVER_TEXT = "This session went on in another tab or window. Reload this page to bring it back here.";
export const SIGNED_OUT_TEXT = "You are no longer signed in here, so the session stopped on this page.";

/** A failure of the server's, not of the media: it does not count against the media. */
const isServerTrouble = (err) =>
  err?.name === "ApiError" && (err.code === "network" || err.code === "timeout" || err.status >= 500);

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
  }) {
    Object.assign(this, { session, preset, view, api, notices, stage, controls, makeRelay, makeTransport, params, onEnd });
    this.clock = clock;
    this.id = session.id;
    this.sandbox = session.rtc?.provider === "sandbox";
    this.scope = new Scope(clock);
    this.transportScope = null;
    this.relay = null;
    this.transport = null;
    this.progress = new SendProgress();
    this.endWarning = endWarning;
    this.timeLeft = new SessionClock(warnBeforeMs ? { warnBeforeMs } : {});
    this.outage = new Outage({ notices, now: clock.now });
    this.ending = false;
    this.avatarVideo = this.sandbox; // the sandbox's face is there at once
    this.connectedOnce = false;
    this.afterOutage = false; // reconnected after an outage; the transport is being brought back
    this.mediaDropShown = false;
    this.recovering = false;
    this.transportFailures = 0;
    this.stopTicking = null;
    this.cancelResend = null;
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
    const connecting = this.sandbox ? "Connecting to the sandbox avatar…" : "Loading the video SDK and joining the channel…";
    this.notices.setStatus(connecting, { busy: true, since });
    try {
      await this.#connectTransport(this.session);
    } catch (err) {
      // Ended meanwhile (the server closed it, or the user pressed End): already reported.
      if (this.over) return false;
      throw err;
    }
    if (this.over) return false;
    if (this.sandbox) {
      this.notices.setStatus(resumed ? "Session resumed." : "Connected. Say hello!");
    } else if (!this.avatarVideo) {
      this.#waitForVideo(since);
    }
    return true;
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
          this.view.apply(m);
          this.controls.transcriptLine?.(m);
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
      if (code === CLOSE_TAKEN_OVER) return this.end(TAKEN_OVER_TEXT, { isError: false, next: "" });
      // Signed out (here or elsewhere), or the password changed: the API would refuse too.
      if (code === CLOSE_SIGNED_OUT) return this.end(SIGNED_OUT_TEXT, { isError: true, next: "", signIn: true });
      // 4404, 4410 and friends: ask the API why, for a useful message.
      const closed = "The server closed the connection to this session.";
      const gone = "This session is no longer available: it ended, or it belongs to another account.";
      this.api.session(this.id).then(
        (s) => (ENDED.has(s.status) ? this.end(s) : this.end(closed, { isError: true })),
        () => this.end(gone, { isError: true }),
      );
    });
    scope.on(relay, "frame-queued", (frame) => this.#showProgress(this.progress.queued(frame)));
    scope.on(relay, "frame-sent", (frame) => this.#showProgress(this.progress.sent(frame)));
    scope.on(relay, "send-failed", ({ frame, reason }) => {
      this.#showProgress(this.progress.sent(frame));
      const text = `A message could not be passed to the avatar (${reason}). The server was told; try again.`;
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
      this.notices.setStatus(m.close_reason === "expired" ? "Time is up; the session is ending…" : "The session is ending…", {
        busy: true,
      });
    } else if (back?.resumed) {
      this.#resumeTransport(back.transport);
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
    if (p.done) this.notices.setStatus("Message sent.");
    else this.notices.setStatus(`Sending your message… ${Math.floor((100 * p.sent) / p.total)}%`, { busy: true });
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
        else this.notices.setStatus("One minute left.");
      } else if (timeUp) {
        // The server ends the session at its time and says so on the socket; if that word
        // does not come, ask the API.
        this.notices.setStatus("Time is up; the session is ending…", { busy: true });
        for (const ms of [5000, 15000]) this.scope.timeout(() => this.#checkStillLive(), ms);
      }
    };
    tick();
    this.stopTicking = this.scope.interval(tick, 1000);
  }

  // ---------------------------------------------------------------------------------------
  // The media transport

  /** A new transport from `session.rtc`, wired in a scope of its own, and joined. */
  async #connectTransport(session) {
    const transport = this.makeTransport(session.rtc);
    this.transport = transport;
    this.transportScope = this.scope.child();
    this.#wireTransport(transport, this.transportScope);
    this.relay.attachTransport(transport);
    await transport.connect();
  }

  #wireTransport(transport, scope) {
    const { notices, stage } = this;
    scope.on(transport, "message", (text) => {
      const m = parseStreamMessage(text);
      if (!m) return;
      stage.streamMessage(m);
      if (m.type === "event" && m.event === "sandbox_violation") {
        notices.showError(`The sandbox avatar dropped a message (${m.data.reason ?? "limit"}).`, "sandbox_violation");
      }
    });
    scope.on(transport, "state", (state, info = {}) => {
      // Another tab or window of ours took the avatar's channel (one media user per
      // session: the newest wins, as with the session socket): it goes on there.
      if (state === "failed" && info.code === CLOSE_TAKEN_OVER) {
        return this.end(TAKEN_OVER_TEXT, { isError: false, next: "" });
      }
      const wasConnected = this.connectedOnce;
      if (state === "joined") this.connectedOnce = true;
      if (this.outage.quiet) {
        // The server is away: the outage notice speaks; a failure waits for the relay.
        if (state === "failed" && wasConnected) this.outage.transportFailed();
        return;
      }
      const troubled = this.afterOutage || this.transportFailures > 0 || this.mediaDropShown;
      const since = this.clock.now();
      if (state === "waiting") notices.setStatus("Joined. Waiting for the avatar to arrive…", { busy: true, since });
      else if (state === "reconnecting") this.#mediaDropped(transport, scope);
      else if (state === "joined" && troubled) this.#mediaBack();
      else if (state === "failed" && wasConnected) this.#recoverTransport();
    });
    scope.on(transport, "avatar-published", ({ mediaType }) => {
      if (mediaType === "video" && !this.avatarVideo) {
        this.avatarVideo = true;
        stage.waitForVideo(false);
        notices.setStatus("Connected. Say hello!");
      }
      // Stream messages sent before the avatar was there were lost: set its params again.
      this.cancelResend?.();
      this.cancelResend = this.scope.timeout(() => {
        this.relay.send({ type: "set_params", params: this.params() }, { queue: true });
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

  #waitForVideo(since) {
    this.notices.setStatus("Waiting for the avatar’s video…", { busy: true, since });
    this.scope.timeout(() => {
      if (this.avatarVideo) return;
      this.notices.setStatus("Still waiting for the avatar’s video. It can take a minute; you can type already.", {
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
  #mediaDropped(transport, scope) {
    scope.timeout(() => {
      if (transport.state !== "reconnecting" || this.outage.quiet) return;
      this.notices.setStatus("The media connection dropped; reconnecting…", { busy: true });
      this.mediaDropShown = true;
    }, MEDIA_DROP_NOTICE_MS);
  }

  /** The transport works again: say so (after an outage, that the session goes on). */
  #mediaBack() {
    this.notices.setStatus(this.afterOutage ? RESUMED_TEXT : "Media connection restored.");
    this.afterOutage = false;
    this.mediaDropShown = false;
  }

  /** After an outage the session goes on: bring the transport back if it needs it. */
  #resumeTransport(plan) {
    if (plan === "none") return;
    this.afterOutage = true;
    if (plan === "rebuild") {
      this.#recoverTransport({ immediate: true });
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
  async #recoverTransport({ immediate = false } = {}) {
    if (this.outage.quiet) {
      this.outage.transportFailed();
      return;
    }
    if (this.recovering) return;
    // Time is up: the server is ending the session (and closed the media first); its word
    // on the socket, or the API check the countdown scheduled, ends the page's session.
    if (this.timeLeft.left(this.clock.now()) === 0) return;
    this.recovering = true;
    let wait = !immediate;
    // The server went away meanwhile: wait for it (resumed from the session frame).
    const pause = () => {
      if (!this.outage.quiet) return false;
      this.outage.transportFailed();
      return true;
    };
    try {
      while (!this.over) {
        if (pause()) return;
        this.transportFailures += 1;
        if (this.transportFailures > MAX_TRANSPORT_RECOVERIES) {
          const why = "The media connection to the avatar was lost.";
          await this.end(why, { isError: true });
          this.api.closeSession(this.id, why).catch(() => {});
          return;
        }
        const since = this.clock.now();
        if (this.afterOutage) this.notices.setStatus(RESUMING_MEDIA_TEXT, { busy: true, since });
        if (wait) await this.scope.sleep(1000 * this.transportFailures);
        wait = true;
        // After the pause: if the session is ending, its own word comes first.
        if (this.over || pause()) return;
        this.notices.setStatus(this.afterOutage ? RESUMING_MEDIA_TEXT : "The media connection was lost; reconnecting…", {
          busy: true,
          since,
        });
        try {
          const s = await this.api.session(this.id);
          if (this.over) return;
          if (s.status !== "active" || !s.rtc) {
            await this.end(s);
            return;
          }
          this.transportScope.close();
          await Promise.allSettled([this.controls.releaseDevices(), this.transport.close()]);
          if (this.over || pause()) return;
          // Its "joined" says that it works again (#wireTransport: #mediaBack).
          await this.#connectTransport(s);
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
