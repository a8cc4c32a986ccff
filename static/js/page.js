// The avatar page put together: the notices, the start screen (setup.js), the live
// sessions list (live_list.js) and the sessions (session.js), wired to each other, to the
// page's elements and to the window. What only a running session needs (the stage, the
// controls, the socket and the media: live_parts.js) is fetched when first needed.
// app.js calls it with the real things; node tests with stand-ins (a fake DOM, relay
// socket, transport and clock).

import { systemClock } from "./clock.js";
import { ConsentNotice } from "./consent.js";
import { Emitter } from "./emitter.js";
import { EndWarning } from "./extend.js";
import { LiveList } from "./live_list.js";
import { Notices } from "./notices.js";
import { SessionRunner } from "./session.js";
import { Setup } from "./setup.js";
import { TabClaims } from "./tab_claims.js";
import { t } from "./i18n.js";

/** Why Start (or a resume) failed when the running session's code could not be fetched. */
export const LOAD_FAILED_TEXT = t("part of this page did not load. Check your connection, then reload the page.");

/**
 * @param {object} options
 * @param {object} options.el  the page's elements (elements.js)
 * @param {object} options.config  the page's config (#page-config)
 * @param {object} options.api  api.js
 * @param {object} [options.win]  the window: its events, location, navigator
 * @param {object} [options.clock]  clock.js systemClock
 * @param {() => Promise<object>} [options.importLive]  fetches live_parts.js, what only a
 *   running session needs (default: a dynamic import)
 * @param {object} [options.rateWindow]  pacing.js RateWindow (default: from the config)
 * @param {Function} [options.makeRelay] / [options.makeTransport] / [options.makeFace] /
 *   [options.makeMic] / [options.makeCamera]  factories (defaults: live_parts.js's)
 * @returns {{notices, setup, sessions, events, loadLive, open: () => Promise}}  `events`
 *   says "ready" ({presets}: the catalog is shown), "session-started", "transcript" and
 *   "session-ended" (session.js); the embed page passes them on (embed_bridge.js)
 */
export function createPage({
  el,
  config,
  api,
  win = globalThis,
  clock = systemClock,
  importLive = () => import("./live_parts.js"),
  ...factories
}) {
  const notices = new Notices({
    status: el.status,
    error: el.error,
    close: el.errorClose,
    // How long news ("Connected. Say hello!") stays over the page: NOTICE_FADE_SECONDS,
    // the number's one home (without it, news stays).
    fadeMs: (Number(config.noticeFadeSeconds) || 0) * 1000,
    now: clock.now,
    setInterval: clock.setInterval,
    clearInterval: clock.clearInterval,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
  });
  const speech = Boolean(config.speechSynthesis && "speechSynthesis" in win);
  const navigator = win.navigator;
  const events = new Emitter();
  // The embed page's socket offers its token (api.js); the site's pages use the cookie.
  const socketProtocols = api.bearer ? () => api.socketProtocols() : null;
  const setup = new Setup({ el, api, notices, config });
  const claims = new TabClaims({ win, clock });
  const liveList = new LiveList({
    box: el.liveList,
    api,
    notices,
    presetBySlug: (slug) => setup.presetBySlug(slug),
    onContinue: (id) => sessions.continueHere(id),
    clock,
  });

  // The running session's code, fetched once, when first needed (README, "Page weight").
  // A failed fetch is forgotten, so the next Start tries again.
  let live = null;
  const resumeAudio = () => sessions.live?.transport?.resumeAudio?.();
  const loadLive = () =>
    (live ??= importLive()
      .then((m) => m.buildLive({ el, config, win, notices, setup, speech, resumeAudio, socketProtocols, ...factories }))
      .catch((err) => {
        console.error(err);
        live = null;
        throw new Error(LOAD_FAILED_TEXT);
      }));

  const sessions = new SessionRunner({
    el,
    api,
    notices,
    setup,
    loadLive,
    clock,
    speech,
    claims,
    liveList,
    events,
    sendBeacon: navigator?.sendBeacon ? (url, data) => navigator.sendBeacon(url, data) : null,
    csrfToken: config.csrfToken,
    // Back to this page after signing in again.
    loginUrl: config.loginUrl ? `${config.loginUrl}?next=${encodeURIComponent(win.location?.pathname ?? "/")}` : "",
  });

  // Issue 16: the recording notice's tick gates Start; the warning before the end offers Extend.
  setup.consent = new ConsentNotice({ el, setup, notice: config.recordingNotice });
  const warnSeconds = Number(config.endWarningSeconds) || 60;
  sessions.endWarning = new EndWarning({ el, api, notices, runner: sessions, warnSeconds });
  sessions.warnBeforeMs = warnSeconds * 1000;
  setup.consent.wire();
  sessions.endWarning.wire();
  // Pointing at Start or at a live session's "Continue here", or tabbing to it, says a
  // session is coming: its code is fetched then, so pressing shows no wait. (Not on idle:
  // a visit that starts nothing fetches none of it.)
  const preload = () => loadLive().catch(() => {}); // Start says it, if it fails again
  for (const box of [el.startBtn, el.liveList]) {
    for (const type of ["pointerover", "focusin"]) box.addEventListener(type, preload);
  }

  setup.wire(() => sessions.start());
  sessions.wire();
  setup.setupDuration();

  // Only pagehide tells the server the page goes: a hidden tab may come back, and
  // beforeunload is unreliable.
  win.addEventListener("pagehide", () => sessions.pageHidden());
  // Offline or back online: coming back is worth an attempt now rather than after the backoff.
  win.addEventListener("offline", () => sessions.networkChanged(false));
  win.addEventListener("online", () => sessions.networkChanged(true));
  // Back to this tab: a notice about a session that went on elsewhere may be stale now.
  win.addEventListener("focus", () => sessions.pageVisible());
  win.document?.addEventListener?.("visibilitychange", () => {
    if (win.document.visibilityState === "visible") sessions.pageVisible();
  });
  win.addEventListener("pageshow", (event) => {
    // Back from the back/forward cache: the sockets are gone; start over cleanly.
    if (event.persisted) win.location.reload();
  });

  /** Open the page: the catalog, and the session already running, if any. */
  const open = () =>
    sessions
      .boot()
      .then(() => {
        // The embed's ?preset= (when its key offers it) is the one chosen.
        if (config.preset && !sessions.live) setup.choose(config.preset);
        events.emit("ready", { presets: setup.catalog.avatars.map((a) => ({ slug: a.slug, name: a.name })) });
      })
      .catch((err) => {
        console.error(err);
        notices.showError(t("The page failed to start: %(reason)s. Reload the page.", { reason: err?.message ?? err }));
      });
  return { el, notices, setup, sessions, events, loadLive, open }; // el: the embed bridge types for the host page
}
