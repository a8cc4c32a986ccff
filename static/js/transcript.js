// The transcript: a pure model of lines keyed by (role, mid), and a small DOM view.
//
// What the server sends (README, "Session websocket"):
//  - an avatar answer as pieces with one mid, `final: false`, then `final: true` (whose
//    text may be "" or the last piece);
//  - a user line as one frame with `final: true`;
//  - on every (re)connect, the transcript so far again, each line as one frame with
//    `replay: true` carrying its whole text and whether it is final yet (an answer still
//    being spoken stays open, and its next pieces append to it).
// So a replay puts the whole line in place; a final frame for a line we already have is
// the whole text when it extends what we have and the last piece otherwise; a line is
// never shown twice. An answer of our LLM cut short comes back as a replay of what the
// avatar said, with `unspoken`: the rest that went out but was never said, shown apart
// and struck through.

import { t } from "./i18n.js";

const key = (role, mid) => `${role}:${mid}`;

export class Transcript {
  constructor() {
    /** Lines in order of first appearance: {role, mid, text, final, cut, unspoken}. */
    this.lines = [];
    this.byKey = new Map();
  }

  get(role, mid) {
    return this.byKey.get(key(role, mid)) ?? null;
  }

  /**
   * Apply one transcript frame {role, mid, text, final, cut?}. Returns
   * {line, added: bool, changed: bool}, or null for a frame without role or mid.
   */
  apply({ role, mid, text = "", final = false, cut = false, replay = false, unspoken = "" }) {
    if ((role !== "user" && role !== "avatar") || !mid) return null;
    const k = key(role, mid);
    let line = this.byKey.get(k);
    if (!line) {
      line = { role, mid, text, final: Boolean(final), cut: Boolean(cut), unspoken };
      this.byKey.set(k, line);
      this.lines.push(line);
      return { line, added: true, changed: true };
    }
    const state = () => `${line.text}\u0000${line.final}\u0000${line.cut}\u0000${line.unspoken}`;
    const before = state();
    if (replay) {
      // The whole line as recorded, and whether it is over.
      line.text = text;
      line.final = Boolean(final);
    } else if (final) {
      if (line.final || (line.text && text.startsWith(line.text))) {
        // A replay (or a repeated final): the frame carries the whole line.
        line.text = text;
      } else {
        line.text += text;
      }
      line.final = true;
    } else {
      // A piece. After a replay marked a still-running answer final, its next pieces
      // reopen it: nothing is lost and nothing is doubled.
      line.text += text;
      line.final = false;
    }
    if (cut) line.cut = true;
    if (unspoken) line.unspoken = unspoken;
    const changed = before !== state();
    return { line, added: false, changed };
  }

  /** Mark the avatar's unfinished lines as cut short (interrupt, session end). */
  cutOpen() {
    const cut = [];
    for (const line of this.lines) {
      if (line.role === "avatar" && !line.final && !line.cut) {
        line.cut = true;
        cut.push(line);
      }
    }
    return cut;
  }

  clear() {
    this.lines = [];
    this.byKey.clear();
  }
}

/**
 * Renders a Transcript into a list element (`#transcript`, which carries
 * aria-live="polite"). Each line is `<li class="line user|avatar" data-mid data-final>`.
 */
export class TranscriptView {
  /**
   * @param {HTMLElement} list
   * @param {Transcript} [model]
   * @param {object} [options]
   * @param {{user?: string, avatar?: string}} [options.names]  who said it ("You", "Avatar")
   */
  constructor(list, model = new Transcript(), { names = {} } = {}) {
    this.list = list;
    this.model = model;
    this.names = { user: t("You"), avatar: t("Avatar"), ...names };
    this.items = new Map();
  }

  /** Apply a transcript frame to the model and show the result. */
  apply(frame) {
    const result = this.model.apply(frame);
    if (result?.changed) this.render(result.line);
    return result;
  }

  cutOpen() {
    for (const line of this.model.cutOpen()) this.render(line);
  }

  render(line) {
    const k = key(line.role, line.mid);
    let item = this.items.get(k);
    const follow = this.#nearBottom();
    if (!item) {
      const doc = this.list.ownerDocument;
      item = doc.createElement("li");
      item.className = `line ${line.role}`;
      item.dataset.mid = line.mid;
      item.dataset.role = line.role;
      const who = doc.createElement("span");
      who.className = "who";
      who.textContent = this.names[line.role] ?? line.role;
      const text = doc.createElement("span");
      text.className = "text";
      item.append(who, text);
      this.items.set(k, item);
      this.list.append(item);
    }
    item.querySelector(".text").textContent = line.text;
    item.dataset.final = String(line.final);
    // Screen readers wait for a streaming answer to settle before reading it.
    item.setAttribute("aria-busy", String(!line.final));
    if (line.unspoken) this.#showUnspoken(item, line.unspoken);
    if (line.cut) {
      item.classList.add("cut");
      item.dataset.cut = "true";
      if (!item.querySelector(".cut-note")) {
        const note = this.list.ownerDocument.createElement("span");
        note.className = "cut-note";
        note.textContent = t("(interrupted)");
        item.append(note);
      }
    }
    if (follow) this.list.scrollTop = this.list.scrollHeight;
  }

  clear() {
    this.model.clear();
    this.items.clear();
    this.list.replaceChildren();
  }

  // What went out but the avatar never said: after what it said, struck through, and
  // named for screen readers (which do not read strike-through).
  #showUnspoken(item, rest) {
    let box = item.querySelector(".unspoken");
    if (!box) {
      const doc = this.list.ownerDocument;
      box = doc.createElement("span");
      box.className = "unspoken";
      const label = doc.createElement("span");
      label.className = "visually-hidden";
      label.textContent = t("Not said:");
      box.append(label, doc.createElement("s"));
      // Before the "(interrupted)" note, which an interrupt may have put there first.
      item.insertBefore(box, item.querySelector(".cut-note"));
    }
    box.querySelector("s").textContent = rest;
  }

  #nearBottom() {
    const l = this.list;
    return l.scrollHeight - l.scrollTop - l.clientHeight < 48;
  }
}
