// The sandbox avatar's face: drawn on a canvas with requestAnimationFrame, mouth moving
// while it speaks (audio_start/audio_end, and each piece of bot text), and fed into a
// <video> through canvas.captureStream(30) where the browser has it (else the canvas
// itself is shown). Optionally voiced with speechSynthesis, which must never block:
// headless Chromium has no voices and fails every utterance at once.

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
   * @param {string} [options.name]  the avatar's name, drawn under the face
   * @param {string} [options.language]  for speech synthesis
   * @param {boolean} [options.voice]  speak the answers aloud
   */
  constructor({ canvas, video, name = "", language = "", voice = false, win = globalThis }) {
    this.canvas = canvas;
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
    this.hue = 205;
  }

  /** Start drawing and show the face; returns "video" or "canvas" (what is shown). */
  start() {
    this.ctx = this.canvas.getContext("2d");
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
    this.hue = url ? h : 205;
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
    const { width: w, height: h } = this.canvas;
    const s = Math.min(w, h) / 480; // drawn on a 480 grid, scaled
    const talking = this.speaking || this.#now() < this.talkUntil;

    const bg = ctx.createLinearGradient(0, 0, 0, h);
    bg.addColorStop(0, `hsl(${this.hue} 45% 88%)`);
    bg.addColorStop(1, `hsl(${this.hue} 40% 70%)`);
    ctx.fillStyle = bg;
    ctx.fillRect(0, 0, w, h);

    ctx.save();
    ctx.translate((w - 480 * s) / 2, (h - 480 * s) / 2);
    ctx.scale(s, s);
    const bob = talking ? Math.sin(t / 180) * 2 : Math.sin(t / 900) * 1.5;

    // shoulders
    ctx.fillStyle = "#2f4b7c";
    ctx.beginPath();
    ctx.ellipse(240, 500, 190, 120, 0, Math.PI, 0);
    ctx.fill();
    // neck
    ctx.fillStyle = "#e0ac8a";
    ctx.fillRect(212, 300 + bob, 56, 90);
    // head
    ctx.fillStyle = "#f1c4a4";
    ctx.beginPath();
    ctx.ellipse(240, 215 + bob, 112, 132, 0, 0, Math.PI * 2);
    ctx.fill();
    // hair
    ctx.fillStyle = "#3b2a20";
    ctx.beginPath();
    ctx.ellipse(240, 150 + bob, 118, 78, 0, Math.PI, 0);
    ctx.fill();

    // eyes, blinking every few seconds
    const blink = t % 4200 < 130;
    ctx.fillStyle = "#1f1f1f";
    for (const x of [198, 282]) {
      ctx.beginPath();
      ctx.ellipse(x, 205 + bob, 11, blink ? 1.5 : 13, 0, 0, Math.PI * 2);
      ctx.fill();
    }
    // brows rise a little while talking
    ctx.strokeStyle = "#3b2a20";
    ctx.lineWidth = 5;
    ctx.lineCap = "round";
    const lift = talking ? 4 + 2 * Math.sin(t / 260) : 0;
    for (const x of [198, 282]) {
      ctx.beginPath();
      ctx.moveTo(x - 18, 178 + bob - lift);
      ctx.lineTo(x + 18, 176 + bob - lift);
      ctx.stroke();
    }

    // mouth
    const open = mouthOpenness(t, talking);
    if (open > 0) {
      ctx.fillStyle = "#7a1f2b";
      ctx.beginPath();
      ctx.ellipse(240, 282 + bob, 34, 4 + 26 * open, 0, 0, Math.PI * 2);
      ctx.fill();
    } else {
      ctx.strokeStyle = "#7a1f2b";
      ctx.lineWidth = 5;
      ctx.beginPath();
      ctx.arc(240, 262 + bob, 36, Math.PI * 0.2, Math.PI * 0.8);
      ctx.stroke();
    }
    ctx.restore();

    if (this.name) {
      ctx.fillStyle = "rgba(0, 0, 0, 0.55)";
      ctx.fillRect(0, h - 40 * s, w, 40 * s);
      ctx.fillStyle = "#fff";
      ctx.font = `${Math.round(20 * s)}px system-ui, sans-serif`;
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillText(this.name, w / 2, h - 20 * s);
    }
  }
}
