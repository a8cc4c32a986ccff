// Preset pages of the admin: a spoken sample of each sandbox voice, and a visible wait
// while the catalog import runs (a paginated AKool catalog takes a few seconds).

function sample(button) {
  const synth = window.speechSynthesis;
  if (!synth || !window.SpeechSynthesisUtterance) {
    button.textContent = "No speech synthesis here";
    button.disabled = true;
    return;
  }
  synth.cancel();
  // The sandbox avatar speaks with the browser's speech synthesis in the session's
  // language; the sample does the same, so it sounds as a session would.
  const u = new SpeechSynthesisUtterance(`Hello, I am ${button.dataset.name}. This is how I sound.`);
  u.lang = button.dataset.lang || "en";
  const label = button.textContent;
  u.onstart = () => { button.textContent = "■ Speaking…"; };
  u.onend = u.onerror = () => { button.textContent = label; };
  synth.speak(u);
}

for (const button of document.querySelectorAll("button.voice-sample")) {
  button.addEventListener("click", () => sample(button));
}

for (const form of document.querySelectorAll("form.catalog-import")) {
  form.addEventListener("submit", () => {
    const button = form.querySelector("button");
    // Disabled after the submit has started, so the form still sends.
    setTimeout(() => {
      button.disabled = true;
      button.textContent = button.dataset.busyLabel || "Importing…";
      form.setAttribute("aria-busy", "true");
    });
  });
}
