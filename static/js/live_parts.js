// What only a running session needs, fetched when one starts or resumes, or when the user
// points at Start (page.js): the stage (stage.js), the controls (controls.js), the session
// websocket (relay.js), the media (transport.js, which fetches an RTC SDK only for a
// provider that needs one) and the session itself (live_session.js). The start screen
// stays light (README, "Page weight").

import { Controls } from "./controls.js";
import { LiveSession } from "./live_session.js";
import { wsUrl } from "./messages.js";
import { RateWindow, pacingFromConfig } from "./pacing.js";
import { Relay } from "./relay.js";
import { Stage } from "./stage.js";
import { TranscriptView } from "./transcript.js";
import { createTransport } from "./transport.js";

/**
 * The stage and the controls, wired to the page's elements, and the factories of a
 * session's socket and media; what session.js's SessionRunner runs a session with.
 * @param {object} options  page.js's: el, config, win, notices, setup, speech,
 *   resumeAudio (the avatar's sound, when the user asks for it) and socketProtocols (the
 *   embed page's token for the socket); the factories a node test
 *   replaces: rateWindow, makeRelay, makeTransport, makeFace, makeMic, makeCamera
 */
export function buildLive({
  el,
  config,
  win,
  notices,
  setup,
  speech,
  resumeAudio,
  // The embed page's socket subprotocols (its token), or null (page.js).
  socketProtocols = null,
  // One send window for the page: every frame it sends counts (pacing.js).
  rateWindow = new RateWindow(pacingFromConfig(config)),
  makeRelay = (session) => new Relay({ url: wsUrl(session.ws_path, win.location), rateWindow, protocols: socketProtocols }),
  makeTransport = (rtc) =>
    createTransport(rtc, {
      sdkUrls: { agora: config.agoraSdkUrl, livekit: config.livekitSdkUrl, trtc: config.trtcSdkUrl },
      eventReport: Boolean(config.agoraEventReport),
      videoContainer: el.remote,
      // RTC_JOIN_TIMEOUT_SECONDS; each transport's own default when the page has none.
      ...(Number(config.joinTimeoutMs) > 0 ? { joinTimeoutMs: Number(config.joinTimeoutMs) } : {}),
    }),
  makeFace,
  makeMic,
  makeCamera,
}) {
  // Reading localStorage throws in a frame the browser refuses storage (the embed on another
  // website, third-party storage blocked): the captions' choice is then not remembered.
  let storage = null;
  try {
    storage = win.localStorage;
  } catch {
    // refused: Stage keeps the choice for this page only
  }
  const stage = new Stage({ el, makeFace, storage, win });
  const cameraEnabled = Boolean(config.cameraEnabled);
  const chatMaxChars = Number(config.chatMaxChars) || 0;
  const controls = new Controls({ el, notices, setup, stage, speech, cameraEnabled, chatMaxChars, makeMic, makeCamera });
  stage.wire(resumeAudio);
  controls.wire();
  // A failed join may go on on another network, as the site's AKOOL_FALLBACK says.
  const fallback = config.fallback ?? "offer";
  const Live = class extends LiveSession {
    constructor(options) {
      super({ fallback, ...options });
    }
  };
  return { stage, controls, makeRelay, makeTransport, LiveSession: Live, TranscriptView };
}
