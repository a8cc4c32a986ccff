// The avatar page's elements (templates/avatar.html), by the names the page modules use:
// "tag#id". app.js looks them up once; node tests build stand-ins from the same list.

export const PAGE_ELEMENTS = Object.freeze({
  app: "div#app",
  status: "div#status",
  error: "div#error",
  errorClose: "button#error-close",
  // the start screen and the settings (setup.js)
  setupPanel: "section#setup",
  presetList: "div#preset-list",
  reloadPresetsBtn: "button#reload-presets-btn",
  startForm: "form#start-form",
  startBtn: "button#start-btn",
  startHint: "p#start-hint",
  voiceSelect: "select#voice-select",
  languageSelect: "select#language-select",
  modeSelect: "select#mode-select",
  modeHelp: "p#mode-help",
  durationInput: "input#duration-input",
  durationHelp: "p#duration-help",
  backgroundInput: "input#background-input",
  backgroundBtn: "button#background-btn",
  // the user's live sessions, to continue here or end (live_list.js)
  liveList: "section#live-list",
  // the running session (session.js)
  sessionPanel: "section#session",
  sessionTitle: "h1#session-title",
  endBtn: "button#end-btn",
  transcript: "ol#transcript",
  endedHistoryLink: "a#ended-history-link",
  // the stage (stage.js)
  quality: "span#quality",
  countdown: "time#countdown",
  video: "video#avatar-video",
  canvas: "canvas#avatar-canvas",
  remote: "div#avatar-remote",
  videoWait: "p#video-wait",
  speaking: "p#speaking",
  enableAudioBtn: "button#enable-audio-btn",
  captions: "p#captions",
  captionsBtn: "button#captions-btn",
  // the controls (controls.js)
  interruptBtn: "button#interrupt-btn",
  micBtn: "button#mic-btn",
  micLevel: "meter#mic-level",
  micNote: "p#mic-note",
  cameraBtn: "button#camera-btn",
  localVideo: "div#local-video",
  voiceToggle: "input#voice-toggle",
  voiceToggleLabel: "label#voice-toggle-label",
  chatForm: "form#chat-form",
  chatInput: "textarea#chat-input",
  chatCount: "span#chat-count",
  acks: "ol#acks",
  // the recording notice and its tick (consent.js)
  recordingNotice: "div#recording-notice",
  recordingNoticeText: "p#recording-notice-text",
  recordingNoticeLlm: "p#recording-notice-llm",
  consentLabel: "label#consent-label",
  consentCheck: "input#consent-check",
  // the warning before the end, and Extend (extend.js)
  endWarningBox: "div#end-warning-box",
  endWarning: "p#end-warning",
  extendBtn: "button#extend-btn",
});

/** The elements of `spec` in `doc`; throws, naming them, if any is missing. */
export function findElements(doc, spec = PAGE_ELEMENTS) {
  const el = {};
  const missing = [];
  for (const [name, selector] of Object.entries(spec)) {
    const id = selector.split("#")[1];
    el[name] = doc.getElementById(id);
    if (!el[name]) missing.push(`#${id}`);
  }
  if (missing.length) throw new Error(`the page lacks ${missing.join(", ")}`);
  return el;
}
