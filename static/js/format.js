// Words for people: why a session ended, time left, network quality. Pure.

// The server's close reasons (sessions.models.CloseReason) and what they mean to a user.
const CLOSE_REASONS = {
  user: "You ended the session.",
  disconnect: "The page went away for too long, so the session was closed.",
  expired: "The session's time was up.",
  admin: "A staff member ended the session.",
  error: "The session failed.",
  reaper: "The session was cleaned up after a server restart.",
};

/**
 * Why a session ended, in a sentence. `error` (the session's error text, if any) is
 * added for failures; unknown reasons are shown in plain words rather than hidden.
 */
export function describeEnd({ status = "closed", close_reason: reason = null, error = null } = {}) {
  let text = reason ? CLOSE_REASONS[reason] : null;
  if (!text && reason) text = `The session ended: ${String(reason).replaceAll("_", " ")}.`;
  if (!text) text = status === "failed" ? "The session failed." : "The session ended.";
  if (error && (status === "failed" || reason === "error")) text += ` ${error}`;
  return text;
}

/** A close reason as a short phrase (history pages). */
export function closeReasonPhrase(reason) {
  const phrases = {
    user: "ended by you",
    disconnect: "the page went away",
    expired: "time was up",
    admin: "ended by staff",
    error: "an error",
    reaper: "cleaned up after a restart",
  };
  return phrases[reason] ?? (reason ? String(reason).replaceAll("_", " ") : "");
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
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${String(s % 60).padStart(2, "0")} s`;
}

// Agora's network quality scale: 0 unknown, 1 excellent ... 5 very bad, 6 down.
const QUALITY = ["unknown", "excellent", "good", "fair", "poor", "very poor", "down"];

/** {label, level} for Agora quality numbers; the worse of up- and downlink counts. */
export function describeQuality({ uplink = 0, downlink = 0, rtt = null } = {}) {
  const worst = Math.max(uplink || 0, downlink || 0);
  const label = QUALITY[worst] ?? "unknown";
  const rttText = Number.isFinite(rtt) && rtt > 0 ? ` (${Math.round(rtt)} ms)` : "";
  return { level: worst, label: `Network: ${label}${rttText}` };
}

/** Two letters for an avatar without a thumbnail: "Ada Lovelace" -> "AL". */
export function initials(name) {
  const words = String(name ?? "").trim().split(/\s+/).filter(Boolean);
  if (!words.length) return "?";
  const letters = words.length === 1 ? [...words[0]].slice(0, 2) : [[...words[0]][0], [...words.at(-1)][0]];
  return letters.join("").toUpperCase();
}
