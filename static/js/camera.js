// The user's camera (only where the site enables it, CAMERA_ENABLED; off until the user
// turns it on): a track published to the avatar on every network ("Vision Sense": the
// avatar sees the user), or in the sandbox a local preview only. Under the preview a line
// says who sees it. Failures are messages, never breakage.

import { describeDeviceError, releaseTrack } from "./media_devices.js";
import { t } from "./i18n.js";

export const SHARED_TEXT = t("Your camera is shared with the avatar: it sees you.");
export const PREVIEW_TEXT = t("Only you see this preview: the sandbox avatar does not see you.");

export class Camera {
  /**
   * @param {object} options
   * @param {object} [options.transport]  with canPublish/createCameraTrack/publish
   * @param {HTMLElement} options.container  where the preview shows
   */
  constructor({ transport = null, container, win = globalThis }) {
    this.transport = transport;
    this.container = container;
    this.win = win;
    this.track = null;
    this.stream = null;
  }

  get active() {
    return Boolean(this.track || this.stream);
  }

  async start() {
    if (this.active) return;
    try {
      if (this.transport?.canPublish) {
        this.track = await this.transport.createCameraTrack();
        await this.transport.publish(this.track);
        this.track.play(this.container, { mirror: true });
        this.#say(SHARED_TEXT);
      } else {
        const devices = this.win.navigator?.mediaDevices;
        if (!devices?.getUserMedia) throw new Error("mediaDevices unavailable: not a secure context");
        this.stream = await devices.getUserMedia({ video: true });
        const video = this.container.ownerDocument.createElement("video");
        video.muted = true;
        video.playsInline = true;
        video.autoplay = true;
        video.className = "mirror";
        video.srcObject = this.stream;
        this.container.replaceChildren(video);
        video.play().catch(() => {});
        this.#say(PREVIEW_TEXT);
      }
    } catch (err) {
      await this.stop();
      throw new Error(describeDeviceError(err, "camera"));
    }
  }

  /** Who sees the camera, under its preview. */
  #say(text) {
    const note = this.container.ownerDocument.createElement("p");
    note.className = "camera-note";
    note.textContent = text;
    this.container.append(note);
  }

  async stop() {
    if (this.track) {
      const track = this.track;
      this.track = null;
      await releaseTrack(this.transport, track);
    }
    for (const t of this.stream?.getTracks() ?? []) t.stop();
    this.stream = null;
    this.container?.replaceChildren();
  }
}
