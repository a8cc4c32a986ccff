// The avatar page: pick a preset, start a session, talk, end it.
//
// Flow: POST /sessions -> (wait while "starting") -> session websocket (Relay) + data
// stream (transport) -> talk -> End (POST close) or the server ends it. Every wait shows
// progress in #status, every failure says what happened and what to do in #error, and
// the page always comes back to a state where Start works.

import { AckLog, renderAcks } from "./acks.js";
import { createApi } from "./api.js";
import { Camera } from "./camera.js";
import { SessionClock } from "./clock.js";
import { describeEnd, describeQuality, describeServerError, endedInFailure, initials } from "./format.js";
import { parseStreamMessage, routeServerMessage, wsUrl } from "./messages.js";
import { Mic } from "./mic.js";
import { Notices } from "./notices.js";
import { Outage, RESUMED_TEXT, RESUMING_MEDIA_TEXT } from "./outage.js";
import { Relay } from "./relay.js";
import { SandboxFace } from "./sandbox_face.js";
import { SendProgress } from "./send_progress.js";
import { TranscriptView } from "./transcript.js";
import { createTransport } from "./transport.js";

const config = JSON.parse(document.getElementById("page-config").textContent);
const api = createApi({ base: config.apiBase ?? "/api/v1", csrfToken: config.csrfToken });

const $ = (id) => document.getElementById(id);
const el = {
  app: $("app"),
  status: $("status"),
  error: $("error"),
  setup: $("setup"),
  session: $("session"),
  presetList: $("preset-list"),
  reloadPresetsBtn: $("reload-presets-btn"),
  startForm: $("start-form"),
  startBtn: $("start-btn"),
  voiceSelect: $("voice-select"),
  languageSelect: $("language-select"),
  modeSelect: $("mode-select"),
  modeHelp: $("mode-help"),
  durationInput: $("duration-input"),
  durationHelp: $("duration-help"),
  backgroundInput: $("background-input"),
  backgroundBtn: $("background-btn"),
  sessionTitle: $("session-title"),
  endBtn: $("end-btn"),
  quality: $("quality"),
  countdown: $("countdown"),
  video: $("avatar-video"),
  canvas: $("avatar-canvas"),
  remote: $("avatar-remote"),
  localVideo: $("local-video"),
  videoWait: $("video-wait"),
  speaking: $("speaking"),
  enableAudioBtn: $("enable-audio-btn"),
  interruptBtn: $("interrupt-btn"),
  micBtn: $("mic-btn"),
  micLevel: $("mic-level"),
  micNote: $("mic-note"),
  cameraBtn: $("camera-btn"),
  voiceToggle: $("voice-toggle"),
  voiceToggleLabel: $("voice-toggle-label"),
  transcript: $("transcript"),
  chatForm: $("chat-form"),
  chatInput: $("chat-input"),
  acks: $("acks"),
};

const VIDEO_WAIT_NOTE_MS = 20000;
const STARTING_TIMEOUT_MS = 90000;
/** Rebuilding a failed media transport: tries before the session is given up. */
const MAX_TRANSPORT_RECOVERIES = 3;
/** A media reconnect shorter than this is not worth a notice. */
const MEDIA_DROP_NOTICE_MS = 1500;

const catalog = { avatars: [], voices: [], languages: [] };
/** The running session and everything that belongs to it; null on the start screen. */
let live = null;
let starting = false;

// ---------------------------------------------------------------------------------------
// Notices

const notices = new Notices({ status: el.status, error: el.error });

/** Progress or news in #status; `since` adds a running "n s" for long waits. */
function setStatus(text, options) {
  notices.setStatus(text, options);
}

/** An error in #error (news beside it goes: see notices.js). */
function showError(message, code = "") {
  notices.showError(message, code);
}

function clearError(codes = null) {
  notices.clearError(codes);
}

/** An API or start failure as a sentence that says what to do. */
function explain(err, action) {
  const message = err?.message || String(err);
  if (err?.name !== "ApiError") return `${action}: ${message}`;
  if (err.code === "network" || err.code === "timeout") return `${action}: ${message}`;
  let hint = "";
  if (err.status === 429) {
    hint = err.retryAfter ? ` Try again in ${err.retryAfter} s.` : " Try again a little later.";
  } else if (err.status === 400 || err.status === 422) {
    hint = " Check the settings and try again.";
  } else if (err.status >= 500) {
    hint = " Try again in a minute; if it keeps failing, tell the site's operator.";
  } else if (err.status === 401 || err.status === 403) {
    hint = " Reload the page and sign in again.";
  }
  return `${action}: ${message}${message.endsWith(".") ? "" : "."}${hint}`;
}

// ---------------------------------------------------------------------------------------
// Presets and settings

function presetBySlug(slug) {
  return catalog.avatars.find((a) => a.slug === slug) ?? null;
}

function selectedPreset() {
  const checked = el.presetList.querySelector("input[name=preset]:checked");
  return checked ? presetBySlug(checked.value) : null;
}

function option(value, label) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = label;
  return o;
}

async function loadPresets() {
  el.reloadPresetsBtn.hidden = true;
  el.presetList.replaceChildren(Object.assign(document.createElement("p"), { className: "muted", textContent: "Loading avatars…" }));
  try {
    const data = await api.presets();
    catalog.avatars = Array.isArray(data.avatars) ? data.avatars : [];
    catalog.voices = Array.isArray(data.voices) ? data.voices : [];
    catalog.languages = Array.isArray(data.languages) ? data.languages : [];
  } catch (err) {
    el.presetList.replaceChildren(Object.assign(document.createElement("p"), { className: "muted", textContent: "The avatars could not be loaded." }));
    el.reloadPresetsBtn.hidden = false;
    showError(explain(err, "Could not load the avatars"));
    return false;
  }
  renderPresets();
  fillLanguages();
  fillVoices();
  const first = el.presetList.querySelector("input[name=preset]");
  if (first) {
    first.checked = true;
    applyPresetDefaults(presetBySlug(first.value));
  }
  return true;
}

function renderPresets() {
  if (!catalog.avatars.length) {
    el.presetList.replaceChildren(
      Object.assign(document.createElement("p"), {
        className: "muted",
        textContent: "No avatars are set up yet. An administrator can add presets in the admin.",
      }),
    );
    return;
  }
  const cards = catalog.avatars.map((a) => {
    const card = document.createElement("label");
    card.className = "preset-card";
    card.dataset.slug = a.slug;
    card.dataset.testid = "preset-card";
    const input = document.createElement("input");
    input.type = "radio";
    input.name = "preset";
    input.value = a.slug;
    input.className = "visually-hidden";
    const thumb = document.createElement("span");
    thumb.className = "thumb";
    const fallback = document.createElement("span");
    fallback.className = "initials";
    fallback.setAttribute("aria-hidden", "true");
    fallback.textContent = initials(a.name);
    if (a.thumbnail_url) {
      const img = document.createElement("img");
      img.alt = "";
      img.loading = "lazy";
      img.decoding = "async";
      img.src = a.thumbnail_url;
      img.addEventListener("error", () => img.replaceWith(fallback), { once: true });
      thumb.append(img);
    } else {
      thumb.append(fallback);
    }
    const name = document.createElement("span");
    name.className = "preset-name";
    name.textContent = a.name || a.slug;
    const meta = document.createElement("span");
    meta.className = "preset-meta";
    const bits = [languageName(a.language), a.use_llm && config.llmAvailable ? "own assistant" : null];
    meta.textContent = bits.filter(Boolean).join(" · ");
    card.append(input, thumb, name, meta);
    return card;
  });
  el.presetList.replaceChildren(...cards);
}

function languageName(code) {
  if (!code) return "";
  return catalog.languages.find((l) => l.code === code)?.name ?? code;
}

function fillLanguages() {
  const opts = [option("", "The avatar’s language")];
  for (const l of catalog.languages) opts.push(option(l.code, l.name || l.code));
  el.languageSelect.replaceChildren(...opts);
}

function fillVoices() {
  const opts = [option("", "The avatar’s own voice")];
  const voices = [...catalog.voices].sort((a, b) => String(a.name).localeCompare(String(b.name)));
  for (const v of voices) {
    const details = [languageName(v.language), v.gender].filter(Boolean).join(", ");
    opts.push(option(v.slug, details ? `${v.name} (${details})` : v.name));
  }
  el.voiceSelect.replaceChildren(...opts);
}

const MODE_TEXT = {
  2: ["Dialogue", "The avatar’s own assistant answers you."],
  llm: ["Own assistant", "Our own assistant (an LLM) answers, and the avatar speaks the answer."],
  1: ["Retelling", "The avatar says exactly what you type."],
};

function fillModes(preset) {
  const opts = [option("2", MODE_TEXT[2][0])];
  const llm = Boolean(preset?.use_llm && config.llmAvailable);
  if (llm) opts.push(option("1", MODE_TEXT.llm[0]));
  else if (preset?.mode === 1) opts.push(option("1", MODE_TEXT[1][0]));
  el.modeSelect.replaceChildren(...opts);
  el.modeSelect.dataset.llm = String(llm);
  setSelect(el.modeSelect, String(preset?.mode ?? 2));
  updateModeHelp();
}

function updateModeHelp() {
  const llm = el.modeSelect.dataset.llm === "true";
  const key = el.modeSelect.value === "1" ? (llm ? "llm" : 1) : 2;
  el.modeHelp.textContent = MODE_TEXT[key][1];
}

/** Select `value` if the select has it; returns whether it did. */
function setSelect(select, value) {
  const has = [...select.options].some((o) => o.value === value);
  if (has) select.value = value;
  return has;
}

function applyPresetDefaults(preset) {
  for (const card of el.presetList.querySelectorAll(".preset-card")) {
    card.classList.toggle("selected", card.dataset.slug === preset?.slug);
  }
  if (!preset) return;
  setSelect(el.voiceSelect, preset.default_voice ?? "") || setSelect(el.voiceSelect, "");
  setSelect(el.languageSelect, preset.language ?? "") || setSelect(el.languageSelect, "");
  fillModes(preset);
  el.backgroundInput.value = preset.background_url ?? "";
}

/** Show a resumed session's settings in the controls. */
function applySessionToControls(session) {
  const radio = [...el.presetList.querySelectorAll("input[name=preset]")].find((i) => i.value === session.preset);
  if (radio) radio.checked = true;
  const preset = presetBySlug(session.preset);
  applyPresetDefaults(preset);
  const voice = catalog.voices.find((v) => v.voice_id === session.voice_id);
  if (voice) setSelect(el.voiceSelect, voice.slug);
  if (session.language && !setSelect(el.languageSelect, session.language)) {
    el.languageSelect.append(option(session.language, session.language));
    el.languageSelect.value = session.language;
  }
  if (session.mode && !setSelect(el.modeSelect, String(session.mode))) {
    el.modeSelect.append(option(String(session.mode), session.mode === 1 ? MODE_TEXT[1][0] : MODE_TEXT[2][0]));
    el.modeSelect.value = String(session.mode);
  }
  updateModeHelp();
  // The background the avatar confirmed (the face shows it from the input at start).
  if (typeof session.background_url === "string" && session.background_url) {
    el.backgroundInput.value = session.background_url;
  }
}

function setupDuration() {
  const max = Math.max(1, Math.floor((config.maxDuration ?? 3600) / 60));
  el.durationInput.max = String(max);
  el.durationInput.value = String(Math.min(max, Math.max(1, Math.round((config.defaultDuration ?? 600) / 60))));
  el.durationHelp.textContent = `Up to ${max} minutes. The session closes by itself when its time is up.`;
}

// ---------------------------------------------------------------------------------------
// Phases

function showPhase(phase) {
  el.app.dataset.phase = phase;
  el.setup.hidden = phase !== "setup";
  el.session.hidden = phase !== "session";
}

function setStarting(on) {
  starting = on;
  el.startBtn.disabled = on;
  el.startBtn.setAttribute("aria-busy", String(on));
  el.startBtn.textContent = on ? "Starting…" : "Start";
}

// ---------------------------------------------------------------------------------------
// Start, resume, end

async function onStart(event) {
  event.preventDefault();
  if (starting || live) return;
  clearError();
  if (!catalog.avatars.length) {
    await loadPresets();
    return;
  }
  const preset = selectedPreset();
  if (!preset) {
    showError("Choose an avatar first.");
    el.presetList.querySelector("input[name=preset]")?.focus();
    return;
  }
  const minutes = Number(el.durationInput.value);
  const maxMinutes = Number(el.durationInput.max);
  if (!Number.isFinite(minutes) || minutes < 1 || minutes > maxMinutes) {
    showError(`Choose a duration between 1 and ${maxMinutes} minutes.`);
    el.durationInput.focus();
    return;
  }
  const body = { preset: preset.slug, duration: Math.round(minutes * 60), mode: Number(el.modeSelect.value) || 2 };
  if (el.voiceSelect.value) body.voice = el.voiceSelect.value;
  if (el.languageSelect.value) body.language = el.languageSelect.value;

  setStarting(true);
  let session = null;
  try {
    setStatus("Creating the session…", { busy: true, since: Date.now() });
    session = await api.createSession(body);
    session = await untilActive(session);
    await runSession(session);
  } catch (err) {
    await abandon(err, session, "Could not start the session");
  } finally {
    setStarting(false);
  }
}

/** Poll a "starting" session until it is active with credentials; throw if it ends. */
async function untilActive(session) {
  const deadline = Date.now() + STARTING_TIMEOUT_MS;
  let s = session;
  let waiting = false;
  while (s.status === "starting" || (s.status === "active" && !s.rtc)) {
    if (Date.now() > deadline) throw new Error("The avatar service is taking too long to start. Try again in a minute.");
    if (!waiting) {
      waiting = true;
      setStatus("Waiting for the avatar service to start the session…", { busy: true, since: Date.now() });
    }
    await sleep(1000);
    s = await api.session(s.id);
  }
  if (s.status !== "active") {
    throw new Error(describeEnd(s));
  }
  return s;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A start or resume failed: tidy up, close what we opened, and say why. */
async function abandon(err, session, action) {
  await teardown();
  if (session?.id) {
    // An unusable session still bills and holds a slot: close it now, saying why.
    api.closeSession(session.id, explain(err, action)).catch(() => {});
  }
  showPhase("setup");
  setStatus("");
  showError(explain(err, action), err?.code ?? "");
  el.startBtn.focus();
}

async function resumeIfActive() {
  let list;
  try {
    list = await api.activeSessions();
  } catch (err) {
    showError(explain(err, "Could not check for a running session"));
    return;
  }
  const found = (list?.items ?? []).find((s) => s.status === "active" || s.status === "starting");
  if (!found) return;
  setStarting(true);
  let session = found;
  try {
    setStatus("Resuming your session…", { busy: true, since: Date.now() });
    session = await untilActive(await api.session(found.id));
    applySessionToControls(session);
    await runSession(session, { resumed: true });
  } catch (err) {
    await abandon(err, session, "Could not resume your session");
  } finally {
    setStarting(false);
  }
}

/** Connect the relay and the transport for an active session; resolves once joined. */
async function runSession(session, { resumed = false } = {}) {
  const preset = presetBySlug(session.preset);
  const sandbox = session.rtc?.provider === "sandbox";
  const l = {
    session,
    id: session.id,
    preset,
    sandbox,
    relay: null,
    transport: null,
    face: null,
    mic: null,
    camera: null,
    view: new TranscriptView(el.transcript),
    progress: new SendProgress(),
    acks: new AckLog(),
    clock: new SessionClock(),
    outage: new Outage({ notices }),
    afterOutage: false, // reconnected after an outage; the transport is being brought back
    mediaDropShown: false,
    timers: new Set(),
    intervals: new Set(),
    avatarVideo: sandbox,
    ending: false,
    recovering: false,
    transportFailures: 0,
    resendTimer: null,
  };
  live = l;
  el.transcript.replaceChildren();
  el.acks.replaceChildren();
  el.sessionTitle.textContent = preset?.name ?? session.preset ?? "Live session";
  showPhase("session");
  prepareStage(l);
  startCountdown(l, session.expires_at);

  l.relay = new Relay({ url: wsUrl(session.ws_path, window.location) });
  wireRelay(l);
  l.relay.connect();

  const since = Date.now();
  setStatus(sandbox ? "Connecting to the sandbox avatar…" : "Loading the video SDK and joining the channel…", {
    busy: true,
    since,
  });
  try {
    await connectTransport(l, session);
  } catch (err) {
    // Ended meanwhile (the server closed it, or the user pressed End): already reported.
    if (live !== l) return;
    throw err;
  }
  if (live !== l) return;

  if (sandbox) {
    setStatus(resumed ? "Session resumed." : "Connected. Say hello!");
  } else if (!l.avatarVideo) {
    waitForVideo(l, since);
  }
  el.chatInput.focus();
}

function prepareStage(l) {
  el.video.hidden = true;
  el.canvas.hidden = true;
  el.remote.hidden = l.sandbox;
  el.remote.replaceChildren();
  el.videoWait.hidden = l.sandbox;
  el.enableAudioBtn.hidden = true;
  el.micNote.hidden = !l.sandbox;
  el.cameraBtn.hidden = !config.cameraEnabled;
  setMicUi(false);
  setCameraUi(false);
  setSpeaking(false);
  const speech = Boolean(config.speechSynthesis && "speechSynthesis" in window);
  el.voiceToggleLabel.hidden = !(l.sandbox && speech);
  el.voiceToggle.checked = speech;
  if (l.sandbox) {
    l.face = new SandboxFace({
      canvas: el.canvas,
      video: el.video,
      name: l.preset?.name ?? "",
      language: el.languageSelect.value || l.session.language || "",
      voice: speech,
    });
    l.face.start();
    if (el.backgroundInput.value) l.face.setBackground(el.backgroundInput.value);
    el.quality.textContent = "Local sandbox";
    el.quality.dataset.level = "sandbox";
  } else {
    el.quality.textContent = "Network: measuring…";
    el.quality.dataset.level = "0";
  }
}

async function connectTransport(l, session) {
  const transport = createTransport(session.rtc, {
    sdkUrl: config.agoraSdkUrl,
    eventReport: Boolean(config.agoraEventReport),
    videoContainer: el.remote,
  });
  l.transport = transport;
  wireTransport(l, transport);
  l.relay.attachTransport(transport);
  await transport.connect();
}

function waitForVideo(l, since) {
  setStatus("Waiting for the avatar’s video…", { busy: true, since });
  const timer = setTimeout(() => {
    l.timers.delete(timer);
    if (live === l && !l.avatarVideo) {
      setStatus("Still waiting for the avatar’s video. It can take a minute; you can type already.", {
        busy: true,
        since,
      });
    }
  }, VIDEO_WAIT_NOTE_MS);
  l.timers.add(timer);
}

/** The server or the user ended the session: show why and go back to the start. */
async function endSession(info, { isError = null } = {}) {
  const l = live;
  if (!l || l.ending) return;
  l.ending = true;
  l.view.cutOpen();
  await teardown();
  showPhase("setup");
  const text = typeof info === "string" ? info : describeEnd(info);
  const failed = isError ?? (typeof info === "object" && endedInFailure(info));
  if (failed) {
    setStatus("");
    showError(`${text} You can start a new session.`, "session_ended");
  } else {
    clearError();
    setStatus(`${text} You can start a new session.`);
  }
  el.startBtn.focus();
}

/** Stop everything that belongs to the running session (no server calls). */
async function teardown() {
  const l = live;
  live = null;
  if (!l) return;
  l.ending = true;
  for (const t of l.timers) clearTimeout(t);
  for (const t of l.intervals) clearInterval(t);
  clearTimeout(l.resendTimer);
  l.relay?.close();
  l.face?.stop();
  await Promise.allSettled([l.mic?.stop(), l.camera?.stop(), l.transport?.close()]);
  el.remote.replaceChildren();
  el.localVideo.hidden = true;
  el.video.hidden = true;
  el.canvas.hidden = true;
  el.videoWait.hidden = true;
  el.enableAudioBtn.hidden = true;
  el.micLevel.value = 0;
  el.countdown.textContent = "--:--";
  setSpeaking(false);
  setMicUi(false);
  setCameraUi(false);
}

async function onEnd() {
  const l = live;
  if (!l || l.ending) return;
  el.endBtn.disabled = true;
  setStatus("Ending the session…", { busy: true });
  try {
    const s = await api.closeSession(l.id);
    await endSession({ status: s.status, close_reason: s.close_reason ?? "user", error: s.error });
  } catch (err) {
    if (err?.status === 404) {
      await endSession({ status: "closed", close_reason: null });
    } else {
      setStatus("");
      showError(explain(err, "Could not end the session"));
    }
  } finally {
    el.endBtn.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------
// The session websocket

function wireRelay(l) {
  const { relay } = l;
  relay.on("message", (msg) => {
    if (live !== l) return;
    routeServerMessage(msg, {
      transcript: (m) => l.view.apply(m),
      avatar: (m) => setSpeaking(m.speaking),
      command_result: (m) => onCommandResult(l, m),
      session: (m) => onSessionFrame(l, m),
      error: (m) => showError(describeServerError(m), m.code),
    });
  });
  relay.on("state", (info) => {
    if (live !== l) return;
    // A new socket: the commands it replays are the whole list.
    if (info.state === "open") l.acks.connected();
    // While it reconnects: one notice, updated (outage.js).
    l.outage.relayState(info);
    if (info.state === "reconnecting" && info.attempt >= 3) checkStillLive(l);
  });
  relay.on("ended", () => {
    if (live !== l) return;
    // 4403/4404 and friends: ask the API why, for a useful message.
    api.session(l.id).then(
      (s) =>
        s.status === "closed" || s.status === "failed"
          ? endSession(s)
          : endSession("The server closed the connection to this session.", { isError: true }),
      () => endSession("This session is no longer available: it ended, or it belongs to another account.", { isError: true }),
    );
  });
  relay.on("frame-queued", (frame) => showProgress(l, l.progress.queued(frame)));
  relay.on("frame-sent", (frame) => showProgress(l, l.progress.sent(frame)));
  relay.on("send-failed", ({ frame, reason }) => {
    showProgress(l, l.progress.sent(frame));
    showError(`A message could not be passed to the avatar (${reason}). The server was told; try again.`, "rtc_send_failed");
  });
}

function onSessionFrame(l, m) {
  if (m.expires_at) startCountdown(l, m.expires_at);
  // The first frame after an outage says whether the session went on.
  const back = l.outage.sessionFrame(m.status, l.transport?.state);
  if (m.status === "closed" || m.status === "failed") {
    endSession(m);
  } else if (m.status === "closing") {
    setStatus(m.close_reason === "expired" ? "Time is up; the session is ending…" : "The session is ending…", {
      busy: true,
    });
  } else if (back?.resumed) {
    resumeTransport(l, back.transport);
  }
}

/** After an outage the session goes on: bring the transport back if it needs it. */
function resumeTransport(l, plan) {
  if (plan === "none") return;
  l.afterOutage = true;
  if (plan === "rebuild") {
    recoverTransport(l, { immediate: true });
    return;
  }
  // "retry": hurry it if it can be (the sandbox's socket); Agora's SDK retries on its
  // own. Either way, and for "wait", its "joined" (mediaBack) or "failed" follows.
  if (plan === "retry") l.transport?.retryNow?.();
}

/** While the socket keeps failing, make sure the session has not ended meanwhile. */
function checkStillLive(l) {
  api.session(l.id).then(
    (s) => {
      if (live === l && (s.status === "closed" || s.status === "failed")) endSession(s);
    },
    (err) => {
      if (live === l && err?.status === 404) endSession({ status: "closed", close_reason: null });
    },
  );
}

function showProgress(l, p) {
  if (live !== l || !p?.multi) return;
  if (p.done) setStatus(`Sent (${p.total} frames).`);
  else setStatus(`Sending… ${p.sent}/${p.total} frames`, { busy: true });
}

// ---------------------------------------------------------------------------------------
// The data stream transport

function wireTransport(l, transport) {
  transport.on("message", (text) => {
    if (live !== l) return;
    const m = parseStreamMessage(text);
    if (!m) return;
    l.face?.onStreamMessage(m);
    if (m.type === "event") {
      if (m.event === "audio_start") setSpeaking(true);
      else if (m.event === "audio_end") setSpeaking(false);
      else if (m.event === "sandbox_violation") {
        showError(`The sandbox avatar dropped a message (${m.data.reason ?? "limit"}).`, "sandbox_violation");
      }
    }
  });
  transport.on("state", (state) => {
    if (live !== l || transport !== l.transport) return;
    const wasConnected = l.connectedOnce;
    if (state === "joined") l.connectedOnce = true;
    if (l.outage.quiet) {
      // The server is away: the outage notice speaks; a failure waits for the relay.
      if (state === "failed" && wasConnected) l.outage.transportFailed();
      return;
    }
    if (state === "waiting") setStatus("Joined. Waiting for the avatar to arrive…", { busy: true, since: Date.now() });
    else if (state === "reconnecting") mediaDropped(l, transport);
    else if (state === "joined" && (l.afterOutage || l.transportFailures > 0 || l.mediaDropShown)) mediaBack(l);
    else if (state === "failed" && wasConnected) recoverTransport(l);
  });
  transport.on("avatar-published", ({ mediaType }) => {
    if (live !== l) return;
    if (mediaType === "video" && !l.avatarVideo) {
      l.avatarVideo = true;
      el.videoWait.hidden = true;
      setStatus("Connected. Say hello!");
    }
    // Stream messages sent before the avatar was there were lost: set its params again.
    clearTimeout(l.resendTimer);
    l.resendTimer = setTimeout(() => resendParams(l), 300);
  });
  transport.on("avatar-unpublished", ({ mediaType }) => {
    if (live === l && mediaType === "video") {
      l.avatarVideo = false;
      el.videoWait.hidden = false;
    }
  });
  transport.on("quality", (q) => {
    if (live !== l) return;
    const { label, level } = describeQuality(q);
    el.quality.textContent = label;
    el.quality.dataset.level = String(level);
  });
  transport.on("autoplay-blocked", () => {
    if (live === l) el.enableAudioBtn.hidden = false;
  });
}

/**
 * The transport is reconnecting on its own. Said only if it lasts: a blip needs no
 * notice, and when the server itself went away (the sandbox's socket goes to the same
 * server and often notices first) the outage notice speaks instead.
 */
function mediaDropped(l, transport) {
  const t = setTimeout(() => {
    l.timers.delete(t);
    if (live === l && transport === l.transport && transport.state === "reconnecting" && !l.outage.quiet) {
      setStatus("The media connection dropped; reconnecting…", { busy: true });
      l.mediaDropShown = true;
    }
  }, MEDIA_DROP_NOTICE_MS);
  l.timers.add(t);
}

/** The transport works again: say so (after an outage, that the session goes on). */
function mediaBack(l) {
  setStatus(l.afterOutage ? RESUMED_TEXT : "Media connection restored.");
  l.afterOutage = false;
  l.mediaDropShown = false;
}

/** A failure of the server's, not of the media: it does not count against the media. */
const isServerTrouble = (err) =>
  err?.name === "ApiError" && (err.code === "network" || err.code === "timeout" || err.status >= 500);

/**
 * The transport gave up after having worked: rebuild it from fresh credentials. While
 * the server is away (the relay reconnecting) it waits for it instead: the outage
 * notice speaks, and the session is never ended for our outage.
 */
async function recoverTransport(l, { immediate = false } = {}) {
  if (live !== l) return;
  if (l.outage.quiet) {
    l.outage.transportFailed();
    return;
  }
  if (l.recovering) return;
  // Time is up: the server is ending the session (and closed the media first); its word
  // on the socket, or the API check the clock scheduled, ends the page's session.
  if (l.clock.left(Date.now()) === 0) return;
  l.recovering = true;
  let wait = !immediate;
  const pause = () => {
    if (live !== l || !l.outage.quiet) return false;
    l.outage.transportFailed(); // resumed from onSessionFrame once the server is back
    return true;
  };
  try {
    while (live === l) {
      if (pause()) return;
      l.transportFailures += 1;
      if (l.transportFailures > MAX_TRANSPORT_RECOVERIES) {
        const why = "The media connection to the avatar was lost.";
        await endSession(why, { isError: true });
        api.closeSession(l.id, why).catch(() => {});
        return;
      }
      // After the first pause: if the session is ending, its own word comes first.
      const since = Date.now();
      if (l.afterOutage) setStatus(RESUMING_MEDIA_TEXT, { busy: true, since });
      if (wait) await sleep(1000 * l.transportFailures);
      wait = true;
      if (live !== l || pause() || l.ending) return;
      setStatus(l.afterOutage ? RESUMING_MEDIA_TEXT : "The media connection was lost; reconnecting…", { busy: true, since });
      try {
        const s = await api.session(l.id);
        if (live !== l) return;
        if (s.status !== "active" || !s.rtc) {
          await endSession(s);
          return;
        }
        await Promise.allSettled([l.mic?.stop(), l.camera?.stop(), l.transport.close()]);
        l.mic = null;
        l.camera = null;
        setMicUi(false);
        setCameraUi(false);
        if (live !== l || pause()) return;
        // Its "joined" says that it works again (wireTransport: mediaBack).
        await connectTransport(l, s);
        return;
      } catch (err) {
        // No error text while still trying (the status says so); the last try's failure
        // ends the session with its own sentence above.
        if (isServerTrouble(err)) l.transportFailures -= 1;
        console.warn("reconnecting the media failed", err);
      }
    }
  } finally {
    l.recovering = false;
  }
}

function currentParams() {
  const params = { mode: Number(el.modeSelect.value) || 2 };
  if (el.voiceSelect.value) params.voice = el.voiceSelect.value;
  if (el.languageSelect.value) params.language = el.languageSelect.value;
  if (el.backgroundInput.value.trim()) params.background_url = el.backgroundInput.value.trim();
  return params;
}

function resendParams(l) {
  if (live !== l) return;
  l.relay.send({ type: "set_params", params: currentParams() }, { queue: true });
}

// ---------------------------------------------------------------------------------------
// Controls during a session

function sendParams(params, what) {
  if (!live) return;
  if (!live.relay.send({ type: "set_params", params })) {
    showError("Not connected to the server right now; try again in a moment.", "not_connected");
    return;
  }
  clearError();
  setStatus(`Applying ${what}…`, { busy: true });
}

/**
 * A command's result: into the list of confirmed changes (rebuilt from each socket's
 * replay, see acks.js). Only a live result is news: a replayed one (a reload, a
 * reconnect) touches neither #status nor #error.
 */
function onCommandResult(l, m) {
  l.acks.apply(m);
  renderAcks(el.acks, l.acks);
  if (m.replay) return;
  if (m.ok) {
    if (/^(Applying|Interrupting)/.test(notices.statusText)) {
      setStatus(m.cmd === "interrupt" ? "Interrupted." : `${m.cmd} done.`);
    }
  } else {
    setStatus("");
    showError(`The avatar refused ${m.cmd}${m.message ? `: ${m.message}` : ""}.`, "command_failed");
  }
}

function setSpeaking(on) {
  el.speaking.dataset.speaking = String(Boolean(on));
  el.speaking.textContent = on ? "Speaking…" : "Listening";
  live?.face?.setSpeaking(on);
}

/** The countdown, the one-minute warning and the moment the time is up (clock.js). */
function startCountdown(l, expiresAt) {
  for (const t of l.intervals) clearInterval(t);
  l.intervals.clear();
  if (!l.clock.set(expiresAt, Date.now())) {
    el.countdown.textContent = "--:--";
    el.countdown.removeAttribute("datetime");
    return;
  }
  el.countdown.dateTime = expiresAt;
  const tick = () => {
    if (live !== l) return;
    const { text, low, minuteLeft, timeUp } = l.clock.tick(Date.now());
    el.countdown.textContent = text;
    el.countdown.dataset.low = String(low);
    // During an outage its notice stays: the server says how the session ended when back.
    if (l.outage.quiet || l.ending) return;
    if (minuteLeft) {
      setStatus("One minute left.");
    } else if (timeUp) {
      // The server ends the session at its time and says so on the socket; if that word
      // does not come, ask the API.
      setStatus("Time is up; the session is ending…", { busy: true });
      for (const ms of [5000, 15000]) {
        const t = setTimeout(() => {
          l.timers.delete(t);
          if (live === l) checkStillLive(l);
        }, ms);
        l.timers.add(t);
      }
    }
  };
  tick();
  const t = setInterval(tick, 1000);
  l.intervals.add(t);
}

function sendChat() {
  const l = live;
  if (!l || l.ending) return;
  const text = el.chatInput.value.trim();
  if (!text) return;
  if (!l.relay.send({ type: "chat", text })) {
    showError("Not connected to the server right now: your message is kept, send it again in a moment.", "not_connected");
    return;
  }
  clearError();
  // An own-LLM session sends the answer's frames, not the question's: no estimate then.
  const llmAnswers = el.modeSelect.value === "1" && el.modeSelect.dataset.llm === "true";
  if (!llmAnswers) l.progress.expect(text);
  el.chatInput.value = "";
}

function onInterrupt() {
  const l = live;
  if (!l) return;
  if (!l.relay.send({ type: "interrupt" })) {
    showError("Not connected to the server right now; try again in a moment.", "not_connected");
    return;
  }
  l.view.cutOpen();
  l.face?.interrupt();
  setStatus("Interrupting…", { busy: true });
}

function setMicUi(on) {
  el.micBtn.setAttribute("aria-pressed", String(on));
  el.micBtn.textContent = on ? "Microphone on" : "Microphone off";
  if (!on) el.micLevel.value = 0;
}

async function onMic() {
  const l = live;
  if (!l) return;
  if (!l.mic) {
    if (!l.sandbox && l.transport?.state !== "joined" && l.transport?.state !== "waiting") {
      showError("Wait until the video channel is joined, then turn the microphone on.");
      return;
    }
    l.mic = new Mic({
      transport: l.sandbox ? null : l.transport,
      onLevel: (v) => {
        el.micLevel.value = v;
      },
    });
  }
  const mic = l.mic;
  el.micBtn.disabled = true;
  try {
    if (!mic.active) {
      setStatus("Starting the microphone…", { busy: true });
      await mic.start();
      setMicUi(true);
      setStatus(l.sandbox ? "Microphone on (measured only in the sandbox)." : "Microphone on.");
    } else {
      await mic.setMuted(!mic.muted);
      setMicUi(!mic.muted);
    }
  } catch (err) {
    setMicUi(false);
    setStatus("");
    showError(err.message, "microphone");
  } finally {
    el.micBtn.disabled = false;
  }
}

function setCameraUi(on) {
  el.cameraBtn.setAttribute("aria-pressed", String(on));
  el.cameraBtn.textContent = on ? "Camera on" : "Camera off";
  el.localVideo.hidden = !on;
}

async function onCamera() {
  const l = live;
  if (!l || !config.cameraEnabled) return;
  if (!l.camera) l.camera = new Camera({ transport: l.sandbox ? null : l.transport, container: el.localVideo });
  el.cameraBtn.disabled = true;
  try {
    if (l.camera.active) {
      await l.camera.stop();
      setCameraUi(false);
    } else {
      setCameraUi(true);
      await l.camera.start();
    }
  } catch (err) {
    setCameraUi(false);
    showError(err.message, "camera");
  } finally {
    el.cameraBtn.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------
// Wiring

function wire() {
  el.startForm.addEventListener("submit", onStart);
  el.reloadPresetsBtn.addEventListener("click", () => {
    clearError();
    loadPresets();
  });
  el.presetList.addEventListener("change", (event) => {
    if (event.target.name === "preset") applyPresetDefaults(presetBySlug(event.target.value));
  });

  el.voiceSelect.addEventListener("change", () => {
    if (!live) return;
    const voice = el.voiceSelect.value || live.preset?.default_voice;
    if (voice) sendParams({ voice }, "the voice");
  });
  el.languageSelect.addEventListener("change", () => {
    if (!live) return;
    const language = el.languageSelect.value || live.preset?.language;
    live.face?.setLanguage(language);
    if (language) sendParams({ language }, "the language");
  });
  el.modeSelect.addEventListener("change", () => {
    updateModeHelp();
    if (live) sendParams({ mode: Number(el.modeSelect.value) }, "the mode");
  });
  el.backgroundBtn.addEventListener("click", () => {
    if (!live) return;
    const url = el.backgroundInput.value.trim();
    if (!/^https?:\/\/\S+$/i.test(url)) {
      showError("Enter the background image's address, starting with https://.");
      el.backgroundInput.focus();
      return;
    }
    live.face?.setBackground(url);
    sendParams({ background_url: url }, "the background");
  });
  el.backgroundInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      el.backgroundBtn.click();
    }
  });

  el.chatForm.addEventListener("submit", (event) => {
    event.preventDefault();
    sendChat();
  });
  el.chatInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      sendChat();
    }
  });
  el.interruptBtn.addEventListener("click", onInterrupt);
  el.endBtn.addEventListener("click", onEnd);
  el.micBtn.addEventListener("click", onMic);
  el.cameraBtn.addEventListener("click", onCamera);
  el.voiceToggle.addEventListener("change", () => live?.face?.setVoice(el.voiceToggle.checked));
  el.enableAudioBtn.addEventListener("click", () => {
    live?.transport?.resumeAudio?.();
    el.enableAudioBtn.hidden = true;
  });

  // Tell the server when the page goes away (a reload reconnects within the grace
  // period and resumes). Only pagehide: a hidden tab may come back, and beforeunload is
  // unreliable. Beacons cannot set headers, so the CSRF token travels in the form.
  window.addEventListener("pagehide", () => {
    if (!live || live.ending || !navigator.sendBeacon) return;
    const form = new FormData();
    form.append("csrfmiddlewaretoken", config.csrfToken);
    navigator.sendBeacon(api.leaveUrl(live.id), form);
  });
  // The browser's own word on the network: the outage notice says whose trouble it is,
  // and coming back online is worth an attempt now rather than after the backoff.
  window.addEventListener("offline", () => live?.outage.show());
  window.addEventListener("online", () => {
    if (!live) return;
    live.outage.show();
    live.relay?.retryNow();
  });
  window.addEventListener("pageshow", (event) => {
    // Back from the back/forward cache: the sockets are gone; start over cleanly.
    if (event.persisted) window.location.reload();
  });
}

async function main() {
  wire();
  setupDuration();
  showPhase("setup");
  // Start waits until we know whether a session is already running (then it resumes).
  el.startBtn.disabled = true;
  try {
    await loadPresets();
    await resumeIfActive();
  } finally {
    el.startBtn.disabled = starting;
  }
}

main().catch((err) => {
  console.error(err);
  showError(`The page failed to start: ${err?.message ?? err}. Reload the page.`);
});
