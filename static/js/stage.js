// The stage: what the user watches during a session. The avatar's video (Agora's player
// in #avatar-remote, or the sandbox's face drawn on a canvas and shown through <video>),
// the wait for it, "Speaking…"/"Listening", the network quality, the time left, and the
// button that turns the avatar's sound on when the browser blocked autoplay, and the
// captions over the video: the sentence the avatar is saying, hidden at the user's wish
// (remembered in localStorage).

import { describeQuality } from "./format.js";
import { SandboxFace, splitSentences } from "./sandbox_face.js";
import { t } from "./i18n.js";

/** How long the last caption stays after the avatar stops speaking (issue 17). */
export const CAPTION_LINGER_MS = 1500;

/** Where the captions' on/off is remembered ("off" or absent). */
export const CAPTIONS_KEY = "avatarsite.captions";

export class Stage {
  /**
   * @param {object} options
   * @param {object} options.el  video, canvas, remote, videoWait, speaking, quality,
   *   countdown, enableAudioBtn (elements.js)
   * @param {(options: object) => object} [options.makeFace]  the sandbox's face
   * @param {object} [options.storage]  localStorage, where the captions' choice is kept
   * @param {object} [options.win]  the window, scrolled to the stage when a session starts;
   *   its setTimeout clears the last caption after the avatar stops speaking
   */
  constructor({ el, makeFace = (options) => new SandboxFace(options), storage = globalThis.localStorage, win = globalThis }) {
    this.el = el;
    this.win = win;
    this.captionTimer = null;
    this.cutMid = null; // the line an interrupt cut: its late words get no caption
    this.makeFace = makeFace;
    this.face = null;
    this.storage = storage;
    this.captionMid = null;
    this.captionText = "";
    this.captionsOn = this.#remembered() !== "off";
    this.#showCaptionsChoice();
  }

  /** `resumeAudio` runs when the user asks for the avatar's sound. */
  wire(resumeAudio) {
    this.el.enableAudioBtn.addEventListener("click", () => {
      resumeAudio();
      this.el.enableAudioBtn.hidden = true;
    });
    this.el.captionsBtn.addEventListener("click", () => {
      this.captionsOn = !this.captionsOn;
      this.#remember(this.captionsOn ? "on" : "off");
      this.#showCaptionsChoice();
    });
  }

  /**
   * Set the stage for a new session: the sandbox's face (started at once), or the wait
   * for the avatar's video.
   */
  prepare({ sandbox, name = "", slug = "", thumbnail = "", gender = "", language = "", voice = false, background = "" }) {
    const { el } = this;
    el.video.hidden = true;
    el.canvas.hidden = true;
    el.remote.hidden = sandbox;
    el.remote.replaceChildren();
    el.videoWait.hidden = sandbox;
    el.enableAudioBtn.hidden = true;
    this.setSpeaking(false);
    this.clearCaptions();
    this.cutMid = null;
    // The stage replaces the start screen, whose Start button a phone has scrolled down
    // to: back to the top, where the stage, its time left and End are.
    this.win.scrollTo?.(0, 0);
    if (sandbox) {
      this.face = this.makeFace({ canvas: el.canvas, video: el.video, name, slug, thumbnail, gender, language, voice });
      this.face.start();
      if (background) this.face.setBackground(background);
      el.quality.textContent = t("Local sandbox");
      el.quality.dataset.level = "sandbox";
    } else {
      el.quality.textContent = t("Network: measuring…");
      el.quality.dataset.level = "0";
    }
  }

  setSpeaking(on) {
    const { speaking } = this.el;
    speaking.dataset.speaking = String(Boolean(on));
    speaking.textContent = on ? t("Speaking…") : t("Listening");
    this.face?.setSpeaking(on);
    // A caption left over the video after the words were said hides the face for nothing.
    this.#stopCaptionTimer();
    if (!on && this.el.captions.textContent) {
      this.captionTimer = this.win.setTimeout?.(() => {
        this.captionTimer = null;
        this.clearCaptions();
      }, CAPTION_LINGER_MS) ?? null;
    }
  }

  #stopCaptionTimer() {
    if (this.captionTimer !== null) this.win.clearTimeout?.(this.captionTimer);
    this.captionTimer = null;
  }

  /** A parsed stream message from the avatar: the face follows it; speech shows. */
  streamMessage(m) {
    this.face?.onStreamMessage(m);
    if (m.type === "chat" && m.from === "bot") this.#caption(m.mid, m.text);
    if (m.type !== "event") return;
    if (m.event === "audio_start") this.setSpeaking(true);
    else if (m.event === "audio_end") this.setSpeaking(false);
  }

  /** The captions: the sentence of the avatar's line (`mid`) that is being said now. */
  #caption(mid, text) {
    // Words of an interrupted line still in flight: it was cut, its caption stays gone.
    if (mid && mid === this.cutMid) return;
    if (mid !== this.captionMid) {
      this.#stopCaptionTimer();
      this.captionMid = mid;
      this.captionText = "";
    }
    this.captionText += text ?? "";
    const { sentences, rest } = splitSentences(this.captionText);
    this.el.captions.textContent = (rest || sentences.at(-1) || "").trim();
    this.#showCaptionsChoice();
  }

  clearCaptions() {
    this.#stopCaptionTimer();
    this.captionMid = null;
    this.captionText = "";
    this.el.captions.textContent = "";
    this.#showCaptionsChoice();
  }

  #showCaptionsChoice() {
    const { captions, captionsBtn } = this.el;
    captionsBtn.setAttribute("aria-pressed", String(this.captionsOn));
    captions.hidden = !this.captionsOn || !captions.textContent;
  }

  #remembered() {
    try {
      return this.storage?.getItem(CAPTIONS_KEY) ?? "";
    } catch {
      return ""; // storage refused (private mode, a sandboxed frame): captions stay on
    }
  }

  #remember(value) {
    try {
      this.storage?.setItem(CAPTIONS_KEY, value);
    } catch {
      // not remembered; the choice holds for this page
    }
  }

  /** Whether the page waits for the avatar's video (its note shows meanwhile). */
  waitForVideo(on) {
    this.el.videoWait.hidden = !on;
  }

  /** A transport's {uplink, downlink, rtt} as words and a level. */
  showQuality(q) {
    const { label, level } = describeQuality(q);
    this.el.quality.textContent = label;
    this.el.quality.dataset.level = String(level);
  }

  autoplayBlocked() {
    this.el.enableAudioBtn.hidden = false;
  }

  /** The session ends at `expiresAt` (ISO text), or null when that is unknown. */
  setEnd(expiresAt) {
    const { countdown } = this.el;
    if (expiresAt) {
      countdown.dateTime = expiresAt;
    } else {
      countdown.textContent = "--:--";
      countdown.removeAttribute("datetime");
    }
  }

  /** One tick of the countdown (clock.js): "mm:ss", and whether little time is left. */
  showTimeLeft(text, low) {
    this.el.countdown.textContent = text;
    this.el.countdown.dataset.low = String(low);
  }

  // What the user does to the face (controls.js); nothing without one.
  interrupt() {
    this.face?.interrupt();
    this.cutMid = this.captionMid;
    this.clearCaptions();
  }

  setBackground(url) {
    this.face?.setBackground(url);
  }

  setLanguage(language) {
    this.face?.setLanguage(language);
  }

  setVoice(on) {
    this.face?.setVoice(on);
  }

  /** Stop the face (at once when a session ends, before its connections are closed). */
  stopFace() {
    this.face?.stop();
    this.face = null;
  }

  /** Back to an empty stage. */
  reset() {
    const { el } = this;
    this.stopFace();
    el.remote.replaceChildren();
    el.video.hidden = true;
    el.canvas.hidden = true;
    el.videoWait.hidden = true;
    el.enableAudioBtn.hidden = true;
    el.countdown.textContent = "--:--";
    this.setSpeaking(false);
    this.clearCaptions();
  }
}
