// The avatar page put together: the notices, the start screen (setup.js), the stage
// (stage.js), the controls (controls.js) and the sessions (session.js), wired to each
// other, to the page's elements and to the window. app.js calls it with the real things;
// node tests with stand-ins (a fake DOM, relay socket, transport and clock).

import { systemClock } from "./clock.js";
import { ConsentNotice } from "./consent.js";
import { Controls } from "./controls.js";
import { LiveList } from "./live_list.js";
import { EndWarning } from "./extend.js";
import { wsUrl } from "./messages.js";
import { Notices } from "./notices.js";
import { RateWindow, pacingFromConfig } from "./pacing.js";
import { Relay } from "./relay.js";
import { SessionRunner } from "./session.js";
import { Setup } from "./setup.js";
import { Stage } from "./stage.js";
import { TabClaims } from "./tab_claims.js";
import { createTransport } from "./transport.js";
import { t } from "./i18n.js";

/**
 * @param {object} options
 * @param {object} options.el  the page's elements (elements.js)
 * @param {object} options.config  the page's config (#page-config)
 * @param {object} options.api  api.js
 * @param {object} [options.win]  the window: its events, location, navigator
 * @param {object} [options.clock]  clock.js systemClock
 * @param {object} [options.rateWindow]  pacing.js RateWindow, from the config's
 *   streamBytesPerSecond and streamJitterAllowance
 * @param {Function} [options.makeRelay] / [options.makeTransport] / [options.makeFace] /
 *   [options.makeMic] / [options.makeCamera]  factories (defaults: the real ones)
 * @returns {{notices, setup, stage, controls, sessions, open: () => Promise}}
 */
export function createPage({
  el,
  config,
  api,
  win = globalThis,
  clock = systemClock,
  // One send window for the page: every frame it sends counts (pacing.js).
  rateWindow = new RateWindow(pacingFromConfig(config)),
  makeRelay = (session) => new Relay({ url: wsUrl(session.ws_path, win.location), rateWindow }),
  makeTransport = (rtc) =>
    createTransport(rtc, {
      sdkUrl: config.agoraSdkUrl,
      eventReport: Boolean(config.agoraEventReport),
      videoContainer: el.remote,
    }),
  makeFace,
  makeMic,
  makeCamera,
}) {
  const notices = new Notices({
    status: el.status,
    error: el.error,
    now: clock.now,
    setInterval: clock.setInterval,
    clearInterval: clock.clearInterval,
  });
  const speech = Boolean(config.speechSynthesis && "speechSynthesis" in win);
  const navigator = win.navigator;
  const setup = new Setup({ el, api, notices, config });
  const stage = new Stage({ el, makeFace, storage: win.localStorage, win });
  const cameraEnabled = Boolean(config.cameraEnabled);
  const chatMaxChars = Number(config.chatMaxChars) || 0;
  const controls = new Controls({ el, notices, setup, stage, speech, cameraEnabled, chatMaxChars, makeMic, makeCamera });
  const claims = new TabClaims({ win, clock });
  const liveList = new LiveList({
    box: el.liveList,
    api,
    notices,
    presetBySlug: (slug) => setup.presetBySlug(slug),
    onContinue: (id) => sessions.continueHere(id),
    clock,
  });
  const sessions = new SessionRunner({
    el,
    api,
    notices,
    setup,
    stage,
    controls,
    clock,
    speech,
    makeRelay,
    makeTransport,
    claims,
    liveList,
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

  setup.wire(() => sessions.start());
  stage.wire(() => sessions.live?.transport?.resumeAudio?.());
  controls.wire();
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
    sessions.boot().catch((err) => {
      console.error(err);
      notices.showError(t("The page failed to start: %(reason)s. Reload the page.", { reason: err?.message ?? err }));
    });
  return { notices, setup, stage, controls, sessions, open };
}
