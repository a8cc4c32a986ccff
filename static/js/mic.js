// The microphone: captured through the transport when it can publish (Agora: a local
// audio track the avatar hears), else with getUserMedia for the level meter only (the
// sandbox avatar listens to typed chat). Mute/unmute, and a level from an AnalyserNode.
// A missing or blocked microphone is a message for the user, never a broken page.

import { describeDeviceError, releaseTrack } from "./media_devices.js";

/** A person's explanation for a getUserMedia / Agora microphone failure. */
export const describeMicError = (err) => describeDeviceError(err, "microphone");

/** RMS level 0..1 of time-domain samples centred on 128. */
export function levelFromSamples(samples) {
  if (!samples.length) return 0;
  let sum = 0;
  for (const v of samples) {
    const x = (v - 128) / 128;
    sum += x * x;
  }
  // Speech sits around 0.05-0.2 RMS: scale so it fills the meter.
  return Math.min(1, Math.sqrt(sum / samples.length) * 4);
}

export class Mic {
  /**
   * @param {object} options
   * @param {object} [options.transport]  with canPublish/createMicrophoneTrack/publish
   * @param {(level: number) => void} [options.onLevel]
   */
  constructor({ transport = null, onLevel = () => {}, win = globalThis } = {}) {
    this.transport = transport;
    this.onLevel = onLevel;
    this.win = win;
    this.track = null; // Agora local track
    this.stream = null; // getUserMedia stream (sandbox)
    this.mediaTrack = null;
    this.audioContext = null;
    this.timer = null;
    this.muted = false;
  }

  get active() {
    return Boolean(this.mediaTrack);
  }

  /** Start capturing (unmuted). Throws an Error whose message is for the user. */
  async start() {
    if (this.active) return this.setMuted(false);
    try {
      if (this.transport?.canPublish) {
        this.track = await this.transport.createMicrophoneTrack();
        await this.transport.publish(this.track);
        this.mediaTrack = this.track.getMediaStreamTrack();
      } else {
        const devices = this.win.navigator?.mediaDevices;
        if (!devices?.getUserMedia) throw new Error("mediaDevices unavailable: not a secure context");
        this.stream = await devices.getUserMedia({ audio: true });
        this.mediaTrack = this.stream.getAudioTracks()[0] ?? null;
        if (!this.mediaTrack) throw Object.assign(new Error("no audio track"), { name: "NotFoundError" });
      }
    } catch (err) {
      await this.stop();
      throw new Error(describeMicError(err));
    }
    this.muted = false;
    this.#startMeter();
  }

  async setMuted(muted) {
    this.muted = muted;
    if (this.track) await this.track.setMuted(muted);
    else if (this.mediaTrack) this.mediaTrack.enabled = !muted;
    if (muted) this.onLevel(0);
  }

  #startMeter() {
    const Ctx = this.win.AudioContext ?? this.win.webkitAudioContext;
    if (!Ctx || !this.mediaTrack) return;
    try {
      this.audioContext = new Ctx();
      const source = this.audioContext.createMediaStreamSource(new this.win.MediaStream([this.mediaTrack]));
      const analyser = this.audioContext.createAnalyser();
      analyser.fftSize = 512;
      source.connect(analyser);
      const samples = new Uint8Array(analyser.fftSize);
      this.timer = this.win.setInterval(() => {
        if (this.muted) return;
        analyser.getByteTimeDomainData(samples);
        this.onLevel(levelFromSamples(samples));
      }, 100);
    } catch (err) {
      // The meter is a nicety; the microphone still works without it.
      console.warn("level meter unavailable", err);
    }
  }

  async stop() {
    if (this.timer !== null) this.win.clearInterval(this.timer);
    this.timer = null;
    this.onLevel(0);
    const ctx = this.audioContext;
    this.audioContext = null;
    ctx?.close().catch(() => {});
    if (this.track) {
      const track = this.track;
      this.track = null;
      await releaseTrack(this.transport, track);
    }
    for (const t of this.stream?.getTracks() ?? []) t.stop();
    this.stream = null;
    this.mediaTrack = null;
  }
}
