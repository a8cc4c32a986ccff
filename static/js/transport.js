// The data-stream transport: one interface, one implementation per network.
//
//   connect() -> Promise       join; rejects with a message for a person
//   send(text) -> Promise      one stream message; rejects if it cannot go now
//   on(event, fn)              "state" (state, info), "message" (text),
//                              "avatar-published" ({mediaType}), "avatar-unpublished",
//                              "quality" ({uplink, downlink, rtt}), "autoplay-blocked"
//   close() -> Promise
//   retryNow() -> bool         (optional) reconnect now instead of after the backoff
//   state                      idle | connecting | waiting (joined, no avatar yet) |
//                              joined | reconnecting | failed | closed
//
//   canPublish, createMicrophoneTrack(), createCameraTrack(), publish(track),
//   unpublish(track), resumeAudio()   (networks with media: mic.js, camera.js)
//
// "joined" means a stream message sent now reaches the avatar: the relay sends only then.
// connect() rejects with `joinFailed` set when the network could not be joined (the page
// may then offer another network: live_session.js). One module per network:
// AgoraTransport (transport_agora.js), LiveKitTransport (transport_livekit.js),
// TrtcTransport (transport_trtc.js), each importing its SDK only in connect(); and
// SandboxTransport (transport_sandbox.js), a websocket to the sandbox avatar, one text
// frame per message.

import { t } from "./i18n.js";
import { AgoraTransport } from "./transport_agora.js";
import { LiveKitTransport } from "./transport_livekit.js";
import { SandboxTransport } from "./transport_sandbox.js";
import { TrtcTransport } from "./transport_trtc.js";

export { AgoraTransport, LiveKitTransport, SandboxTransport, TrtcTransport };

/** After the sandbox's socket opens, a close this soon is a failure to join (4503). */
export const SANDBOX_SETTLE_MS = 150;

/**
 * The transport for a session's `rtc`, chosen by `rtc.provider`: the sandbox never
 * touches an SDK; each network imports its own SDK lazily, from `sdkUrls[provider]`.
 */
export function createTransport(rtc, { sdkUrls = {}, eventReport = false, videoContainer = null, ...rest } = {}) {
  if (!rtc) throw new Error(t("The session has no media credentials yet."));
  const sdkUrl = sdkUrls[rtc.provider];
  if (rtc.provider === "sandbox") return new SandboxTransport({ rtc, settleMs: SANDBOX_SETTLE_MS, ...rest });
  if (rtc.provider === "agora") return new AgoraTransport({ rtc, sdkUrl, eventReport, videoContainer, ...rest });
  if (rtc.provider === "livekit") return new LiveKitTransport({ rtc, sdkUrl, videoContainer, ...rest });
  if (rtc.provider === "trtc") return new TrtcTransport({ rtc, sdkUrl, videoContainer, ...rest });
  throw new Error(t("Unknown media provider “%(provider)s”.", { provider: rtc.provider }));
}
