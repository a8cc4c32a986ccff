// The warning before a session's end, and Extend (issue 16). When the countdown reaches
// the warning (the page config's endWarningSeconds, a minute by default, or half-way
// through a session no longer: warnBeforeFor) the session's
// LiveSession calls show(): a sentence in a polite live region (announced, never taking
// the focus) and, when the preset allows it, an Extend button. Extend asks the server for
// a follow-on session (POST /sessions/{id}/extend), which opens a new upstream session and
// closes this one with reason "extended"; the page then moves to it (session.js
// continueIn: its socket and media, the transcript kept on screen). A refusal is said and
// the session goes on until its end.

import { explainFailure } from "./format.js";
import { t, tn } from "./i18n.js";

/**
 * How long before its end a session of `durationSeconds` is warned (ms): `warnMs` (the
 * page config's endWarningSeconds); a session no longer than that (one minute, with the
 * default) would never be warned, so it is warned half-way instead.
 */
export function warnBeforeFor(durationSeconds, warnMs) {
  const ms = Number(durationSeconds) * 1000;
  return ms > 0 && ms <= warnMs ? ms / 2 : warnMs;
}

export const EXTENDING_TEXT = t("Opening a follow-on session…");

/** The warning in whole sentences: when the session ends, and what Extend does. */
export function warningText(secondsLeft, canExtend) {
  const minutes = Math.max(1, Math.round(secondsLeft / 60));
  if (canExtend) {
    return tn(
      "This session ends in about a minute. Press Extend to carry on talking in a follow-on session.",
      "This session ends in about %(count)s minutes. Press Extend to carry on talking in a follow-on session.",
      minutes,
    );
  }
  return tn("This session ends in about a minute.", "This session ends in about %(count)s minutes.", minutes);
}

/** Why Extend was refused, and that the session goes on. */
export function refusalText(err) {
  const action = t("The session could not be extended");
  // Refusals that waiting will not change (the preset, the session's state, the owner)
  // are the server's own words; the rest get the usual hints (limits: when to retry).
  const final = err?.name === "ApiError" && [403, 404, 409].includes(err.status);
  const why = final ? t("%(action)s: %(message)s", { action, message: err.message }) : explainFailure(err, action);
  return `${why}${/[.!?]$/.test(why) ? "" : "."} ${t("It goes on until its time is up.")}`;
}

export class EndWarning {
  /**
   * @param {object} options
   * @param {object} options.el  endWarningBox, endWarning, extendBtn (elements.js)
   * @param {object} options.api  extendSession(id)
   * @param {object} options.notices  notices.js
   * @param {object} options.runner  session.js SessionRunner: live, extending,
   *   continueIn(session), extendFailed()
   * @param {number} [options.warnSeconds]  how long before the end the warning comes
   */
  constructor({ el, api, notices, runner, warnSeconds = 60 }) {
    Object.assign(this, { el, api, notices, runner, warnSeconds });
    this.busy = false;
  }

  wire() {
    this.el.extendBtn.addEventListener("click", () => this.extend());
  }

  /** The warning for `live` (a LiveSession): its words, and Extend if its preset allows. */
  show(live) {
    const { el } = this;
    const canExtend = Boolean(live?.preset?.extend_allowed);
    const left = live?.timeLeft?.left?.(live.clock.now());
    el.endWarning.textContent = warningText(left == null ? this.warnSeconds : left / 1000, canExtend);
    el.endWarningBox.dataset.shown = "true";
    el.extendBtn.hidden = !canExtend;
    this.#idle();
  }

  /** The session ended or moved on: nothing to warn about. */
  hide() {
    const { el } = this;
    el.endWarning.textContent = "";
    el.endWarningBox.dataset.shown = "false";
    el.extendBtn.hidden = true;
    this.#idle();
  }

  /** Extend pressed: open the follow-on and move the page to it; or say why not. */
  async extend() {
    const live = this.runner.live;
    if (!live || live.over || this.busy) return;
    const { el } = this;
    this.busy = true;
    el.extendBtn.disabled = true;
    el.extendBtn.setAttribute("aria-busy", "true");
    el.extendBtn.textContent = t("Extending…");
    // The old session's socket says "closed, extended" any moment now: that is not an end.
    this.runner.extending = live.id;
    this.notices.setStatus(EXTENDING_TEXT, { busy: true });
    let next;
    try {
      next = await this.api.extendSession(live.id, Boolean(this.el.consentCheck?.checked));
    } catch (err) {
      this.#idle();
      if (err?.name === "ApiError" && [403, 404, 409].includes(err.status)) el.extendBtn.hidden = true;
      this.notices.setStatus("");
      this.notices.showError(refusalText(err), err?.code ?? "extend_failed");
      await this.runner.extendFailed();
      return;
    }
    this.hide();
    await this.runner.continueIn(next);
  }

  #idle() {
    const { extendBtn } = this.el;
    this.busy = false;
    extendBtn.disabled = false;
    extendBtn.setAttribute("aria-busy", "false");
    extendBtn.textContent = t("Extend");
  }
}
