// The live view: a staff member watches a session's transcript stream in, read-only.
//
// It opens the session's own websocket. The server knows a staff member who is not the
// owner as an observer: it replays the transcript so far, then relays every line and
// state change from the owner's socket, and refuses anything the observer might send
// (this page sends nothing). Reconnects with backoff come from the page's Relay.

import { Relay } from "./relay.js";
import { TranscriptView } from "./transcript.js";
import { wsUrl } from "./messages.js";
import { t } from "./i18n.js";

/**
 * Watch through `relay` (not yet connected): the transcript in `el.list` with the owner's
 * name on their lines, the connection in `el.connection` (its data-state), the session's
 * status in `el.status`, speaking or listening in `el.speaking`.
 * @param {object} config  owner, closeReasons ({reason: words}), wsPath
 */
export function watchLive({ config, el, relay }) {
  const view = new TranscriptView(el.list, undefined, { names: { user: config.owner } });
  let ended = null;

  const say = (text, state) => {
    el.connection.textContent = text;
    el.connection.dataset.state = state;
  };
  const endedText = (msg) => {
    const why = msg.close_reason ? config.closeReasons?.[msg.close_reason] ?? msg.close_reason : null;
    return why ? t("The session has ended: %(reason)s.", { reason: why }) : t("The session has ended.");
  };

  relay.on("state", ({ state, delay }) => {
    if (state === "connecting") say(t("Connecting…"), "connecting");
    else if (state === "open") say(t("Watching live. New lines appear as they are said."), "open");
    else if (state === "reconnecting") {
      say(t("Connection lost; reconnecting in %(seconds)s s…", { seconds: Math.ceil((delay ?? 0) / 1000) }), "reconnecting");
    }
  });

  relay.on("message", (msg) => {
    switch (msg.type) {
      case "transcript":
        view.apply(msg);
        break;
      case "avatar":
        el.speaking.dataset.speaking = String(msg.speaking);
        el.speaking.textContent = msg.speaking ? t("speaking") : t("listening");
        break;
      case "session":
        // In words (sessions/display.py STATUS_NAMES, sent in the page's config).
        el.status.textContent = config.statusNames?.[msg.status] ?? msg.status;
        el.status.className = `badge status-${msg.status}`;
        if (msg.status === "closed" || msg.status === "failed") ended = endedText(msg);
        break;
      default:
        // command results and errors are the owner's business
        break;
    }
  });

  relay.on("ended", ({ code }) => {
    el.speaking.dataset.speaking = "false";
    el.speaking.textContent = "—";
    if (code === 4410 || ended) {
      say(ended ?? t("The session has ended."), "ended");
    } else {
      say(t("You cannot watch this session (signed out, or no permission)."), "refused");
    }
  });

  relay.connect();
  return view;
}

// The page's script (templates/staff/live.html); node tests import watchLive.
if (globalThis.document) {
  const config = JSON.parse(document.getElementById("live-config").textContent);
  const relay = new Relay({ url: wsUrl(config.wsPath, window.location) });
  watchLive({
    config,
    relay,
    el: {
      list: document.getElementById("transcript"),
      connection: document.getElementById("live-connection"),
      status: document.getElementById("live-status"),
      speaking: document.getElementById("live-speaking"),
    },
  });
  window.addEventListener("pagehide", () => relay.close());
}
