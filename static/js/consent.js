// The recording notice above Start (issue 16): that the conversation is recorded, for how
// long and where it goes (the server writes the words: sessions/services/consent.py), the
// operator's assistant's host when the chosen avatar answers with it, and, for a preset
// that asks for it, a tick without which Start stays disabled. The server refuses a
// create without `consent: true` for such a preset, so this is the page's half of a rule
// the API enforces too.

import { t } from "./i18n.js";

export const TICK_FIRST_TEXT = t("Tick the box under the recording notice to start this avatar.");

export class ConsentNotice {
  /**
   * @param {object} options
   * @param {object} options.el  recordingNoticeText, recordingNoticeLlm, consentLabel,
   *   consentCheck, modeSelect (elements.js); setup.js tells it when the avatar changes
   * @param {object} options.setup  setup.js: selectedPreset(), llmAnswers, refreshStart()
   * @param {object} [options.notice]  the page config's recordingNotice: {text, llm_text}
   */
  constructor({ el, setup, notice = {} }) {
    this.el = el;
    this.setup = setup;
    this.text = String(notice?.text ?? "");
    this.llmText = String(notice?.llm_text ?? "");
  }

  /** Show the notice, and follow the avatar and mode chosen. */
  wire() {
    const { el } = this;
    el.recordingNoticeText.textContent = this.text;
    el.modeSelect.addEventListener("change", () => this.update());
    el.consentCheck.addEventListener("change", () => this.setup.refreshStart());
    this.update();
  }

  /** The chosen preset asks for the tick. */
  get required() {
    return Boolean(this.setup.selectedPreset()?.consent_required);
  }

  /** The tick was given (or none is asked for). */
  get given() {
    return !this.required || Boolean(this.el.consentCheck.checked);
  }

  /** Redraw for the preset and mode now chosen (setup.js calls it when they change). */
  update() {
    const { el } = this;
    // Our assistant hears what is said only when it answers: own-assistant mode.
    const llm = Boolean(this.llmText && this.setup.llmAnswers);
    el.recordingNoticeLlm.textContent = llm ? this.llmText : "";
    el.recordingNoticeLlm.hidden = !llm;
    el.consentLabel.hidden = !this.required;
    this.setup.refreshStart();
  }

  /** Start was asked for without the tick: say so and put the focus on it. */
  refuse(notices) {
    notices.showError(TICK_FIRST_TEXT, "consent_required");
    this.el.consentCheck.focus?.();
  }
}
