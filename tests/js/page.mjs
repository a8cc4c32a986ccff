// The avatar page on stand-ins (not a test file itself): page.js's createPage with a fake
// DOM (elements.js's list), an in-memory API, a real Relay over FakeWebSocket, a fake
// transport, face, microphone and camera, and a clock whose time passes when told.
// `shown` records every #status and #error text the page showed, even briefly.

import { createBackoff } from "../../static/js/backoff.js";
import { PAGE_ELEMENTS } from "../../static/js/elements.js";
import * as liveParts from "../../static/js/live_parts.js";
import { createPage } from "../../static/js/page.js";
import { Relay } from "../../static/js/relay.js";
import { FakeDocument, FakeElement, FakeTransport, FakeWebSocket, fakeClock, fakeElements, fire, flush } from "./fakes.mjs";

export const CATALOG = {
  avatars: [
    { slug: "ada", name: "Ada", language: "en", default_voice: "warm", mode: 2, background_url: "", thumbnail_url: "/a.png" },
    { slug: "cleo", name: "Cleo", language: "fr", default_voice: null, mode: 1, use_llm: false },
    { slug: "lex", name: "Lex", language: "de", default_voice: "calm", mode: 1, use_llm: true },
  ],
  voices: [
    { slug: "warm", voice_id: "v_warm", name: "Warm", language: "en", gender: "female" },
    { slug: "calm", voice_id: "v_calm", name: "Calm", language: "de", gender: null },
  ],
  languages: [
    { code: "en", name: "English" },
    { code: "fr", name: "French" },
    { code: "de", name: "German" },
  ],
};

export const apiError = (status, message, extra = {}) =>
  Object.assign(new Error(message), { name: "ApiError", status, code: extra.code ?? `http_${status}`, retryAfter: null, ...extra });

/**
 * The API as the page uses it, over an in-memory table of sessions. `calls` lists what
 * was asked; `fail[name] = err` makes a method reject; `next[name]` queues answers.
 */
export function fakeApi({ clock, provider = "sandbox", catalog = CATALOG } = {}) {
  const sessions = new Map();
  const calls = [];
  const fail = {};
  const next = {};
  let n = 0;
  const rtc = () => (provider === "sandbox" ? { provider: "sandbox", channel: `ch${n}`, token: "t" } : { provider: "agora", appId: "a", channel: `ch${n}`, token: "t", uid: 1 });
  const answer = async (name, args, fn) => {
    calls.push([name, ...args]);
    await flush();
    if (fail[name]) throw fail[name];
    if (next[name]?.length) {
      const a = next[name].shift();
      if (a instanceof Error) throw a;
      return typeof a === "function" ? a(...args) : a;
    }
    return fn();
  };
  const api = {
    sessions,
    calls,
    fail,
    next,
    called: (name) => calls.filter((c) => c[0] === name),
    addSession(fields = {}) {
      n += 1;
      const id = fields.id ?? `s${n}`;
      const s = {
        id,
        status: "active",
        preset: "ada",
        mode: 2,
        voice_id: null,
        language: null,
        ws_path: `/ws/sessions/${id}/`,
        expires_at: new Date(clock.now() + 10 * 60000).toISOString(),
        rtc: rtc(),
        close_reason: null,
        error: null,
        ...fields,
      };
      sessions.set(id, s);
      return s;
    },
    presets: () => answer("presets", [], () => structuredClone(catalog)),
    createSession: (body) =>
      answer("createSession", [body], () => {
        const s = api.addSession({ preset: body.preset, mode: body.mode, language: body.language ?? null });
        return { ...s };
      }),
    activeSessions: () =>
      answer("activeSessions", [], () => ({
        items: [...sessions.values()].filter((s) => s.status === "active" || s.status === "starting").map((s) => ({ ...s })),
      })),
    session: (id) =>
      answer("session", [id], () => {
        const s = sessions.get(id);
        if (!s) throw apiError(404, "Not found.");
        return { ...s };
      }),
    closeSession: (id, failure = null) =>
      answer("closeSession", [id, failure], () => {
        const s = sessions.get(id);
        if (!s) throw apiError(404, "Not found.");
        Object.assign(s, { status: "closed", close_reason: failure ? "error" : "user", error: failure, rtc: null });
        return { ...s };
      }),
    leaveUrl: (id) => `/api/v1/sessions/${id}/leave`,
  };
  return api;
}

/** A transport that joins when asked (or fails: `joinError`), and records closes. */
export class PageTransport extends FakeTransport {
  constructor(rtc) {
    super();
    this.rtc = rtc;
    this.joinError = null;
    this.gate = null;
    this.closed = false;
    this.retried = 0;
    this.audioResumed = 0;
  }

  async connect() {
    await flush();
    await this.gate; // a test may hold the join
    if (this.joinError) {
      this.setState("failed");
      throw this.joinError;
    }
    this.setState("joined");
  }

  async close() {
    this.closed = true;
    this.setState("closed");
  }

  retryNow() {
    this.retried += 1;
    return true;
  }

  resumeAudio() {
    this.audioResumed += 1;
  }
}

/** The sandbox's face as the stage drives it. */
export function fakeFace(options) {
  return {
    options,
    started: false,
    stopped: false,
    speaking: false,
    background: null,
    language: options.language,
    voice: options.voice,
    interrupted: 0,
    messages: [],
    start() {
      this.started = true;
      options.video.hidden = false;
    },
    stop() {
      this.stopped = true;
    },
    setSpeaking(on) {
      this.speaking = Boolean(on);
    },
    onStreamMessage(m) {
      this.messages.push(m);
    },
    setBackground(url) {
      this.background = url;
    },
    setLanguage(language) {
      this.language = language;
    },
    setVoice(on) {
      this.voice = on;
    },
    interrupt() {
      this.interrupted += 1;
    },
  };
}

/** A microphone or camera: starts (or fails with `error`), mutes, stops. */
export function fakeDevice(options, { error = null } = {}) {
  return {
    options,
    active: false,
    muted: false,
    stops: 0,
    async start() {
      await flush();
      if (error) throw new Error(error);
      this.active = true;
      this.muted = false;
    },
    async setMuted(muted) {
      this.muted = muted;
    },
    async stop() {
      this.stops += 1;
      this.active = false;
    },
  };
}

export const DEFAULT_CONFIG = { csrfToken: "csrf-1", maxDuration: 1800, defaultDuration: 600, llmAvailable: true, cameraEnabled: true };

/** The page built from stand-ins; `open()` it (or not) in the test. */
// `tabs`: what the window offers tabs to talk with (BroadcastChannel, sessionStorage).
// `importLive`: how the session's code arrives (default: at once, as the browser's cache would).
export function buildPage({ config = {}, provider = "sandbox", deviceErrors = {}, beacon = true, catalog, tabs = {}, importLive = async () => liveParts } = {}) {
  FakeWebSocket.reset();
  const clock = fakeClock();
  const doc = new FakeDocument();
  const el = fakeElements(PAGE_ELEMENTS, doc);
  const api = fakeApi({ clock, provider, catalog });
  const win = new FakeElement("window", doc);
  const beacons = [];
  const reloads = [];
  win.location = { host: "test", protocol: "http:", reload: () => reloads.push(true) };
  win.navigator = beacon ? { sendBeacon: (url, data) => beacons.push({ url, data }) || true } : {};
  win.speechSynthesis = {};
  Object.assign(win, tabs);
  const faces = [];
  const transports = [];
  const mics = [];
  const cameras = [];
  const page = createPage({
    el,
    config: { ...DEFAULT_CONFIG, ...config },
    api,
    win,
    clock,
    importLive,
    makeRelay: (session) =>
      new Relay({
        url: `ws://test${session.ws_path}`,
        WebSocketImpl: FakeWebSocket,
        backoff: createBackoff({ base: 1000, max: 8000, jitter: 0 }),
        setTimeout: clock.setTimeout,
        clearTimeout: clock.clearTimeout,
      }),
    makeTransport: (rtc) => {
      const t = new PageTransport(rtc);
      transports.push(t);
      return t;
    },
    makeFace: (options) => {
      const f = fakeFace(options);
      faces.push(f);
      return f;
    },
    makeMic: (options) => {
      const m = fakeDevice(options, { error: deviceErrors.mic });
      mics.push(m);
      return m;
    },
    makeCamera: (options) => {
      const c = fakeDevice(options, { error: deviceErrors.camera });
      cameras.push(c);
      return c;
    },
  });
  const shown = { statuses: [], errors: [] };
  const { notices } = page;
  for (const method of ["setStatus", "showError", "clearError"]) {
    const original = notices[method].bind(notices);
    notices[method] = (...args) => {
      original(...args);
      const s = notices.statusText;
      if (s && shown.statuses.at(-1) !== s) shown.statuses.push(s);
      const e = notices.errorText;
      if (e && shown.errors.at(-1)?.text !== e) shown.errors.push({ text: e, code: notices.errorCode });
    };
  }
  return {
    ...page,
    el,
    doc,
    api,
    clock,
    win,
    beacons,
    reloads,
    faces,
    transports,
    mics,
    cameras,
    shown,
    get ws() {
      return FakeWebSocket.last;
    },
    get live() {
      return page.sessions.live;
    },
    get status() {
      return notices.statusText;
    },
    get error() {
      return notices.errorText;
    },
    /** Sent frames of the current socket, as objects. */
    get sent() {
      return FakeWebSocket.last?.sentJson ?? [];
    },
  };
}

/** Let promise callbacks and due timers run (time passes by `ms`). */
export async function settle(p, ms = 0) {
  for (let i = 0; i < 5; i++) await flush();
  if (ms) await p.clock.advance(ms);
}

/** Open the page, then press Start with the preset chosen; the socket opens, the media joins. */
export async function startSession(p, { slug = "ada", open = true } = {}) {
  await p.open();
  await settle(p);
  for (const r of p.el.presetList.querySelectorAll("input[name=preset]")) r.checked = r.value === slug;
  fire(p.el.presetList.querySelector(`input[value=${slug}]`), "change");
  const started = p.sessions.start();
  await settle(p);
  if (open) {
    p.ws.serverOpen();
    p.ws.serverSend({ type: "session", status: "active", expires_at: p.live?.session.expires_at ?? null });
  }
  await started;
  await settle(p);
}
