// The page's sessions: Start (POST /sessions, then wait while it is "starting"), resume
// the one already running when the page opens, End, and back to the start screen with
// what happened, whatever ended it. Every wait shows progress in #status, every failure
// says what happened and what to do in #error, and the page always comes back to a state
// where Start works. The running session itself is a LiveSession (live_session.js).

import { systemClock } from "./clock.js";
import { TAKEN_OVER_TEXT, describeEnd, endedInFailure, explainFailure } from "./format.js";
import { t } from "./i18n.js";

export const STARTING_TIMEOUT_MS = 90000;
export const ENDED_ELSEWHERE_TEXT = t(
  "The session that went on in another tab or on another device has ended. You can start a new session.",
);
export const ALREADY_ENDED_TEXT = t("This session has already ended. You can start a new session.");
export const EXTENDED_TEXT = t("The session goes on in a follow-on session.");
const ENDED = new Set(["closed", "failed"]);
/** How often a "starting" session is asked whether it is ready. */
export const STARTING_POLL_MS = 1000;

export class SessionRunner {
  /**
   * @param {object} options
   * @param {object} options.el  app, setupPanel, sessionPanel, sessionTitle, endBtn, transcript
   * @param {object} options.api  api.js
   * @param {object} options.notices  notices.js
   * @param {object} options.setup  setup.js
   * @param {() => Promise<object>} options.loadLive  the running session's code, loaded
   *   when first needed (page.js, live_parts.js): its stage (stage.js), controls
   *   (controls.js), makeRelay and makeTransport, LiveSession and TranscriptView
   * @param {object} [options.clock]  clock.js systemClock
   * @param {boolean} [options.speech]  the sandbox reads its answers aloud
   * @param {(url, data) => boolean} [options.sendBeacon]  navigator.sendBeacon
   * @param {string} [options.csrfToken]  for the beacon, which cannot set headers
   * @param {string} [options.loginUrl]  the sign-in page, offered when signed out
   * @param {object} options.claims  tab_claims.js: which tab holds which session
   * @param {object} options.liveList  live_list.js: the user's live sessions, to pick from
   * @param {object} [options.events]  an Emitter told "session-started", "transcript" (a
   *   line that ended) and "session-ended" (the embed page passes them to its host page)
   */
  constructor({
    el,
    api,
    notices,
    setup,
    loadLive,
    clock = systemClock,
    speech = false,
    sendBeacon = null,
    csrfToken = "",
    loginUrl = "",
    claims,
    liveList,
    events = null,
  }) {
    Object.assign(this, { el, api, notices, setup, loadLive, clock, speech, events });
    Object.assign(this, { sendBeacon, csrfToken, loginUrl, claims, liveList });
    /** The running session; null on the start screen. */
    this.live = null;
    /** The session that went on in another tab (its notice stands while it runs). */
    this.elsewhere = null;
    /** extend.js: the warning before the end (set by page.js), and how long before. */
    this.endWarning = null;
    this.warnBeforeMs = undefined;
    /** The id of the session being extended, and its "extended" end held back meanwhile. */
    this.extending = null;
    this.extendedEnd = null;
  }

  wire() {
    this.el.endBtn.addEventListener("click", () => this.end());
    // Another tab took the session this tab runs: it goes on there; this tab lets go.
    this.claims.onTaken = (id) => {
      if (this.live?.id === id) this.live.end(TAKEN_OVER_TEXT, { isError: false, offerNew: false });
    };
    // A session ended in another tab (or with End in a list there): stop offering it here.
    this.claims.onEnded = (id) => this.#sawEnd(id);
    this.liveList.onEnded = (id) => this.claims.ended(id);
  }

  /** Open the page: the catalog, then the session already running, if any. */
  async boot() {
    this.showPhase("setup");
    // Start waits until we know whether a session is already running (then it resumes).
    this.setup.setReady(false);
    try {
      await this.setup.load();
      await this.resume();
    } finally {
      this.setup.setReady(true);
    }
  }

  showPhase(phase) {
    const { el } = this;
    el.app.dataset.phase = phase;
    el.setupPanel.hidden = phase !== "setup";
    el.sessionPanel.hidden = phase !== "session";
  }

  /** Start pressed: a new session with the chosen settings. */
  async start() {
    if (this.setup.starting || this.live) return;
    this.elsewhere = null;
    this.notices.clearError();
    const body = await this.setup.startRequest();
    if (!body) return;
    this.setup.setStarting(true);
    let session = null;
    try {
      this.notices.setStatus(t("Creating the session…"), { busy: true, since: this.clock.now() });
      // Its code first: a session the page cannot run is never created (nor billed).
      await this.#loadLive();
      session = await this.api.createSession(body);
      session = await this.#untilActive(session);
      await this.#run(session);
    } catch (err) {
      // Over the cap: waiting never frees a slot; the user picks one to go on with or end.
      if (!session && err?.code === "concurrent_sessions_limit" && (await this.#listLive("full"))) return;
      await this.#abandon(err, session, t("Could not start the session"));
    } finally {
      this.setup.setStarting(false);
    }
  }

  /** The page opened while a session of ours runs (a reload): go on with it. */
  async resume() {
    let list;
    try {
      list = await this.api.activeSessions();
    } catch (err) {
      this.notices.showError(explainFailure(err, t("Could not check for a running session")));
      return;
    }
    const running = (list?.items ?? []).filter((s) => s.status === "active" || s.status === "starting");
    if (!running.length) return;
    // A session another page holds is not joined unasked: another tab of this browser
    // says so, another device's page shows as `connected`. This tab's own session (a
    // reload) is not another page's, though its old socket may count a moment longer.
    // One no page holds (this tab's first) is resumed as it always was.
    const elsewhere = await this.claims.heldElsewhere();
    const mine = this.claims.remembered();
    const held = (s) => elsewhere.has(s.id) || (s.connected === true && s.id !== mine);
    const free = running.filter((s) => !held(s));
    const found = free.find((s) => s.id === mine) ?? free[0];
    if (!found) {
      await this.liveList.show("elsewhere", { items: running });
      return;
    }
    await this.#resumeId(found.id);
  }

  /** "Continue here" (or "Take it back"): the tab that holds it lets go; this tab joins. */
  async continueHere(id) {
    if (this.live || this.setup.starting) return;
    this.notices.clearError();
    // It may have ended since the list showed it (elsewhere, another device): say so.
    this.setup.setStarting(true);
    const ended = await this.#hasEnded(id).finally(() => this.setup.setStarting(false));
    if (ended) {
      this.#sawEnd(id, ALREADY_ENDED_TEXT);
      return;
    }
    if (this.live) return;
    this.claims.takeOver(id);
    await this.#resumeId(id);
  }

  async #resumeId(id) {
    this.liveList.hide();
    this.elsewhere = null;
    this.setup.setStarting(true);
    let session = null;
    try {
      this.notices.setStatus(t("Resuming your session…"), { busy: true, since: this.clock.now() });
      // Its code first: if that fails to load, the session is left running (a reload
      // resumes it); a failure from here on closes it (#abandon).
      await this.#loadLive();
      session = { id };
      session = await this.#untilActive(await this.api.session(id));
      this.setup.showSession(session);
      await this.#run(session, { resumed: true });
    } catch (err) {
      await this.#abandon(err, session, t("Could not resume your session"));
    } finally {
      this.setup.setStarting(false);
    }
  }

  /** End pressed. */
  async end() {
    const l = this.live;
    if (!l || l.over) return;
    this.el.endBtn.disabled = true;
    this.notices.setStatus(t("Ending the session…"), { busy: true });
    try {
      const s = await this.api.closeSession(l.id);
      await l.end({ status: s.status, close_reason: s.close_reason ?? "user", error: s.error });
    } catch (err) {
      if (err?.status === 404) {
        await l.end({ status: "closed", close_reason: null });
      } else {
        this.notices.setStatus("");
        this.notices.showError(explainFailure(err, t("Could not end the session")));
      }
    } finally {
      this.el.endBtn.disabled = false;
    }
  }

  /**
   * The page goes away: tell the server (a reload reconnects within the grace period and
   * resumes). Beacons cannot set headers, so the CSRF token travels in the form; the
   * embed page, whose token goes in a header, says it with a keepalive fetch instead.
   */
  pageHidden() {
    const l = this.live;
    if (!l || l.over) return;
    if (this.api.bearer) {
      this.api.leaveWithBearer(l.id);
      return;
    }
    if (!this.sendBeacon) return;
    const form = new FormData();
    form.append("csrfmiddlewaretoken", this.csrfToken);
    this.sendBeacon(this.api.leaveUrl(l.id), form);
  }

  /** The browser's word on the network (the outage notice says whose trouble it is). */
  networkChanged(online) {
    this.live?.networkChanged(online);
  }

  /**
   * The tab is looked at again: if the session that went on in another tab has ended
   * meanwhile, its "went on in another tab" notice is replaced by what is true now.
   */
  async pageVisible() {
    if (!this.live && this.liveList.shown) this.liveList.refresh();
    const id = this.elsewhere;
    if (!id || this.live) return;
    if (await this.#hasEnded(id)) this.#sawEnd(id);
  }

  /** Whether session `id` has ended (false when the server cannot say now). */
  async #hasEnded(id) {
    try {
      return ENDED.has((await this.api.session(id)).status);
    } catch (err) {
      return err?.status === 404;
    }
  }

  /**
   * Session `id` has ended elsewhere: the tab it was taken from says so in words (no
   * error) and offers Start; a list that showed it drops it.
   */
  #sawEnd(id, otherwise = null) {
    if (this.live) return;
    const taken = this.elsewhere === id;
    if (taken) this.elsewhere = null;
    if (taken || this.liveList.only === id) this.liveList.hide();
    else if (this.liveList.shown) this.liveList.refresh();
    const text = taken ? ENDED_ELSEWHERE_TEXT : otherwise;
    if (!text) return;
    this.notices.clearError();
    this.notices.setStatus(text);
    this.setup.focusStart();
  }

  /** Extend: the page moves to the follow-on session `next`, the transcript kept. */
  async continueIn(next) {
    // The same view: the new socket replays the whole conversation (the sessions it
    // continues included), which then updates the lines in place rather than doubling them.
    const view = this.live?.view ?? null;
    await this.#teardown();
    this.extending = null;
    this.extendedEnd = null;
    try {
      const s = await this.#untilActive(next);
      if (await this.#run(s, { view })) this.notices.setStatus(EXTENDED_TEXT);
    } catch (err) {
      await this.#abandon(err, next, t("Could not carry on in the follow-on session"));
    }
  }

  /** Extend was refused: an "extended" end that came meanwhile is an end after all. */
  async extendFailed() {
    const held = this.extendedEnd;
    this.extending = null;
    this.extendedEnd = null;
    if (held) await this.#ended(...held);
  }

  /** Show the session, connect it; resolves once joined (true) or ended (false). */
  async #run(session, { resumed = false, view: kept = null } = {}) {
    const { el } = this;
    const preset = this.setup.presetBySlug(session.preset);
    const view = kept ?? new this.TranscriptView(el.transcript);
    if (!kept) view.clear();
    el.app.dataset.ended = "false";
    const live = new this.LiveSession({
      session,
      preset,
      view,
      api: this.api,
      notices: this.notices,
      stage: this.stage,
      controls: this.controls,
      makeRelay: this.makeRelay,
      makeTransport: this.makeTransport,
      clock: this.clock,
      params: () => this.setup.params(),
      onEnd: (info, options) => this.#ended(info, options),
      endWarning: this.endWarning,
      warnBeforeMs: this.warnBeforeMs,
      onTranscript: (m, result) => this.#lineEnded(m, result),
    });
    this.live = live;
    this.claims.hold(live.id);
    this.liveList.hide();
    el.sessionTitle.textContent = preset?.name ?? session.preset ?? t("Live session");
    this.showPhase("session");
    this.controls.attach(live);
    this.stage.prepare({
      sandbox: live.sandbox,
      name: preset?.name ?? "",
      slug: session.preset ?? "",
      thumbnail: preset?.thumbnail_url ?? "",
      gender: this.setup.catalog.voices.find((v) => v.slug === preset?.default_voice)?.gender ?? "",
      language: this.setup.language || session.language || "",
      voice: this.speech,
      background: this.setup.background,
    });
    const joined = await live.run({ resumed });
    if (joined) {
      // What tests (and people's tools) can read: this tab's media is connected.
      el.app.dataset.media = "on";
      this.controls.focusChat();
      this.events?.emit("session-started", { session: { id: live.id, preset: session.preset ?? "" } });
    }
    return joined;
  }

  /** A line ended (the user's as soon as the server took it): news for `events`. Not a
   * replay (a reconnect's), nor a final frame that changed nothing. */
  #lineEnded(m, result) {
    const line = result?.line;
    if (!line || !result.changed || !line.final || m.replay || !m.final) return;
    this.events?.emit("transcript", { role: line.role, text: line.text, final: true });
  }

  /** The running session's code, once: stage, controls, makeRelay, makeTransport, LiveSession... */
  async #loadLive() {
    if (!this.LiveSession) Object.assign(this, await this.loadLive());
  }

  /** Show the live sessions for `reason` (live_list.js); false when none is live. */
  async #listLive(reason) {
    this.notices.setStatus("");
    this.notices.clearError();
    const shown = await this.liveList.show(reason);
    if (shown) this.liveList.focus();
    return shown;
  }

  /** Poll a "starting" session until it is active with credentials; throw if it ends. */
  async #untilActive(session) {
    const deadline = this.clock.now() + STARTING_TIMEOUT_MS;
    let s = session;
    let waiting = false;
    while (s.status === "starting" || (s.status === "active" && !s.rtc)) {
      if (this.clock.now() > deadline) throw new Error(t("The avatar service is taking too long to start. Try again in a minute."));
      if (!waiting) {
        waiting = true;
        this.notices.setStatus(t("Waiting for the avatar service to start the session…"), { busy: true, since: this.clock.now() });
      }
      await new Promise((resolve) => this.clock.setTimeout(resolve, STARTING_POLL_MS));
      s = await this.api.session(s.id);
    }
    if (s.status !== "active") throw new Error(describeEnd(s));
    return s;
  }

  /** A start or resume failed: tidy up, close what we opened, and say why. */
  async #abandon(err, session, action) {
    await this.#teardown();
    if (session?.id) {
      // An unusable session still bills and holds a slot: close it now, saying why.
      this.api.closeSession(session.id, explainFailure(err, action)).catch(() => {});
      this.claims.ended(session.id);
    }
    this.showPhase("setup");
    this.notices.setStatus("");
    const link = err?.status === 401 && this.loginUrl ? { href: this.loginUrl, text: t("Sign in again") } : null;
    this.notices.showError(explainFailure(err, action), err?.code ?? "", link);
    this.setup.focusStart();
  }

  /** The server or the user ended the running session: say why, back to the start. */
  async #ended(info, { isError = null, offerNew = true, signIn = false } = {}) {
    const id = this.live?.id ?? null;
    // Extend under way: the old session closing as "extended" is the move, not an end.
    if (id && id === this.extending && info?.close_reason === "extended") {
      this.extendedEnd = [info, { isError, offerNew, signIn }];
      return;
    }
    await this.#teardown();
    this.elsewhere = info === TAKEN_OVER_TEXT ? id : null;
    // Ended here (not moved to another tab): a tab it was taken from stops offering it.
    if (id && !this.elsewhere) this.claims.ended(id);
    this.showPhase("setup");
    this.#keepEnded(id);
    // Taken by another tab: offer it back here while it runs there.
    if (this.elsewhere) this.liveList.show("taken", { only: id });
    const why = typeof info === "string" ? info : describeEnd(info);
    // The website's key was turned off: a new session could not start either.
    if (info?.close_reason === "revoked") offerNew = false;
    this.events?.emit("session-ended", { reason: (typeof info === "object" && info?.close_reason) || null, words: why });
    // One sentence to translate, the reason inside it (never two fragments joined).
    const text = offerNew ? t("%(ended)s You can start a new session.", { ended: why }) : why;
    const failed = isError ?? (typeof info === "object" && endedInFailure(info));
    if (failed) {
      this.notices.setStatus("");
      const link = signIn && this.loginUrl ? { href: this.loginUrl, text: t("Sign in again") } : null;
      this.notices.showError(text, "session_ended", link);
    } else {
      this.notices.clearError();
      this.notices.setStatus(text);
    }
    this.setup.focusStart();
  }

  /**
   * Issue 17: the ended conversation stays readable (read-only, CSS) under the notice until
   * the next Start, with a link to it in History; the page goes back to its top, where the
   * notice is (a phone had scrolled down to the chat box).
   */
  #keepEnded(id) {
    const { el } = this;
    const kept = Boolean(id) && el.transcript.children.length > 0;
    el.app.dataset.ended = String(kept);
    if (kept) el.endedHistoryLink.href = `/history/${id}/`;
    globalThis.scrollTo?.(0, 0);
  }

  /** Stop everything that belongs to the running session (no server calls). */
  async #teardown() {
    const l = this.live;
    this.live = null;
    if (!l) return;
    this.claims.release();
    this.el.app.dataset.media = "off";
    const stopped = Promise.allSettled([l.stop(), this.controls.detach()]);
    this.stage.stopFace();
    await stopped;
    this.stage.reset();
  }
}
