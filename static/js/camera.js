// The user's camera (only where the site enables it): an Agora track published to the
// avatar, or in the sandbox a local preview only. Failures are messages, never breakage.

import { describeDeviceError, releaseTrack } from "./media_devices.js";

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
      }
    } catch (err) {
      await this.stop();
      throw new Error(describeDeviceError(err, "camera"));
    }
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
