// What the microphone and the camera share: a person's explanation of a failure to
// start one (getUserMedia or Agora), and letting go of a published track.

import { t } from "./i18n.js";

// Each failure as a whole sentence per device, so a translation can decline its noun.
const SAID = {
  microphone: {
    missing: () => t("No microphone found. Plug one in (or pick one in your system settings), then try again."),
    blocked: () => t("Microphone blocked. Allow microphone access for this site in the browser's address bar, then try again."),
    busy: () => t("The microphone is busy in another program. Close it there, then try again."),
    insecure: () => t("The microphone needs a secure page (https or localhost)."),
    other: (reason) => t("The microphone could not be started (%(reason)s).", { reason }),
  },
  camera: {
    missing: () => t("No camera found. Plug one in (or pick one in your system settings), then try again."),
    blocked: () => t("Camera blocked. Allow camera access for this site in the browser's address bar, then try again."),
    busy: () => t("The camera is busy in another program. Close it there, then try again."),
    insecure: () => t("The camera needs a secure page (https or localhost)."),
    other: (reason) => t("The camera could not be started (%(reason)s).", { reason }),
  },
};

/** A person's explanation for a failure to start `device` ("microphone", "camera"). */
export function describeDeviceError(err, device) {
  const said = SAID[device] ?? SAID.microphone;
  const text = `${err?.name ?? ""} ${err?.code ?? ""} ${err?.message ?? ""}`;
  if (/NotFound|DEVICE_NOT_FOUND|DevicesNotFound|OverconstrainedError/i.test(text)) return said.missing();
  if (/NotAllowed|PERMISSION_DENIED|Permission denied|SecurityError/i.test(text)) return said.blocked();
  if (/NotReadable|TrackStartError|NOT_READABLE/i.test(text)) return said.busy();
  if (/insecure|secure context|mediaDevices/i.test(text)) return said.insecure();
  return said.other((err?.message || err?.name || t("unknown error")).trim());
}

/** Unpublish a local track (the channel may be gone already) and close it. */
export async function releaseTrack(transport, track) {
  try {
    await transport?.unpublish(track);
  } catch {
    // the channel may be gone already
  }
  track.stop?.();
  track.close();
}
