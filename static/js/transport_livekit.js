// LiveKitTransport: AKool's avatar in a LiveKit room (livekit-client's self-contained ESM
// build, served from /static/vendor/livekit/ and imported only when a session uses it).
// A stream message is one reliable data packet (the frames are the relay's, at most
// 1 KB and 6 KB/s, as on every network); the avatar is the participant named
// `rtc.avatar_identity`.

import { decodePayload } from "./messages.js";
import { Transport, encodeText, localTrack, realTimers, sdkLoadError } from "./transport_base.js";

/** LiveKit's connection quality in Agora's numbers, which the stage shows (format.js). */
const QUALITY = { excellent: 1, good: 2, poor: 4, lost: 6, unknown: 0 };

export class LiveKitTransport extends Transport {
  kind = "livekit";

  /**
   * @param {object} options
   * @param {{url, token, room, identity, avatar_identity}} options.rtc
   * @param {string} options.sdkUrl  URL of livekit-client.esm.mjs
   * @param {HTMLElement} [options.videoContainer]  where the avatar's video plays
   * @param {number} [options.joinTimeoutMs]
   * @param {(url: string) => Promise<object>} [options.importModule]
   */
  constructor({ rtc, sdkUrl, videoContainer = null, joinTimeoutMs = 15000, importModule = (url) => import(url), ...timers }) {
    super();
    Object.assign(this, { rtc, sdkUrl, videoContainer, joinTimeoutMs, importModule });
    this.timers = realTimers(timers);
    this.sdk = null;
    this.room = null;
    this.connected = false;
    this.closing = false;
  }

  #isAvatar(participant) {
    return !this.rtc.avatar_identity || participant?.identity === this.rtc.avatar_identity;
  }

  get avatarPresent() {
    return [...(this.room?.remoteParticipants?.values() ?? [])].some((p) => this.#isAvatar(p));
  }

  async connect() {
    this._setState("connecting");
    try {
      this.sdk = await this.importModule(this.sdkUrl);
    } catch {
      this._setState("failed", { reason: "sdk" });
      throw sdkLoadError();
    }
    const { Room, setLogLevel } = this.sdk;
    setLogLevel?.("error");
    if (this.closing) throw new Error("closed");
    const room = new Room({ adaptiveStream: true, dynacast: true });
    this.room = room;
    this.#wire(room, this.sdk.RoomEvent);
    await this._join(room.connect(this.rtc.url, this.rtc.token));
    if (this.closing) return;
    this.connected = true;
    if (!room.canPlaybackAudio) this.emit("autoplay-blocked");
    this.#update();
  }

  #wire(room, E) {
    room.on(E.ParticipantConnected, () => this.#update());
    room.on(E.ParticipantDisconnected, () => this.#update());
    room.on(E.TrackSubscribed, (track, _publication, participant) => {
      if (!this.#isAvatar(participant)) return;
      const element = track.attach();
      if (track.kind === "video") {
        element.style.objectFit = "contain";
        this.videoContainer?.replaceChildren(element);
      } else {
        element.hidden = true;
        this.videoContainer?.append(element);
      }
      this.#update();
      this.emit("avatar-published", { mediaType: track.kind });
    });
    room.on(E.TrackUnsubscribed, (track, _publication, participant) => {
      for (const element of track.detach()) element.remove();
      if (this.#isAvatar(participant)) this.emit("avatar-unpublished", { mediaType: track.kind });
    });
    room.on(E.DataReceived, (payload, participant) => {
      if (participant && !this.#isAvatar(participant)) return;
      let text;
      try {
        text = decodePayload(payload);
      } catch {
        return;
      }
      this.emit("message", text);
    });
    room.on(E.Reconnecting, () => {
      if (this.closing) return;
      this.connected = false;
      this._setState("reconnecting", { reason: "reconnecting" });
    });
    room.on(E.Reconnected, () => {
      if (this.closing) return;
      this.connected = true;
      this.#update();
    });
    room.on(E.Disconnected, (reason) => {
      // Before the join settles its own rejection speaks.
      if (this.closing || !this.connected) return;
      this.connected = false;
      this._setState("failed", { reason: reason ?? "disconnected" });
    });
    room.on(E.ConnectionQualityChanged, (quality, participant) => {
      if (participant !== room.localParticipant) return;
      const level = QUALITY[quality] ?? 0;
      this.emit("quality", { uplink: level, downlink: level, rtt: null });
    });
    room.on(E.AudioPlaybackStatusChanged, () => {
      if (!room.canPlaybackAudio) this.emit("autoplay-blocked");
    });
  }

  #update() {
    if (!this.connected || this.closing) return;
    this._setState(this.avatarPresent ? "joined" : "waiting");
  }

  send(text) {
    const room = this.room;
    if (!room || room.state !== "connected") {
      return Promise.reject(new Error(`not connected to the room (${room?.state ?? "no room"})`));
    }
    try {
      return Promise.resolve(room.localParticipant.publishData(encodeText(text), { reliable: true }));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  get canPublish() {
    return Boolean(this.room);
  }

  async createMicrophoneTrack() {
    return this.#local(await this.sdk.createLocalAudioTrack());
  }

  async createCameraTrack() {
    return this.#local(await this.sdk.createLocalVideoTrack());
  }

  /** A LiveKit local track in the shape mic.js and camera.js use (transport_base.js). */
  #local(track) {
    const wrapped = localTrack({
      mediaTrack: () => track.mediaStreamTrack,
      setMuted: (muted) => (muted ? track.mute() : track.unmute()),
      play: (container, { mirror = false } = {}) => {
        const element = track.attach();
        if (mirror) element.classList.add("mirror");
        container.replaceChildren(element);
      },
      stop: () => {
        track.detach();
        track.stop();
      },
    });
    wrapped.sdkTrack = track;
    return wrapped;
  }

  publish(local) {
    return this.room.localParticipant.publishTrack(local.sdkTrack);
  }

  unpublish(local) {
    return this.room.localParticipant.unpublishTrack(local.sdkTrack);
  }

  /** After a click: play the avatar's audio that autoplay blocked. */
  resumeAudio() {
    return Promise.resolve(this.room?.startAudio()).catch(() => {});
  }

  _teardown() {
    const room = this.room;
    if (!room) return Promise.resolve();
    room.removeAllListeners?.();
    return Promise.resolve(room.disconnect()).catch(() => {});
  }
}
