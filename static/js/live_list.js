// The user's live sessions on the start screen, each with "Continue here" and "End": shown
// when Start is refused because the user already holds as many as allowed, when the page
// opens while its sessions run in other tabs, and in the tab a session was taken from
// ("Take it back"). Ending one refreshes the list, so Start works again at once.

import { explainFailure } from "./format.js";
import { t, tn } from "./i18n.js";

/** The list's heading: why it shows (`reason`), for `n` sessions. */
export function listHeading(reason, n) {
  if (reason === "full") {
    return tn(
      "You already have a live session. End it to start another, or continue it here.",
      "You already have %(count)s live sessions. End one to start another, or continue one here.",
      n,
    );
  }
  if (reason === "taken") return t("You can take it back to go on here.");
  if (reason === "live") {
    return tn("You have a live session. Continue it here, or end it.", "You have %(count)s live sessions. Continue one here, or end one.", n);
  }
  return tn(
    "This session is open in another tab or on another device. Continue here?",
    "Your sessions are open in other tabs or on other devices. Continue one here?",
    n,
  );
}

const LIVE = new Set(["starting", "active"]);

export class LiveList {
  /**
   * @param {object} options
   * @param {object} options.box  the list's element (section#live-list)
   * @param {object} options.api  activeSessions(), closeSession(id)
   * @param {object} options.notices  notices.js
   * @param {(slug) => object} options.presetBySlug  the catalog's preset (its name)
   * @param {(id) => void} options.onContinue  "Continue here" (or "Take it back") pressed
   * @param {object} options.clock  now (clock.js)
   */
  constructor({ box, api, notices, presetBySlug, onContinue, clock }) {
    Object.assign(this, { box, api, notices, presetBySlug, onContinue, clock });
    this.doc = box.ownerDocument;
    this.reason = null;
    this.only = null; // "taken": the one session taken from this tab
    this.onEnded = () => {}; // End pressed here: other tabs stop offering it
  }

  get shown() {
    return !this.box.hidden;
  }

  /** Keyboard focus on the first choice (the list just appeared in place of Start's work). */
  focus() {
    this.box.querySelector("button")?.focus();
  }

  hide() {
    this.reason = null;
    this.only = null;
    this.box.hidden = true;
    this.box.replaceChildren();
  }

  /**
   * Show the live sessions (`items`, or asked of the server) for `reason`; with `only`,
   * just that one. Hidden, and false, when none is live.
   */
  async show(reason, { items = null, only = null } = {}) {
    let list = items;
    if (!list) {
      try {
        list = (await this.api.activeSessions())?.items ?? [];
      } catch (err) {
        this.notices.showError(explainFailure(err, t("Could not list your live sessions")));
        return false;
      }
    }
    list = list.filter((s) => LIVE.has(s.status) && (!only || s.id === only));
    if (!list.length) {
      this.hide();
      return false;
    }
    this.reason = reason;
    this.only = only;
    this.#render(list);
    return true;
  }

  /** Ask the server again (a session ended meanwhile, here or elsewhere). */
  refresh() {
    return this.reason ? this.show(this.reason, { only: this.only }) : Promise.resolve(false);
  }

  #render(list) {
    const { doc } = this;
    const heading = doc.createElement("h2");
    heading.id = "live-list-title";
    heading.className = "section-title";
    heading.textContent = listHeading(this.reason, list.length);
    const ol = doc.createElement("ul");
    ol.className = "live-sessions";
    ol.append(...list.map((s) => this.#row(s)));
    this.box.replaceChildren(heading, ol);
    this.box.hidden = false;
  }

  #row(s) {
    const { doc } = this;
    const name = this.presetBySlug(s.preset)?.name || s.preset || t("Avatar");
    const li = doc.createElement("li");
    li.className = "live-session";
    li.dataset.id = s.id;
    const title = Object.assign(doc.createElement("strong"), { className: "live-name", textContent: name });
    // Each row's buttons say the same words: a screen reader also hears whose session it is.
    title.id = `live-name-${s.id}`;
    const when = Object.assign(doc.createElement("span"), { className: "muted small", textContent: this.#when(s) });
    const go = this.#button(this.reason === "taken" ? t("Take it back") : t("Continue here"), "primary", "continue");
    go.addEventListener("click", () => this.onContinue(s.id));
    const end = this.#button(t("End"), "danger", "end");
    end.addEventListener("click", () => this.#end(s.id, name, end));
    for (const b of [go, end]) b.setAttribute("aria-describedby", title.id);
    li.append(title, when, go, end);
    return li;
  }

  #button(text, className, action) {
    const b = Object.assign(this.doc.createElement("button"), { type: "button", className, textContent: text });
    b.dataset.action = action;
    return b;
  }

  /** "Started at 22:10. 9 minutes left." in the browser's own time format. */
  #when(s) {
    const parts = [];
    const started = Date.parse(s.started_at ?? s.created_at ?? "");
    if (Number.isFinite(started)) {
      const at = new Date(started).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      parts.push(t("Started at %(at)s.", { at }));
    }
    const expires = Date.parse(s.expires_at ?? "");
    if (Number.isFinite(expires)) {
      const minutes = Math.max(0, Math.ceil((expires - this.clock.now()) / 60000));
      parts.push(tn("%(count)s minute left.", "%(count)s minutes left.", minutes));
    }
    return parts.join(" ");
  }

  /** End pressed: one click, then the list shows what is still live. */
  async #end(id, name, button) {
    button.disabled = true;
    this.notices.clearError();
    try {
      await this.api.closeSession(id);
    } catch (err) {
      // Already gone (404): the refresh below drops it from the list.
      if (err?.status !== 404) {
        button.disabled = false;
        this.notices.showError(explainFailure(err, t("Could not end the session")));
        return;
      }
    }
    this.onEnded(id);
    this.notices.setStatus(t("Your session with %(name)s has ended. You can start a new session.", { name }));
    // One fewer than the cap now: Start works, so the rest are no longer "in the way".
    if (this.reason === "full") this.reason = "live";
    await this.refresh();
  }
}
