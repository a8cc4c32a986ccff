// What the microphone and the camera share: a person's explanation of a failure to
// start one (getUserMedia or Agora), and letting go of a published track.

/** A person's explanation for a failure to start `device` ("microphone", "camera"). */
export function describeDeviceError(err, device) {
  const Device = device[0].toUpperCase() + device.slice(1);
  const text = `${err?.name ?? ""} ${err?.code ?? ""} ${err?.message ?? ""}`;
  if (/NotFound|DEVICE_NOT_FOUND|DevicesNotFound|OverconstrainedError/i.test(text)) {
    return `No ${device} found. Plug one in (or pick one in your system settings), then try again.`;
  }
  if (/NotAllowed|PERMISSION_DENIED|Permission denied|SecurityError/i.test(text)) {
    return `${Device} blocked. Allow ${device} access for this site in the browser's address bar, then try again.`;
  }
  if (/NotReadable|TrackStartError|NOT_READABLE/i.test(text)) {
    return `The ${device} is busy in another program. Close it there, then try again.`;
  }
  if (/insecure|secure context|mediaDevices/i.test(text)) {
    return `The ${device} needs a secure page (https or localhost).`;
  }
  return `The ${device} could not be started (${(err?.message || err?.name || "unknown error").trim()}).`;
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
