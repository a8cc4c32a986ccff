// Words for people: why a session ended, time left, network quality, what failed and what
// to do. Pure.

import { t } from "./i18n.js";

/** Another tab or window of ours took the session (live_media.js; session.js says it). */
export const TAKEN_OVER_TEXT = t(
  "This session went on in another tab or window, so its sound, video and microphone are off here.",
);

// The server's close reasons (sessions.models.CloseReason, README "How a session ends"):
// the same words on the page, in History, in the admin and in the API.
//  - CLOSE_REASON_LABELS: the server's own labels, word for word (History, short phrases);
//  - CLOSE_REASONS: a sentence for the person who was in the session (the live page).
// `abandoned` is not a restart, `page_closed` is not "ended by you", and only `crashed`
// talks about our server.
export const CLOSE_REASON_LABELS = Object.freeze({
  user: t("ended by the user"),
  page_closed: t("the page was closed"),
  abandoned: t("no page was connected"),
  expired: t("its time was up"),
  admin: t("ended by staff"),
  error: t("an error"),
  upstream: t("ended by the avatar service"),
  crashed: t("our server stopped"),
  extended: t("it went on in a follow-on session"),
  revoked: t("the website's embed key was turned off"),
});

export const CLOSE_REASONS = Object.freeze({
  user: t("You ended the session."),
  page_closed: t("The session ended because its page was closed."),
  abandoned: t("The session ended because no page was connected to it for a while."),
  expired: t("The session's time was up."),
  admin: t("A staff member ended the session."),
  error: t("The session failed."),
  upstream: t("The avatar service ended the session."),
  crashed: t("Our server restarted and your session could not be kept."),
  extended: t("The session went on in a follow-on session."),
  revoked: t("This website's avatar was turned off, so the session ended."),
});

/** Reasons that are a failure, not a choice or the clock: shown as an error, not news. */
const FAILURE_REASONS = new Set(["error", "crashed"]);

/**
 * Why a session ended, in a sentence. `error` (the session's error text, if any) is
 * added for failures; unknown reasons are shown in plain words rather than hidden.
 */
export function describeEnd({ status = "closed", close_reason: reason = null, error = null } = {}) {
  let text = reason && Object.hasOwn(CLOSE_REASONS, reason) ? CLOSE_REASONS[reason] : null;
  if (!text && reason) text = t("The session ended: %(reason)s.", { reason: String(reason).replaceAll("_", " ") });
  if (!text) text = status === "failed" ? t("The session failed.") : t("The session ended.");
  if (error && (status === "failed" || reason === "error")) {
    text += ` ${error}${/[.!?]$/.test(String(error).trim()) ? "" : "."}`;
  }
  return text;
}

/** Whether an ended session failed (an error for the page), rather than ended normally. */
export function endedInFailure({ status = "closed", close_reason: reason = null } = {}) {
  return status === "failed" || FAILURE_REASONS.has(reason);
}

/** A close reason as a short phrase (History): the server's own label. */
export function closeReasonPhrase(reason) {
  if (reason && Object.hasOwn(CLOSE_REASON_LABELS, reason)) return CLOSE_REASON_LABELS[reason];
  return reason ? String(reason).replaceAll("_", " ") : "";
}

/** An `error` frame from the session socket as a sentence for a person. */
export function describeServerError({ code = "", message = "" } = {}) {
  if (code === "session_expired") return t("The session's time is up, so that message was not sent.");
  return message || t("Something went wrong.");
}

/** "m:ss" (or "h:mm:ss") for a remaining time in ms; never negative. */
export function formatCountdown(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** A duration in seconds as words: "4 min 05 s", "45 s". */
export function formatDuration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return t("%(seconds)s s", { seconds: s });
  const m = Math.floor(s / 60);
  return t("%(minutes)s min %(seconds)s s", { minutes: m, seconds: String(s % 60).padStart(2, "0") });
}

// Agora's network quality scale: 0 unknown, 1 excellent ... 5 very bad, 6 down.
const QUALITY = [
  t("Network: unknown"),
  t("Network: excellent"),
  t("Network: good"),
  t("Network: fair"),
  t("Network: poor"),
  t("Network: very poor"),
  t("Network: down"),
];

/** {label, level} for Agora quality numbers; the worse of up- and downlink counts. */
export function describeQuality({ uplink = 0, downlink = 0, rtt = null } = {}) {
  const worst = Math.max(uplink || 0, downlink || 0);
  const label = QUALITY[worst] ?? QUALITY[0];
  const rttText = Number.isFinite(rtt) && rtt > 0 ? ` (${Math.round(rtt)} ms)` : "";
  return { level: worst, label: `${label}${rttText}` };
}

/** Two letters for an avatar without a thumbnail: "Ada Lovelace" -> "AL". */
export function initials(name) {
  const words = String(name ?? "").trim().split(/\s+/).filter(Boolean);
  if (!words.length) return "?";
  const letters = words.length === 1 ? [...words[0]].slice(0, 2) : [[...words[0]][0], [...words.at(-1)][0]];
  return letters.join("").toUpperCase();
}

// An embed page (embed_page.js) has no sign-in: its visitor's access came with the page and
// ends with the key or the page's age, so its words say to reload the page instead.
let embedded = false;

/** The embed page's words from now on (embed_page.js, before the page starts). */
export function useEmbedWords(on = true) {
  embedded = on;
}

/** Whether the page is an embed's (its words for a lost access differ). */
export function isEmbedded() {
  return embedded;
}

/** The session stopped because the page's access ended (socket close 4401). */
export function signedOutText() {
  return embedded
    ? t("This page's access to the avatar has ended, so the session stopped. Reload the page to go on.")
    : t("You are no longer signed in here, so the session stopped on this page.");
}

/**
 * A failed API call or start as a sentence that says what to do: "<action>: <message>."
 * and a hint that depends on the status (a network failure or timeout already says it).
 */
export function explainFailure(err, action) {
  const message = err?.message || String(err);
  const said = t("%(action)s: %(message)s", { action, message });
  if (err?.name !== "ApiError") return said;
  if (err.code === "network" || err.code === "timeout") return said;
  // The server's words for a missing sign-in are for API clients (tokens, headers).
  if (err.status === 401) {
    return embedded
      ? t("%(action)s: this page has been open too long or the avatar was turned off here. Reload the page to go on.", { action })
      : t("%(action)s: you are no longer signed in. Sign in again to go on.", { action });
  }
  let hint = "";
  // Waiting never frees a slot of one's own: the message says to end a session first.
  if (err.code === "concurrent_sessions_limit") return said;
  if (err.status === 429) {
    // The server's refusal already says when (its Retry-After): only a bare one gets a hint.
    hint = err.retryAfter ? "" : t("Try again a little later.");
  } else if (err.status === 400 || err.status === 422) {
    hint = t("Check the settings and try again.");
  } else if (err.status >= 500) {
    hint = t("Try again in a minute; if it keeps failing, tell the site's operator.");
  } else if (err.status === 403) {
    hint = embedded ? t("Reload the page to go on.") : t("Reload the page and sign in again.");
  }
  return `${said}${message.endsWith(".") ? "" : "."}${hint ? ` ${hint}` : ""}`;
}
