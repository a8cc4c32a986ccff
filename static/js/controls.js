// What the user does during a session: the chat box, Interrupt, the microphone and the
// camera, live changes of the settings (voice, language, mode, background), and the list
// of confirmed changes (the command results, acks.js). Each acts on the session it is
// attached to (session.js attaches each new one); with none, the controls do nothing.

import { t } from "./i18n.js";
import { AckLog, ackText, renderAcks } from "./acks.js";
import { Camera } from "./camera.js";
import { Mic } from "./mic.js";
import { BROWSER_SENDS_AUDIO, Hearing, mayHear } from "./hearing.js";

const NOT_CONNECTED = t("Not connected to the server right now; try again in a moment.");
export const NOTHING_TO_STOP = t("Nothing to stop: the avatar is not speaking.");
/** The counter under the chat box warns from this share of the limit on. */
export const CHAT_NEAR_LIMIT = 0.9;

/** "120 / 4000" and how close to the limit: "ok", "near" or "full". */
export function chatCount(length, max) {
  const level = length >= max ? "full" : length >= max * CHAT_NEAR_LIMIT ? "near" : "ok";
  return { text: `${length} / ${max}`, level };
}

const micOnText = (live) => {
  // Heard through the browser's speech service (the note under the button says where the
  // audio goes), or only measured (the sandbox hears nothing else), or sent to the avatar.
  if (mayHear(live)) return t("Microphone on: your browser's speech service hears you.");
  return live.sandbox ? t("Microphone on (measured only in the sandbox).") : t("Microphone on.");
};

export class Controls {
  /**
   * @param {object} options
   * @param {object} options.el  chatForm, chatInput, interruptBtn, micBtn, micLevel, micNote,
   *   cameraBtn, localVideo, voiceToggle, voiceToggleLabel, voiceSelect, languageSelect,
   *   modeSelect, backgroundInput, backgroundBtn, acks (elements.js)
   * @param {object} options.notices  notices.js
   * @param {object} options.setup  setup.js: whether our own assistant answers
   * @param {object} options.stage  stage.js: the face follows interrupts and settings
   * @param {boolean} [options.cameraEnabled]  the site offers the camera
   * @param {boolean} [options.speech]  the browser can read the sandbox's answers aloud
   * @param {number} [options.chatMaxChars]  the server's limit on a message (page config)
   */
  constructor({
    el,
    notices,
    setup,
    stage,
    cameraEnabled = false,
    speech = false,
    chatMaxChars = 0,
    makeMic = (options) => new Mic(options),
    makeCamera = (options) => new Camera(options),
  }) {
    Object.assign(this, { el, notices, setup, stage, cameraEnabled, speech, chatMaxChars, makeMic, makeCamera });
    // The message sent and not yet accepted: it stays in the box until its own line comes
    // back in the transcript; a refusal (an error frame) leaves it there to edit.
    this.pendingChat = null;
    this.asked = null; // the settings last asked for (set_params)
    this.live = null;
    this.mic = null;
    this.camera = null;
    this.hearing = null; // the browser's recogniser, in the sandbox (hearing.js)
    this.acks = new AckLog();
  }

  wire() {
    const { el } = this;
    el.chatForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.sendChat();
    });
    el.chatInput.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.sendChat();
      }
    });
    el.chatInput.addEventListener("input", () => this.#showCount());
    if (this.chatMaxChars > 0) el.chatInput.maxLength = this.chatMaxChars;
    this.#showCount();
    el.interruptBtn.addEventListener("click", () => this.interrupt());
    el.micBtn.addEventListener("click", () => this.toggleMic());
    el.cameraBtn.addEventListener("click", () => this.toggleCamera());
    el.voiceToggle.addEventListener("change", () => this.stage.setVoice(el.voiceToggle.checked));
    el.voiceSelect.addEventListener("change", () => this.#changeVoice());
    el.languageSelect.addEventListener("change", () => this.#changeLanguage());
    el.modeSelect.addEventListener("change", () => {
      if (this.live) this.#sendParams({ mode: Number(el.modeSelect.value) }, t("Applying the mode…"));
    });
    el.backgroundBtn.addEventListener("click", () => this.#applyBackground());
    el.backgroundInput.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        el.backgroundBtn.click();
      }
    });
  }

  /** A new session (live_session.js): fresh controls for it. */
  attach(live) {
    const { el } = this;
    this.live = live;
    this.mic = null;
    this.camera = null;
    this.acks = new AckLog();
    this.pendingChat = null;
    el.acks.replaceChildren();
    el.micNote.hidden = !live.sandbox;
    this.hearing = null;
    // The preset lets the browser's own recogniser hear in the sandbox: say where the audio goes.
    if (mayHear(live)) el.micNote.textContent = BROWSER_SENDS_AUDIO;
    el.cameraBtn.hidden = !this.cameraEnabled;
    this.#micUi(false);
    this.#cameraUi(false);
    el.voiceToggleLabel.hidden = !(live.sandbox && this.speech);
    el.voiceToggle.checked = this.speech;
  }

  /** The session ended: the controls let go of it and of the devices. */
  async detach() {
    this.live = null;
    await this.releaseDevices();
  }

  /** Stop the microphone and the camera (they belong to a transport that goes). */
  async releaseDevices() {
    const { mic, camera } = this;
    this.mic = null;
    this.camera = null;
    this.hearing?.stop();
    this.hearing = null;
    await Promise.allSettled([mic?.stop(), camera?.stop()]);
    this.#micUi(false);
    this.#cameraUi(false);
  }

  focusChat() {
    // Without scrolling: on a phone the box is below the stage, which must stay in view.
    this.el.chatInput.focus({ preventScroll: true });
  }

  /** A new session socket: the command results it replays are the whole list. */
  relayOpened() {
    this.acks.connected();
    // A message sent on the socket that went has no verdict coming: the box keeps it.
    this.pendingChat = null;
  }

  /** A transcript frame: the user's own new line means the message was accepted. */
  transcriptLine(m) {
    const sent = this.pendingChat;
    if (!sent || m.role !== "user" || m.replay || m.text.trim() !== sent) return;
    this.pendingChat = null;
    if (this.el.chatInput.value.trim() === sent) {
      this.el.chatInput.value = "";
      this.#showCount();
    }
  }

  /** An error frame: a message waiting for its verdict was refused and stays in the box. */
  serverError() {
    this.pendingChat = null;
  }

  /**
   * A command's result: into the list of confirmed changes (rebuilt from each socket's
   * replay, see acks.js). Only a live result is news: a replayed one (a reload, a
   * reconnect) touches neither #status nor #error.
   */
  commandResult(m) {
    const name = (key, value) => this.setup.settingName?.(key, value) ?? "";
    // A refusal may not say which setting it was about: the one this page asked for.
    if (!m.ok && !m.replay && !m.params && m.cmd === "set-params") m = { ...m, params: this.asked };
    this.acks.apply(m);
    renderAcks(this.el.acks, this.acks, name);
    if (m.replay) return;
    const text = ackText(m, name);
    if (m.ok) {
      // Only replaces this page's own "Applying…" or "Stopping…", never other news.
      if (this.notices.statusText === this.waitingText) this.notices.setStatus(`${text}.`);
    } else {
      this.notices.setStatus("");
      this.notices.showError(text, "command_failed");
    }
  }

  sendChat() {
    const { live, el, notices } = this;
    if (!live || live.ending) return;
    const text = el.chatInput.value.trim();
    // Still waiting for the verdict on this very text: a second Enter would send it twice.
    if (!text || text === this.pendingChat) return;
    if (!live.relay.send({ type: "chat", text })) {
      notices.showError(
        t("Not connected to the server right now: your message is kept, send it again in a moment."),
        "not_connected",
      );
      return;
    }
    // The user acts again: the old news ("Connected. Say hello!") and error go.
    notices.acted();
    // An own-LLM session sends the answer's frames, not the question's: no estimate then.
    if (!this.setup.llmAnswers) live.progress.expect(text);
    this.pendingChat = text;
  }

  interrupt() {
    const { live, notices } = this;
    if (!live) return;
    // Nothing said or being said: "Stopped" would claim what did not happen.
    if (!this.avatarBusy()) {
      notices.clearError();
      notices.setStatus(NOTHING_TO_STOP);
      return;
    }
    if (!live.relay.send({ type: "interrupt" })) {
      notices.showError(NOT_CONNECTED, "not_connected");
      return;
    }
    live.view.cutOpen();
    this.stage.interrupt();
    notices.clearError();
    this.waitingText = t("Stopping the avatar…");
    notices.setStatus(this.waitingText, { busy: true });
  }

  /**
   * The avatar speaks, or an answer of its is on its way: a line of its not yet final, or
   * the user's message is the last word (its answer is queued; Interrupt drops it).
   */
  avatarBusy() {
    if (this.el.speaking?.dataset.speaking === "true" || this.pendingChat) return true;
    const lines = this.live?.view.model?.lines ?? [];
    return lines.at(-1)?.role === "user" || lines.some((l) => l.role === "avatar" && !l.final);
  }

  async toggleMic() {
    const { live, el, notices } = this;
    if (!live) return;
    if (!this.mic) {
      const state = live.transport?.state;
      if (!live.sandbox && state !== "joined" && state !== "waiting") {
        notices.showError(t("Wait until the video channel is joined, then turn the microphone on."));
        return;
      }
      this.mic = this.makeMic({
        transport: live.sandbox ? null : live.transport,
        onLevel: (v) => {
          el.micLevel.value = v;
        },
      });
    }
    const mic = this.mic;
    el.micBtn.disabled = true;
    try {
      if (!mic.active) {
        notices.setStatus(t("Starting the microphone…"), { busy: true });
        await mic.start();
        this.#hear(true);
        this.#micUi(true);
        notices.setStatus(micOnText(live));
      } else {
        await mic.setMuted(!mic.muted);
        this.#hear(!mic.muted);
        this.#micUi(!mic.muted);
        // The status follows the button: never "Microphone on" beside "Microphone off".
        notices.setStatus(mic.muted ? t("Microphone off.") : micOnText(live));
      }
    } catch (err) {
      this.#micUi(false);
      notices.setStatus("");
      notices.showError(err.message, "microphone");
    } finally {
      el.micBtn.disabled = false;
    }
  }

  async toggleCamera() {
    const { live, el } = this;
    if (!live || !this.cameraEnabled) return;
    this.camera ??= this.makeCamera({ transport: live.sandbox ? null : live.transport, container: el.localVideo });
    const camera = this.camera;
    el.cameraBtn.disabled = true;
    try {
      if (camera.active) {
        await camera.stop();
        this.#cameraUi(false);
      } else {
        this.#cameraUi(true);
        await camera.start();
      }
    } catch (err) {
      this.#cameraUi(false);
      this.notices.showError(err.message, "camera");
    } finally {
      el.cameraBtn.disabled = false;
    }
  }

  /** Send the new settings; `waiting` ("Applying the voice…") is the status meanwhile. */
  #sendParams(params, waiting) {
    if (!this.live.relay.send({ type: "set_params", params })) {
      this.notices.showError(NOT_CONNECTED, "not_connected");
      return;
    }
    this.asked = params;
    this.notices.clearError();
    this.waitingText = waiting;
    this.notices.setStatus(waiting, { busy: true });
  }

  #changeVoice() {
    if (!this.live) return;
    const voice = this.el.voiceSelect.value || this.live.preset?.default_voice;
    if (voice) this.#sendParams({ voice }, t("Applying the voice…"));
  }

  #changeLanguage() {
    if (!this.live) return;
    const language = this.el.languageSelect.value || this.live.preset?.language;
    this.stage.setLanguage(language);
    if (language) this.#sendParams({ language }, t("Applying the language…"));
  }

  #applyBackground() {
    if (!this.live) return;
    const url = this.el.backgroundInput.value.trim();
    if (!/^https?:\/\/\S+$/i.test(url)) {
      this.notices.showError(t("Enter the background image's address, starting with https://."));
      this.el.backgroundInput.focus();
      return;
    }
    this.stage.setBackground(url);
    this.#sendParams({ background_url: url }, t("Applying the background…"));
  }

  #showCount() {
    const { chatCount: counter, chatInput } = this.el;
    if (!counter) return;
    counter.hidden = !(this.chatMaxChars > 0);
    if (counter.hidden) return;
    const { text, level } = chatCount(chatInput.value.length, this.chatMaxChars);
    counter.textContent = text;
    counter.dataset.level = level;
  }

  /** The browser's recogniser follows the microphone, where the session may use it. */
  #hear(on) {
    const { live } = this;
    if (!on || !mayHear(live)) {
      this.hearing?.stop();
      return;
    }
    this.hearing ??= new Hearing({
      send: (frame) => live.transport.send(frame),
      lang: this.el.languageSelect.value || live.preset?.language || "",
      onError: (code) => {
        if (code === "not-allowed" || code === "service-not-allowed") {
          this.notices.showError(t("The browser did not allow speech recognition; type to talk."), "microphone");
        }
      },
    });
    this.hearing.start();
  }

  #micUi(on) {
    const { micBtn, micLevel } = this.el;
    micBtn.setAttribute("aria-pressed", String(on));
    micBtn.textContent = on ? t("Microphone on") : t("Microphone off");
    if (!on) micLevel.value = 0;
  }

  #cameraUi(on) {
    const { cameraBtn, localVideo } = this.el;
    cameraBtn.setAttribute("aria-pressed", String(on));
    cameraBtn.textContent = on ? t("Camera on") : t("Camera off");
    localVideo.hidden = !on;
  }
}
