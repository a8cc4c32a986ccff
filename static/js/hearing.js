// The sandbox hears (issue 19): in the local sandbox, when the preset opts in
// (browser_speech), the browser's own speech recognition turns what the microphone hears
// into text, and the page hands each finished phrase to the sandbox avatar as the
// sandbox-only `sandbox-hear` command; the avatar sends it back as the user's recognised
// speech, as AKool does, and the server answers it like any spoken question. The browser
// sends the audio to its vendor's speech service: off by default, and the page says so.

import { t } from "./i18n.js";

/** The longest phrase sent at once: its command stays well under the 1 KB frame limit. */
export const HEAR_MAX_CHARS = 300;

export const BROWSER_SENDS_AUDIO = t(
  "Your browser sends what the microphone hears to its maker's speech service, which turns it into text for the avatar.",
);

/** The browser's speech recognition constructor, or null where it offers none. */
export function speechRecognition(win = globalThis) {
  return win.SpeechRecognition ?? win.webkitSpeechRecognition ?? null;
}

/** Whether this session may hear through the browser: the sandbox, and the preset opts in. */
export function mayHear(live, win = globalThis) {
  return Boolean(live?.sandbox && live.preset?.browser_speech && speechRecognition(win));
}

/** The sandbox-hear command carrying `text` (trimmed, at most HEAR_MAX_CHARS). */
export function hearFrame(text, mid) {
  const data = { text: text.trim().slice(0, HEAR_MAX_CHARS) };
  return JSON.stringify({ v: 2, type: "command", mid, pld: { cmd: "sandbox-hear", data } });
}

export class Hearing {
  /**
   * @param {object} options
   * @param {(frame: string) => Promise} options.send  one stream message to the avatar
   * @param {string} [options.lang]  the session's language, for the recogniser
   * @param {(code: string) => void} [options.onError]
   */
  constructor({ send, lang = "", win = globalThis, onError = () => {} }) {
    Object.assign(this, { send, lang, win, onError });
    this.recognition = null;
    this.count = 0;
  }

  get active() {
    return Boolean(this.recognition);
  }

  start() {
    if (this.recognition) return;
    const Recognition = speechRecognition(this.win);
    if (!Recognition) return;
    const rec = new Recognition();
    rec.continuous = true;
    rec.interimResults = false; // the avatar's side shows pieces; the browser's are its own
    if (this.lang) rec.lang = this.lang;
    rec.onresult = (event) => {
      for (let i = event.resultIndex ?? 0; i < event.results.length; i++) {
        const result = event.results[i];
        if (result.isFinal) this.hear(result[0]?.transcript ?? "");
      }
    };
    // Recognisers stop by themselves after a silence: listen again while still on.
    rec.onend = () => {
      if (this.recognition === rec) {
        try {
          rec.start();
        } catch {
          this.recognition = null;
        }
      }
    };
    rec.onerror = (event) => this.onError(event?.error ?? "error");
    this.recognition = rec;
    rec.start();
  }

  /** Hand one finished phrase to the sandbox avatar. */
  hear(text) {
    if (!text.trim()) return Promise.resolve();
    this.count += 1;
    const mid = `hear-${Date.now().toString(36)}-${this.count}`;
    return Promise.resolve(this.send(hearFrame(text, mid))).catch(() => this.onError("send"));
  }

  stop() {
    const rec = this.recognition;
    this.recognition = null;
    try {
      rec?.stop();
    } catch {
      // already stopped
    }
  }
}
