import { test } from "node:test";
import assert from "node:assert/strict";

import { describeDeviceError, releaseTrack } from "../../static/js/media_devices.js";

test("camera failures are explained in the camera's words", () => {
  const notFound = Object.assign(new Error("Requested device not found"), { name: "NotFoundError" });
  assert.match(describeDeviceError(notFound, "camera"), /^No camera found\./);
  assert.match(describeDeviceError({ code: "PERMISSION_DENIED" }, "camera"), /^Camera blocked\. Allow camera access/);
  assert.match(describeDeviceError(new Error("mediaDevices unavailable: not a secure context"), "camera"), /camera needs a secure page/);
  assert.match(describeDeviceError(new Error("odd"), "camera"), /camera could not be started \(odd\)/);
});

test("a track is closed even when the channel it was published on is gone", async () => {
  const calls = [];
  const track = { stop: () => calls.push("stop"), close: () => calls.push("close") };
  const transport = { unpublish: async () => { throw new Error("left the channel"); } };
  await releaseTrack(transport, track);
  await releaseTrack(null, { close: () => calls.push("close without stop") });
  assert.deepEqual(calls, ["stop", "close", "close without stop"]);
});
