// Preset pages of the admin: a spoken sample of each sandbox voice, and a visible wait
// while the catalog import runs (a paginated AKool catalog takes a few seconds).

import { t } from "./i18n.js";

/** Say a sample in the voice of `button` (data-name, data-lang), as a session would. */
export function sampleVoice(button, win) {
  const synth = win.speechSynthesis;
  if (!synth || !win.SpeechSynthesisUtterance) {
    button.textContent = t("No speech synthesis here");
    button.disabled = true;
    return;
  }
  synth.cancel();
  // The sandbox avatar speaks with the browser's speech synthesis in the session's
  // language; the sample does the same, so it sounds as a session would.
  const u = new win.SpeechSynthesisUtterance(`Hello, I am ${button.dataset.name}. This is how I sound.`);
  u.lang = button.dataset.lang || "en";
  const label = button.textContent;
  u.onstart = () => {
    button.textContent = t("■ Speaking…");
  };
  u.onend = u.onerror = () => {
    button.textContent = label;
  };
  synth.speak(u);
}

/** Every button.voice-sample under `root` says its sample when clicked. */
export function wireVoiceSamples(root, win) {
  for (const button of root.querySelectorAll("button.voice-sample")) {
    button.addEventListener("click", () => sampleVoice(button, win));
  }
}

/** Every form.catalog-import shows that it is busy once submitted. */
export function wireCatalogImport(root, defer = (fn) => setTimeout(fn)) {
  for (const form of root.querySelectorAll("form.catalog-import")) {
    form.addEventListener("submit", () => {
      const button = form.querySelector("button");
      // Disabled after the submit has started, so the form still sends.
      defer(() => {
        button.disabled = true;
        button.textContent = button.dataset.busyLabel || "Importing…";
        form.setAttribute("aria-busy", "true");
      });
    });
  }
}

// The page's script (the admin's preset and voice pages); node tests import the above.
if (globalThis.document) {
  wireVoiceSamples(document, window);
  wireCatalogImport(document);
}
