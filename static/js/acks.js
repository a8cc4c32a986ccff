// The list of confirmed changes (#acks): what the avatar acknowledged, newest first.
//
// On every (re)connect the server replays the last acknowledged commands (up to 8,
// oldest first) as `command_result` frames with `replay: true` (README, "Session
// websocket"). The replay is the whole list: the first replayed result after a connect
// starts the list afresh, so a reload rebuilds it and a reconnect never doubles it.
// A connect whose replay is empty keeps what the page has.

import { t } from "./i18n.js";

export const MAX_ACKS = 8;

// Each result in a person's words: "Voice changed to Warm", "Language: German",
// "Mode: Retelling", "Background changed", "Stopped"; a failure says what could not be
// done and why. `name(key, value)` turns a setting's value into its name (setup.js
// Setup.settingName: the voice preset's name, the language's name from GET /presets).

// What a failed command could not do, a whole phrase each (a translation needs the verb
// and its object together).
const COULD_NOT = {
  interrupt: t("Could not stop the avatar"),
  voice: t("Could not change the voice"),
  language: t("Could not change the language"),
  mode: t("Could not change the mode"),
  background_url: t("Could not change the background"),
  settings: t("Could not change the settings"),
  other: t("Could not do that"),
};

/** A confirmed setting as words ("Voice changed to Warm"). */
function paramWords(key, value, name) {
  const label = name(key, value) || String(value);
  if (key === "voice") return t("Voice changed to %(name)s", { name: label });
  if (key === "language") return t("Language: %(name)s", { name: label });
  if (key === "mode") return t("Mode: %(name)s", { name: label });
  if (key === "background_url") return t("Background changed");
  return t("%(setting)s changed", { setting: key.replaceAll("_", " ") });
}

const setKeys = (params) =>
  Object.entries(params ?? {}).filter(([, v]) => v !== null && v !== undefined && v !== "");

/** Confirmed settings as words, joined: "Voice changed to Warm · Language: German". */
export function describeParams(params, name = () => "") {
  return setKeys(params)
    .map(([key, value]) => paramWords(key, value, name))
    .join(" · ");
}

/** What a failed command could not do: "Could not change the voice". */
function failedWhat(cmd, params) {
  if (cmd === "interrupt") return COULD_NOT.interrupt;
  const keys = setKeys(params).map(([key]) => COULD_NOT[key] ?? COULD_NOT.settings);
  if (keys.length === 1) return keys[0];
  return cmd === "set-params" ? COULD_NOT.settings : COULD_NOT.other;
}

/** A command result as a line of the list (and of #status), in a person's words. */
export function ackText({ cmd, ok, message = "", params = null }, name = () => "") {
  if (!ok) {
    const failure = failedWhat(cmd, params);
    if (message && message.toLowerCase() !== "failed") return t("%(failure)s: %(reason)s", { failure, reason: message });
    return `${failure}.`;
  }
  if (cmd === "interrupt") return t("Stopped");
  return describeParams(params, name) || (cmd === "set-params" ? t("Settings changed") : t("Done"));
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

function itemFor(doc, e, name) {
  let li = items.get(e);
  if (!li) {
    li = doc.createElement("li");
    li.className = `ack ${e.ok ? "ok" : "fail"}`;
    li.dataset.cmd = e.cmd;
    li.dataset.ok = String(e.ok);
    if (e.code !== null) li.dataset.code = String(e.code);
    if (e.replay) li.dataset.replay = "true";
    li.textContent = ackText(e, name);
    items.set(e, li);
  }
  return li;
}

/**
 * Show an AckLog in a list element (an aria-live region), newest first. Items already
 * shown stay where they are, so only a new result is announced. `name` as for ackText.
 */
export function renderAcks(list, log, name = () => "") {
  const doc = list.ownerDocument;
  const want = [...log.entries].reverse().map((e) => itemFor(doc, e, name));
  for (const child of [...list.children]) {
    if (!want.includes(child)) child.remove();
  }
  want.forEach((li, i) => {
    if (list.children[i] !== li) list.insertBefore(li, list.children[i] ?? null);
  });
}
