// The live view: a staff member watches a session's transcript stream in, read-only.
//
// It opens the session's own websocket. The server knows a staff member who is not the
// owner as an observer: it replays the transcript so far, then relays every line and
// state change from the owner's socket, and refuses anything the observer might send
// (this page sends nothing). Reconnects with backoff come from the page's Relay.

import { Relay } from "./relay.js";
import { TranscriptView } from "./transcript.js";
import { wsUrl } from "./messages.js";

const config = JSON.parse(document.getElementById("live-config").textContent);
const list = document.getElementById("transcript");
const connection = document.getElementById("live-connection");
const statusBadge = document.getElementById("live-status");
const speaking = document.getElementById("live-speaking");

/** The page's transcript view, with the owner's name where the user's page says "You". */
class ObserverTranscriptView extends TranscriptView {
  constructor(listElement, speaker) {
    super(listElement);
    this.speaker = speaker;
  }

  render(line) {
    super.render(line);
    if (line.role !== "user") return;
    const item = this.list.querySelector(
      `li[data-role="user"][data-mid="${CSS.escape(line.mid)}"] .who`,
    );
    if (item) item.textContent = this.speaker;
  }
}

const view = new ObserverTranscriptView(list, config.owner);

function say(text, state) {
  connection.textContent = text;
  connection.dataset.state = state;
}

function showStatus(status) {
  statusBadge.textContent = status;
  statusBadge.className = `badge status-${status}`;
}

function endedText(msg) {
  const why = msg.close_reason ? config.closeReasons[msg.close_reason] ?? msg.close_reason : null;
  return why ? `The session has ended: ${why}.` : "The session has ended.";
}

const relay = new Relay({ url: wsUrl(config.wsPath, window.location) });
let ended = null;

relay.on("state", ({ state, delay }) => {
  if (state === "connecting") say("Connecting…", "connecting");
  else if (state === "open") say("Watching live. New lines appear as they are said.", "open");
  else if (state === "reconnecting") {
    say(`Connection lost; reconnecting in ${Math.ceil((delay ?? 0) / 1000)} s…`, "reconnecting");
  }
});

relay.on("message", (msg) => {
  switch (msg.type) {
    case "transcript":
      view.apply(msg);
      break;
    case "avatar":
      speaking.dataset.speaking = String(msg.speaking);
      speaking.textContent = msg.speaking ? "speaking" : "listening";
      break;
    case "session":
      showStatus(msg.status);
      if (msg.status === "closed" || msg.status === "failed") ended = endedText(msg);
      break;
    default:
      // command results and errors are the owner's business
      break;
  }
});

relay.on("ended", ({ code }) => {
  speaking.dataset.speaking = "false";
  speaking.textContent = "—";
  if (code === 4410 || ended) {
    say(ended ?? "The session has ended.", "ended");
  } else {
    say("You cannot watch this session (signed out, or no permission).", "refused");
  }
});

relay.connect();
window.addEventListener("pagehide", () => relay.close());
