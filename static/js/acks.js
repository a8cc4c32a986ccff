// The list of confirmed changes (#acks): what the avatar acknowledged, newest first.
//
// On every (re)connect the server replays the last acknowledged commands (up to 8,
// oldest first) as `command_result` frames with `replay: true` (README, "Session
// websocket"). The replay is the whole list: the first replayed result after a connect
// starts the list afresh, so a reload rebuilds it and a reconnect never doubles it.
// A connect whose replay is empty keeps what the page has.

export const MAX_ACKS = 8;

/** A command result as a line of the list. */
export function ackText({ cmd, ok, code = null, message = "", params = null }) {
  let text = `${cmd} ${ok ? "done" : "failed"}`;
  if (!ok && code !== null) text += ` (code ${code})`;
  const settings = ok && params ? describeParams(params) : "";
  if (settings) text += `: ${settings}`;
  else if (message && message.toLowerCase() !== "ok") text += `: ${message}`;
  return text;
}

/** Confirmed settings as words: "voice lyon, language fr, mode 1, background". */
export function describeParams(params) {
  const parts = [];
  for (const [key, value] of Object.entries(params ?? {})) {
    if (value === null || value === undefined || value === "") continue;
    if (key === "background_url") parts.push("background");
    else if (typeof value === "object") parts.push(key.replaceAll("_", " "));
    else parts.push(`${key} ${value}`);
  }
  return parts.join(", ");
}

const sameResult = (a, b) =>
  a.cmd === b.cmd &&
  a.ok === b.ok &&
  a.code === b.code &&
  a.message === b.message &&
  JSON.stringify(a.params) === JSON.stringify(b.params);

export class AckLog {
  constructor({ max = MAX_ACKS } = {}) {
    this.max = max;
    /** Oldest first: {cmd, ok, code, message, params, replay}. */
    this.entries = [];
    this.awaitingReplay = false;
    // While a replay rebuilds the list: the list before it, so that an entry the page
    // already shows keeps its object (and its item on the page: nothing is announced
    // again by the live region).
    this.previous = [];
    this.reuseFrom = 0;
  }

  /** A session socket (re)opened: a replay that follows replaces the list. */
  connected() {
    this.awaitingReplay = true;
  }

  /**
   * Add one command result. Returns {rebuilt}: true when this result started a replay
   * that replaced the list.
   */
  apply(m) {
    let rebuilt = false;
    const entry = {
      cmd: m.cmd,
      ok: Boolean(m.ok),
      code: m.code ?? null,
      message: m.message ?? "",
      params: m.params ?? null,
      replay: Boolean(m.replay),
    };
    if (m.replay) {
      if (this.awaitingReplay) {
        this.previous = this.entries;
        this.reuseFrom = 0;
        this.entries = [];
        this.awaitingReplay = false;
        rebuilt = true;
      }
      this.entries.push(this.#reuse(entry));
    } else {
      // Live results come after the replay: a later replayed one would be a new connect.
      this.awaitingReplay = false;
      this.previous = [];
      this.entries.push(entry);
    }
    if (this.entries.length > this.max) this.entries.splice(0, this.entries.length - this.max);
    return { rebuilt };
  }

  clear() {
    this.entries = [];
    this.previous = [];
    this.awaitingReplay = false;
  }

  #reuse(entry) {
    for (let i = this.reuseFrom; i < this.previous.length; i++) {
      if (sameResult(this.previous[i], entry)) {
        this.reuseFrom = i + 1;
        return this.previous[i];
      }
    }
    return entry;
  }
}

const items = new WeakMap(); // entry -> its <li>

function itemFor(doc, e) {
  let li = items.get(e);
  if (!li) {
    li = doc.createElement("li");
    li.className = `ack ${e.ok ? "ok" : "fail"}`;
    li.dataset.cmd = e.cmd;
    li.dataset.ok = String(e.ok);
    if (e.code !== null) li.dataset.code = String(e.code);
    if (e.replay) li.dataset.replay = "true";
    li.textContent = ackText(e);
    items.set(e, li);
  }
  return li;
}

/**
 * Show an AckLog in a list element (an aria-live region), newest first. Items already
 * shown stay where they are, so only a new result is announced.
 */
export function renderAcks(list, log) {
  const doc = list.ownerDocument;
  const want = [...log.entries].reverse().map((e) => itemFor(doc, e));
  for (const child of [...list.children]) {
    if (!want.includes(child)) child.remove();
  }
  want.forEach((li, i) => {
    if (list.children[i] !== li) list.insertBefore(li, list.children[i] ?? null);
  });
}
