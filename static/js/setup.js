// The start screen and the settings beside it: the avatar presets, the voice, language,
// mode, background and duration controls, and the Start button. It knows the catalog
// (GET /presets) and turns the controls into the body of a new session or the params of
// a running one; session.js decides what happens with them.

import { explainFailure, initials } from "./format.js";
import { t } from "./i18n.js";
import { facePreview } from "./sandbox_face.js";

/** Each mode's name in the list and the sentence under it. */
export const MODE_TEXT = Object.freeze({
  2: [t("Dialogue"), t("The avatar’s own assistant answers you.")],
  llm: [t("Own assistant"), t("Our own assistant (an LLM) answers, and the avatar speaks the answer.")],
  1: [t("Retelling"), t("The avatar says exactly what you type.")],
});

/** Why mode 1 does what it does for a preset that answers with our own assistant. */
export const MODE_WHY = Object.freeze({
  noOwnWords: t("This avatar retells our assistant’s answers, so it does not repeat your own words."),
  noAssistant:
    t("This avatar would retell our own assistant’s answers, but none is set up on this site, so it says exactly what you type."),
});

/** A voice's gender as the catalog says it, in the reader's words (others as they are). */
const GENDER_WORDS = Object.freeze({ female: t("female"), male: t("male") });

/** Select `value` if `select` has that option; returns whether it did. */
function setSelect(select, value) {
  const has = [...select.options].some((o) => o.value === value);
  if (has) select.value = value;
  return has;
}

export class Setup {
  /**
   * @param {object} options
   * @param {object} options.el  presetList, reloadPresetsBtn, startForm, startBtn,
   *   voiceSelect, languageSelect, modeSelect, modeHelp, durationInput, durationHelp,
   *   backgroundInput (elements.js)
   * @param {object} options.api  presets()
   * @param {object} options.notices  notices.js
   * @param {object} [options.config]  llmAvailable, maxDuration, defaultDuration (seconds)
   */
  constructor({ el, api, notices, config = {} }) {
    this.el = el;
    this.api = api;
    this.notices = notices;
    this.config = config;
    this.doc = el.presetList.ownerDocument;
    this.catalog = { avatars: [], voices: [], languages: [] };
    this.starting = false;
    this.ready = true;
    /** The recording notice's tick (consent.js), when the page has one. */
    this.consent = null;
  }

  /** Listen to the controls; `onStart` runs when the start form is submitted. */
  wire(onStart) {
    const { el } = this;
    el.startForm.addEventListener("submit", (event) => {
      event.preventDefault();
      onStart();
    });
    el.reloadPresetsBtn.addEventListener("click", () => {
      this.notices.clearError();
      this.load();
    });
    el.presetList.addEventListener("change", (event) => {
      if (event.target.name === "preset") this.applyPreset(this.presetBySlug(event.target.value));
    });
    el.modeSelect.addEventListener("change", () => this.#updateModeHelp());
  }

  /** The duration field: its maximum and default from the site's settings. */
  setupDuration() {
    const { el, config } = this;
    const max = Math.max(1, Math.floor((config.maxDuration ?? 3600) / 60));
    el.durationInput.max = String(max);
    el.durationInput.value = String(Math.min(max, Math.max(1, Math.round((config.defaultDuration ?? 600) / 60))));
    el.durationHelp.textContent = t("Up to %(max)s minutes. The session closes by itself when its time is up.", { max });
  }

  /** Load the catalog and show it, the first preset chosen; false (said why) on failure. */
  async load() {
    const { el } = this;
    el.reloadPresetsBtn.hidden = true;
    el.presetList.replaceChildren(this.#note(t("Loading avatars…")));
    try {
      const data = await this.api.presets();
      this.catalog = {
        avatars: Array.isArray(data.avatars) ? data.avatars : [],
        voices: Array.isArray(data.voices) ? data.voices : [],
        languages: Array.isArray(data.languages) ? data.languages : [],
      };
    } catch (err) {
      el.presetList.replaceChildren(this.#note(t("The avatars could not be loaded.")));
      el.reloadPresetsBtn.hidden = false;
      this.notices.showError(explainFailure(err, t("Could not load the avatars")));
      return false;
    }
    this.#renderPresets();
    this.#fillLanguages();
    this.#fillVoices();
    const first = this.#radios()[0];
    if (first) {
      first.checked = true;
      this.applyPreset(this.presetBySlug(first.value));
    }
    return true;
  }

  /** Choose preset `slug` (the embed's ?preset=, its host page's start); false if not offered. */
  choose(slug) {
    const radios = this.#radios();
    if (!radios.some((i) => i.value === slug)) return false;
    for (const r of radios) r.checked = r.value === slug;
    this.applyPreset(this.presetBySlug(slug));
    return true;
  }

  presetBySlug(slug) {
    return this.catalog.avatars.find((a) => a.slug === slug) ?? null;
  }

  selectedPreset() {
    const checked = this.#radios().find((i) => i.checked);
    return checked ? this.presetBySlug(checked.value) : null;
  }

  /** Mark `preset` chosen and set the controls to its defaults. */
  applyPreset(preset) {
    const { el } = this;
    for (const card of el.presetList.querySelectorAll(".preset-card")) {
      card.classList.toggle("selected", card.dataset.slug === preset?.slug);
    }
    if (!preset) return;
    setSelect(el.voiceSelect, preset.default_voice ?? "") || setSelect(el.voiceSelect, "");
    setSelect(el.languageSelect, preset.language ?? "") || setSelect(el.languageSelect, "");
    this.#fillModes(preset);
    el.backgroundInput.value = preset.background_url ?? "";
    this.consent?.update();
  }

  /** Show a resumed session's settings in the controls. */
  showSession(session) {
    const { el } = this;
    const radio = this.#radios().find((i) => i.value === session.preset);
    if (radio) radio.checked = true;
    this.applyPreset(this.presetBySlug(session.preset));
    // A cloned voice has no voice id (it goes by URL): an empty id matches none.
    const voice = session.voice_id && this.catalog.voices.find((v) => v.voice_id === session.voice_id);
    if (voice) setSelect(el.voiceSelect, voice.slug);
    if (session.language && !setSelect(el.languageSelect, session.language)) {
      el.languageSelect.append(this.#option(session.language, session.language));
      el.languageSelect.value = session.language;
    }
    if (session.mode && !setSelect(el.modeSelect, String(session.mode))) {
      el.modeSelect.append(this.#option(String(session.mode), session.mode === 1 ? MODE_TEXT[1][0] : MODE_TEXT[2][0]));
      el.modeSelect.value = String(session.mode);
    }
    this.#updateModeHelp();
    // The background the avatar confirmed (the face shows it from the input at start).
    if (typeof session.background_url === "string" && session.background_url) {
      el.backgroundInput.value = session.background_url;
    }
  }

  /**
   * The body of POST /sessions from the controls, or null when they do not make one (it
   * says why and focuses the control; with no catalog yet, it loads it instead).
   */
  async startRequest() {
    const { el } = this;
    if (!this.catalog.avatars.length) {
      await this.load();
      return null;
    }
    const preset = this.selectedPreset();
    if (!preset) {
      this.notices.showError(t("Choose an avatar first."));
      this.#radios()[0]?.focus();
      return null;
    }
    const minutes = Number(el.durationInput.value);
    const maxMinutes = Number(el.durationInput.max);
    if (!Number.isFinite(minutes) || minutes < 1 || minutes > maxMinutes) {
      this.notices.showError(t("Choose a duration between 1 and %(max)s minutes.", { max: maxMinutes }));
      el.durationInput.focus();
      return null;
    }
    if (this.consent && !this.consent.given) {
      this.consent.refuse(this.notices);
      return null;
    }
    const body = { preset: preset.slug, duration: Math.round(minutes * 60), mode: Number(el.modeSelect.value) || 2 };
    if (this.consent?.required) body.consent = true;
    if (el.voiceSelect.value) body.voice = el.voiceSelect.value;
    if (el.languageSelect.value) body.language = el.languageSelect.value;
    return body;
  }

  /** The settings a running avatar should have (sent again when it arrives). */
  params() {
    const { el } = this;
    const params = { mode: Number(el.modeSelect.value) || 2 };
    if (el.voiceSelect.value) params.voice = el.voiceSelect.value;
    if (el.languageSelect.value) params.language = el.languageSelect.value;
    if (el.backgroundInput.value.trim()) params.background_url = el.backgroundInput.value.trim();
    return params;
  }

  /** The language chosen ("" for the avatar's own). */
  get language() {
    return this.el.languageSelect.value;
  }

  /** The background image's address as typed. */
  get background() {
    return this.el.backgroundInput.value;
  }

  /** Our own assistant answers (the frames sent are the answer's, not the message's). */
  get llmAnswers() {
    return this.el.modeSelect.value === "1" && this.el.modeSelect.dataset.llm === "true";
  }

  /** Start shows that a session is being started (and cannot be pressed meanwhile). */
  setStarting(on) {
    const { startBtn } = this.el;
    this.starting = on;
    this.refreshStart();
    startBtn.setAttribute("aria-busy", String(on));
    startBtn.textContent = on ? t("Starting…") : t("Start");
  }

  /** Start waits (disabled) until the page knows whether a session is already running. */
  setReady(on) {
    this.ready = on;
    this.refreshStart();
  }

  /** Start is disabled while starting, before the page is ready, and until ticked. */
  refreshStart() {
    const unticked = this.consent ? !this.consent.given : false;
    this.el.startBtn.disabled = this.starting || !this.ready || unticked;
    // Why Start is greyed, beside it (issue 17): the tick is the one reason a person can fix.
    if (this.el.startHint) this.el.startHint.hidden = !unticked;
  }

  focusStart() {
    // Without scrolling: the page's top, where the notice is, stays in view (a phone's
    // Start is far below it).
    this.el.startBtn.focus({ preventScroll: true });
  }

  #radios() {
    return [...this.el.presetList.querySelectorAll("input[name=preset]")];
  }

  #note(text) {
    return Object.assign(this.doc.createElement("p"), { className: "muted", textContent: text });
  }

  #option(value, label) {
    const o = this.doc.createElement("option");
    o.value = value;
    o.textContent = label;
    return o;
  }

  #renderPresets() {
    const { doc } = this;
    if (!this.catalog.avatars.length) {
      this.el.presetList.replaceChildren(
        this.#note(t("No avatars are set up yet. An administrator can add presets in the admin.")),
      );
      return;
    }
    const cards = this.catalog.avatars.map((a) => {
      const card = doc.createElement("label");
      card.className = "preset-card";
      card.dataset.slug = a.slug;
      card.dataset.testid = "preset-card";
      const input = doc.createElement("input");
      input.type = "radio";
      input.name = "preset";
      input.value = a.slug;
      input.className = "visually-hidden";
      const thumb = doc.createElement("span");
      thumb.className = "thumb";
      const fallback = doc.createElement("span");
      fallback.className = "initials";
      fallback.setAttribute("aria-hidden", "true");
      fallback.textContent = initials(a.name);
      if (this.config.sandboxFaces) {
        // The face its sandbox session will show (the thumbnail lends its colours).
        const gender = this.catalog.voices.find((v) => v.slug === a.default_voice)?.gender ?? "";
        thumb.append(facePreview(doc, { slug: a.slug, name: a.name, thumbnail: a.thumbnail_url, gender }));
      } else if (a.thumbnail_url) {
        const img = doc.createElement("img");
        img.alt = "";
        img.loading = "lazy";
        img.decoding = "async";
        img.src = a.thumbnail_url;
        img.addEventListener("error", () => img.replaceWith(fallback), { once: true });
        thumb.append(img);
      } else {
        thumb.append(fallback);
      }
      const name = doc.createElement("span");
      name.className = "preset-name";
      name.textContent = a.name || a.slug;
      const meta = doc.createElement("span");
      meta.className = "preset-meta";
      const bits = [this.#languageName(a.language), a.use_llm && this.config.llmAvailable ? t("own assistant") : null];
      meta.textContent = bits.filter(Boolean).join(" · ");
      card.append(input, thumb, name, meta);
      return card;
    });
    this.el.presetList.replaceChildren(...cards);
  }

  /**
   * A setting's value by its name, for the words of a command result (acks.js): the voice
   * preset's name, the language's name, the mode's name in the list. "" when unknown.
   */
  settingName(key, value) {
    if (key === "voice") {
      const v = this.catalog.voices.find((x) => x.slug === value || x.voice_id === value);
      return v?.name ?? "";
    }
    if (key === "language") return this.catalog.languages.find((l) => l.code === value)?.name ?? "";
    if (key === "mode") {
      const llm = this.el.modeSelect.dataset.llm === "true";
      return String(value) === "1" ? MODE_TEXT[llm ? "llm" : 1][0] : String(value) === "2" ? MODE_TEXT[2][0] : "";
    }
    return "";
  }

  #languageName(code) {
    if (!code) return "";
    return this.catalog.languages.find((l) => l.code === code)?.name ?? code;
  }

  #fillLanguages() {
    const opts = [this.#option("", t("The avatar’s language"))];
    for (const l of this.catalog.languages) opts.push(this.#option(l.code, l.name || l.code));
    this.el.languageSelect.replaceChildren(...opts);
  }

  #fillVoices() {
    const opts = [this.#option("", t("The avatar’s own voice"))];
    const voices = [...this.catalog.voices].sort((a, b) => String(a.name).localeCompare(String(b.name)));
    for (const v of voices) {
      const details = [this.#languageName(v.language), GENDER_WORDS[v.gender] ?? v.gender].filter(Boolean).join(", ");
      opts.push(this.#option(v.slug, details ? `${v.name} (${details})` : v.name));
    }
    this.el.voiceSelect.replaceChildren(...opts);
  }

  // Both modes, unless the preset allows only mode 1: dialogue (the avatar's own assistant
  // answers) and mode 1, which is our own assistant for a preset that uses it (when the
  // site has one), else plain retelling. What mode 1 cannot do for this preset is said in
  // the help, not hidden.
  #fillModes(preset) {
    const { modeSelect } = this.el;
    const llm = Boolean(preset?.use_llm && this.config.llmAvailable);
    // A preset whose assistant's answers are checked offers no dialogue (the server
    // refuses it: mode_not_allowed); the help says why.
    const dialogue = !preset?.modes || preset.modes.includes(2);
    const options = [this.#option("1", MODE_TEXT[llm ? "llm" : 1][0])];
    if (dialogue) options.unshift(this.#option("2", MODE_TEXT[2][0]));
    modeSelect.replaceChildren(...options);
    modeSelect.dataset.dialogue = String(dialogue);
    modeSelect.dataset.llm = String(llm);
    modeSelect.dataset.wantsLlm = String(Boolean(preset?.use_llm));
    setSelect(modeSelect, String(preset?.mode ?? 2));
    this.#updateModeHelp();
  }

  #updateModeHelp() {
    const { modeSelect, modeHelp } = this.el;
    const llm = modeSelect.dataset.llm === "true";
    const key = modeSelect.value === "1" ? (llm ? "llm" : 1) : 2;
    let text = MODE_TEXT[key][1];
    if (modeSelect.value === "1") {
      if (llm) text += ` ${MODE_WHY.noOwnWords}`;
      else if (modeSelect.dataset.wantsLlm === "true") text = MODE_WHY.noAssistant;
    }
    if (modeSelect.dataset.dialogue === "false") {
      text += ` ${t("This avatar’s answers are checked before it speaks them, so it has no dialogue mode, where they would not be.")}`;
    }
    modeHelp.textContent = text;
  }
}
