// The sandbox avatar's face: drawn on a canvas with requestAnimationFrame, mouth moving
// while it speaks (audio_start/audio_end, and each piece of bot text), and fed into a
// <video> through canvas.captureStream(30) where the browser has it (else the canvas
// itself is shown). Optionally voiced with speechSynthesis, which must never block:
// headless Chromium has no voices and fails every utterance at once.
//
// Each preset has its own face (face_look.js, from its slug and its thumbnail's colours),
// drawn whole: the canvas takes the shape of the box it is shown in, so nothing is cut
// off, and the name sits in a tag in the bottom-left corner, as in a video call.

import { drawFace, drawPortrait, faceLook } from "./face_look.js";

/** The largest canvas side drawn (px): sharp on a desk, cheap on a phone. */
const MAX_SIDE = 960;

/** How open the mouth is at time `t` (ms): 0 closed .. 1 wide. Pure. */
export function mouthOpenness(t, talking) {
  if (!talking) return 0;
  // Two incommensurate waves look like syllables rather than a metronome.
  const v = 0.55 + 0.3 * Math.sin(t / 70) + 0.15 * Math.sin(t / 23 + 1.3);
  return Math.min(1, Math.max(0.05, v));
}

/** Split complete sentences off a text buffer: {sentences, rest}. Pure. */
export function splitSentences(buffer) {
  const sentences = [];
  let start = 0;
  for (let i = 0; i < buffer.length; i++) {
    const ch = buffer[i];
    // CJK full stops and newlines always end a sentence; Latin punctuation only when
    // whitespace follows (not inside "3.5", and not at the end: more may be coming).
    const end = /[。！？\n]/.test(ch) || (/[.!?]/.test(ch) && /\s/.test(buffer[i + 1] ?? ""));
    if (!end) continue;
    const s = buffer.slice(start, i + 1).trim();
    if (s) sentences.push(s);
    start = i + 1;
  }
  return { sentences, rest: buffer.slice(start).replace(/^\s+/, "") };
}

export class SandboxFace {
  /**
   * @param {object} options
   * @param {HTMLCanvasElement} options.canvas
   * @param {HTMLVideoElement} options.video
   * @param {string} [options.name]  the avatar's name, drawn in a tag on the face
   * @param {string} [options.slug]  its preset's slug: the face is derived from it
   * @param {string} [options.thumbnail]  its preset's thumbnail: the colours come from it
   * @param {string} [options.gender]  its voice's gender, if known (no beard for "female")
   * @param {string} [options.language]  for speech synthesis
   * @param {boolean} [options.voice]  speak the answers aloud
   */
  constructor({ canvas, video, name = "", slug = "", thumbnail = "", gender = "", language = "", voice = false, win = globalThis }) {
    this.canvas = canvas;
    this.look = faceLook(slug || name, {}, gender);
    this.thumbnail = thumbnail;
    this.video = video;
    this.name = name;
    this.language = language;
    this.voice = voice;
    this.win = win;
    this.speaking = false;
    this.talkUntil = 0;
    this.frame = null;
    this.stream = null;
    this.sentenceBuffer = "";
    this.bufferMid = null;
    this.backdrop = null; // a live background's colour, over the look's own
  }

  /** Start drawing and show the face; returns "video" or "canvas" (what is shown). */
  start() {
    this.ctx = this.canvas.getContext("2d");
    this.#readThumbnail();
    const loop = (t) => {
      this.draw(t);
      this.frame = this.win.requestAnimationFrame(loop);
    };
    this.frame = this.win.requestAnimationFrame(loop);
    this.draw(this.win.performance?.now?.() ?? 0);
    if (typeof this.canvas.captureStream === "function") {
      try {
        this.stream = this.canvas.captureStream(30);
        this.video.srcObject = this.stream;
        this.video.muted = true;
        this.video.hidden = false;
        this.canvas.hidden = true;
        this.video.play()?.catch?.(() => {});
        return "video";
      } catch {
        this.stream = null;
      }
    }
    this.video.hidden = true;
    this.canvas.hidden = false;
    return "canvas";
  }

  setSpeaking(on) {
    this.speaking = Boolean(on);
  }

  /** A parsed stream message from the avatar (messages.parseStreamMessage). */
  onStreamMessage(msg) {
    if (!msg) return;
    if (msg.type === "event") {
      if (msg.event === "audio_start") this.setSpeaking(true);
      if (msg.event === "audio_end") {
        this.setSpeaking(false);
        this.#flushSpeech();
      }
    } else if (msg.type === "chat" && msg.from === "bot") {
      this.talkUntil = this.#now() + 700;
      this.#speakPiece(msg.mid, msg.text, msg.fin === true);
    }
  }

  /** A new background was set live: the sandbox shows it as a change of colour. */
  setBackground(url) {
    let h = 0;
    for (const ch of String(url ?? "")) h = (h * 31 + ch.codePointAt(0)) % 360;
    this.backdrop = url ? `hsl(${h} 45% 80%)` : null;
  }

  setVoice(enabled) {
    this.voice = Boolean(enabled);
    if (!enabled) this.#cancelSpeech();
  }

  setLanguage(language) {
    this.language = language ?? "";
  }

  interrupt() {
    this.speaking = false;
    this.talkUntil = 0;
    this.#cancelSpeech();
  }

  stop() {
    if (this.frame !== null) this.win.cancelAnimationFrame(this.frame);
    this.frame = null;
    for (const t of this.stream?.getTracks() ?? []) t.stop();
    this.stream = null;
    if (this.video) this.video.srcObject = null;
    this.#cancelSpeech();
  }

  #now() {
    return this.win.performance?.now?.() ?? Date.now();
  }

  // -- speech ---------------------------------------------------------------------------

  #speakPiece(mid, text, fin) {
    if (!this.voice) return;
    if (mid !== this.bufferMid) {
      this.#flushSpeech();
      this.bufferMid = mid;
    }
    this.sentenceBuffer += text;
    const { sentences, rest } = splitSentences(this.sentenceBuffer);
    this.sentenceBuffer = rest;
    for (const s of sentences) this.#say(s);
    if (fin) this.#flushSpeech();
  }

  #flushSpeech() {
    const rest = this.sentenceBuffer.trim();
    this.sentenceBuffer = "";
    if (rest && this.voice) this.#say(rest);
  }

  #say(text) {
    const synth = this.win.speechSynthesis;
    const Utterance = this.win.SpeechSynthesisUtterance;
    if (!synth || !Utterance) return;
    try {
      const u = new Utterance(text);
      if (this.language) u.lang = this.language;
      // Fire and forget: nothing waits for onend, which may never come.
      u.onerror = () => {};
      synth.speak(u);
    } catch {
      // no synthesis here; the face still talks
    }
  }

  #cancelSpeech() {
    this.sentenceBuffer = "";
    try {
      this.win.speechSynthesis?.cancel();
    } catch {
      // nothing to cancel
    }
  }

  // -- drawing --------------------------------------------------------------------------

  draw(t) {
    const ctx = this.ctx;
    if (!ctx) return;
    this.#fit();
    const { width: w, height: h } = this.canvas;
    const s = Math.min(w, h) / 480; // drawn on a 480 grid, scaled, centred
    const talking = this.speaking || this.#now() < this.talkUntil;

    ctx.fillStyle = this.backdrop ?? this.look.backdrop;
    ctx.fillRect(0, 0, w, h);
    const shade = ctx.createLinearGradient(0, 0, 0, h);
    shade.addColorStop(0, "rgba(255, 255, 255, 0.25)");
    shade.addColorStop(1, "rgba(0, 0, 0, 0.12)");
    ctx.fillStyle = shade;
    ctx.fillRect(0, 0, w, h);

    ctx.save();
    ctx.translate((w - 480 * s) / 2, (h - 480 * s) / 2);
    ctx.scale(s, s);
    const bob = talking ? Math.sin(t / 180) * 2 : Math.sin(t / 900) * 1.5;
    drawFace(ctx, this.look, { t, bob, talking, open: mouthOpenness(t, talking) });
    ctx.restore();
    this.#drawName(w, h);
  }

  /** The name in a tag in the bottom-left corner, readable at any size. */
  #drawName(w, h) {
    if (!this.name) return;
    const ctx = this.ctx;
    const size = Math.max(14, Math.round(Math.min(w, h) * 0.05));
    ctx.font = `600 ${size}px system-ui, sans-serif`;
    const pad = Math.round(size * 0.6);
    const width = Math.min(w - 2 * pad, ctx.measureText(this.name).width + 2 * pad);
    const x = pad;
    const y = h - pad - size * 1.8;
    ctx.fillStyle = "rgba(0, 0, 0, 0.62)";
    ctx.beginPath();
    if (ctx.roundRect) ctx.roundRect(x, y, width, size * 1.8, size * 0.5);
    else ctx.rect(x, y, width, size * 1.8);
    ctx.fill();
    ctx.fillStyle = "#fff";
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    ctx.fillText(this.name, x + pad, y + size * 0.9, width - 2 * pad);
  }

  /** Take the shape of the box the face is shown in, so that none of it is cropped. */
  #fit() {
    const box = this.video?.parentElement ?? this.canvas.parentElement;
    const bw = box?.clientWidth ?? 0;
    const bh = box?.clientHeight ?? 0;
    if (!bw || !bh) return;
    const scale = Math.min(this.win.devicePixelRatio || 1, 2);
    const w = Math.min(MAX_SIDE, Math.round(bw * scale));
    const h = Math.min(MAX_SIDE, Math.round((w * bh) / bw));
    const width = Math.round((h * bw) / bh); // h may have been capped: keep the shape
    if (Math.abs(this.canvas.width - width) > 2 || Math.abs(this.canvas.height - h) > 2) {
      this.canvas.width = width;
      this.canvas.height = h;
    }
  }

  /** The thumbnail's backdrop and clothes colours, when it is ours to read (same origin). */
  #readThumbnail() {
    readThumbnailColours(this.thumbnail, this.canvas.ownerDocument, this.win, (colours) => {
      this.look = faceLook(this.look.seed, colours, this.look.gender);
    });
  }
}

/**
 * A preset card's preview of the face its sandbox session shows: the same look (slug,
 * voice's gender, thumbnail's colours) drawn still on a small canvas.
 */
export function facePreview(doc, { slug, name = "", thumbnail = "", gender = "" }, win = globalThis) {
  const canvas = doc.createElement("canvas");
  canvas.className = "face-preview";
  canvas.width = canvas.height = 176; // the card's 5.5 rem circle, sharp at 2x
  canvas.setAttribute("aria-hidden", "true");
  const seed = slug || name;
  drawPortrait(canvas, faceLook(seed, {}, gender));
  readThumbnailColours(thumbnail, doc, win, (colours) => drawPortrait(canvas, faceLook(seed, colours, gender)));
  return canvas;
}

/** Call `then` with the colours of the `thumbnail` image, when it is ours to read. */
function readThumbnailColours(thumbnail, doc, win, then) {
  const Image = win.Image;
  if (!thumbnail || !Image || !doc) return;
  let url;
  try {
    url = new URL(thumbnail, doc.baseURI);
  } catch {
    return;
  }
  if (url.origin !== new URL(doc.baseURI).origin) return; // its pixels are not ours
  const img = new Image();
  img.onload = () => {
    const colours = sampleColours(img, doc);
    if (colours) then(colours);
  };
  img.src = url.href;
}

/** A square image's backdrop (its left edge) and clothes (its bottom centre) as CSS. */
export function sampleColours(img, doc) {
  try {
    const c = doc.createElement("canvas");
    c.width = c.height = 60;
    const ctx = c.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(img, 0, 0, 60, 60);
    const at = (x, y) => {
      const [r, g, b, a] = ctx.getImageData(x, y, 1, 1).data;
      return a > 200 ? `rgb(${r} ${g} ${b})` : null;
    };
    const backdrop = at(3, 30);
    const clothes = at(30, 58);
    return backdrop && clothes ? { backdrop, clothes } : null;
  } catch {
    return null; // a tainted or undrawable image: the slug's colours stay
  }
}
