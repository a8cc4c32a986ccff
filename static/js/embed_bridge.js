// The embed page's bridge to the website that frames it (README "Embedding"): what
// happens on the page goes to the host page as events, and the host page may ask for a
// start, an end or a line typed for the visitor, as far as its key allows (`hostMay`).
//
// Both ways only with the host page the key allows (its origin came checked from the
// server as `hostOrigin`): events are posted to that origin alone (never "*"), and a
// command counts only from our parent window at that origin. No event carries a token,
// a credential or the session's media details.
//
// Also here: the visitor token's renewal (the page's other tie to its embed).

import { t } from "./i18n.js";

export const SOURCE = "avatarsite";
export const HOST_SOURCE = "avatarsite-host";
export const COMMANDS = Object.freeze(["start", "end", "say"]);

export class EmbedBridge {
  /**
   * @param {object} options
   * @param {object} options.win  the window: its parent and its "message" events
   * @param {string} options.hostOrigin  the host page's origin (page config)
   * @param {{start?: boolean, end?: boolean, say?: boolean}} [options.hostMay]  what the
   *   host page may ask
   * @param {{start: (preset) => boolean, end: () => void, say: (text) => boolean}} options.commands
   *   what each command does on the page; `start` answers false for an avatar the page does
   *   not offer, `say` when there is no session
   */
  constructor({ win, hostOrigin, hostMay = {}, commands }) {
    Object.assign(this, { win, hostOrigin, hostMay, commands });
  }

  /** Listen to the host page. */
  wire() {
    this.win.addEventListener("message", (event) => this.receive(event));
    return this;
  }

  /** Whether there is a host page to tell: framed, by a known origin. */
  get framed() {
    return Boolean(this.hostOrigin) && this.win.parent && this.win.parent !== this.win;
  }

  /** An event for the host page: `{source: "avatarsite", type, ...data}`, to its origin only. */
  post(type, data = {}) {
    if (!this.framed) return;
    this.win.parent.postMessage({ ...data, source: SOURCE, type }, this.hostOrigin);
  }

  /** A message from any window: a command from our host page is carried out or refused. */
  receive(event) {
    if (!this.framed || event.source !== this.win.parent || event.origin !== this.hostOrigin) return;
    const msg = event.data;
    if (!msg || typeof msg !== "object" || msg.source !== HOST_SOURCE || !COMMANDS.includes(msg.type)) return;
    if (!this.hostMay[msg.type]) {
      this.post("refused", { command: msg.type });
      return;
    }
    if (msg.type === "start") {
      if (this.commands.start(typeof msg.preset === "string" ? msg.preset : "") === false) this.post("refused", { command: "start" });
    } else if (msg.type === "end") this.commands.end();
    else if (typeof msg.text !== "string" || !this.commands.say(msg.text)) this.post("refused", { command: "say" });
  }
}

/**
 * The bridge for the page `page` (page.js createPage): its events to the host page, the
 * host's commands to its setup and sessions (a line to say goes through the chat box and
 * its send, exactly like typing).
 */
export function connectBridge({ win, config, page }) {
  const { setup, sessions, events, el } = page;
  const bridge = new EmbedBridge({
    win,
    hostOrigin: config.hostOrigin ?? "",
    hostMay: config.hostMay ?? {},
    commands: {
      // An avatar the key does not offer is refused, not swapped for the one chosen.
      start: (preset) => {
        if (preset && !setup.choose(preset)) return false;
        sessions.start();
        return true;
      },
      end: () => sessions.end(),
      say: (text) => {
        const controls = sessions.live && !sessions.live.over ? sessions.controls : null;
        if (!controls) return false;
        el.chatInput.value = text;
        controls.sendChat();
        return true;
      },
    },
  }).wire();
  for (const type of ["ready", "session-started", "transcript", "session-ended"]) {
    events.on(type, (data) => bridge.post(type, data));
  }
  return bridge;
}

/** The renewal's share of the token's life: renewed after three quarters of it. */
export const RENEW_AT = 0.75;
/** After a failed renewal (not a refusal): try again this much later. */
export const RENEW_RETRY_MS = 30000;
export const TOKEN_REFUSED_TEXT = t("This page has been open too long or the avatar was turned off here. Reload the page to go on.");

/**
 * Renew the embed page's token before it expires, for as long as the page is open
 * (POST /embed/token: the same visitor). A refusal (401: the key was turned off, the
 * website is no longer allowed) is said once; a failed try is tried again.
 * @returns {() => void} stops it
 */
export function keepTokenFresh({ api, maxAgeSeconds, notices, clock = globalThis }) {
  let timer = null;
  const schedule = (seconds) => {
    timer = clock.setTimeout(renew, Math.max(1, seconds * RENEW_AT) * 1000);
  };
  const renew = async () => {
    try {
      const { token, expires_in: expiresIn } = await api.renewBearer();
      api.setBearer(token);
      schedule(Number(expiresIn) || maxAgeSeconds);
    } catch (err) {
      if (err?.status === 401) notices.showError(TOKEN_REFUSED_TEXT, "embed_token_refused");
      else timer = clock.setTimeout(renew, RENEW_RETRY_MS);
    }
  };
  schedule(Number(maxAgeSeconds) || 3600);
  return () => clock.clearTimeout(timer);
}
