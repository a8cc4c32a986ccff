// The user's camera (only where the site enables it): an Agora track published to the
// avatar, or in the sandbox a local preview only. Failures are messages, never breakage.

function describeCameraError(err) {
  const text = `${err?.name ?? ""} ${err?.code ?? ""} ${err?.message ?? ""}`;
  if (/NotFound|DEVICE_NOT_FOUND|OverconstrainedError/i.test(text)) return "No camera found.";
  if (/NotAllowed|PERMISSION_DENIED|Permission denied|SecurityError/i.test(text)) {
    return "Camera blocked. Allow camera access for this site in the browser's address bar, then try again.";
  }
  if (/NotReadable|NOT_READABLE/i.test(text)) return "The camera is busy in another program.";
  return `The camera could not be started (${(err?.message || err?.name || "unknown error").trim()}).`;
}

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
        if (!devices?.getUserMedia) throw new Error("The camera needs a secure page (https or localhost).");
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
      throw new Error(describeCameraError(err));
    }
  }

  async stop() {
    if (this.track) {
      const track = this.track;
      this.track = null;
      try {
        await this.transport?.unpublish(track);
      } catch {
        // channel gone
      }
      track.stop();
      track.close();
    }
    for (const t of this.stream?.getTracks() ?? []) t.stop();
    this.stream = null;
    this.container?.replaceChildren();
  }
}
