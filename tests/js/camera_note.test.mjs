// Vision Sense (issue 18): the camera is off until the user turns it on; on a network it is
// published to the avatar and the page says the avatar sees the user; in the sandbox it is
// a local preview and the page says the avatar does not see it.

import { test } from "node:test";
import assert from "node:assert/strict";

import { Camera, PREVIEW_TEXT, SHARED_TEXT } from "../../static/js/camera.js";
import { FakeElement } from "./fakes.mjs";

const note = (container) => container.querySelectorAll("p").find((p) => p.className === "camera-note")?.textContent ?? null;

test("on a network the camera is published only once turned on, and the page says the avatar sees it", async () => {
  const published = [];
  const transport = {
    canPublish: true,
    createCameraTrack: async () => ({ play: () => {}, stop: () => {}, close: () => {} }),
    publish: async (track) => published.push(track),
    unpublish: async () => {},
  };
  const container = new FakeElement("div");
  const camera = new Camera({ transport, container });
  assert.equal(camera.active, false);
  assert.deepEqual(published, []);
  await camera.start();
  assert.equal(published.length, 1);
  assert.equal(note(container), SHARED_TEXT);
  await camera.stop();
  assert.equal(note(container), null);
});

test("in the sandbox the preview says the avatar does not see it", async () => {
  const win = { navigator: { mediaDevices: { getUserMedia: async () => ({ getTracks: () => [] }) } } };
  const container = new FakeElement("div");
  const camera = new Camera({ container, win });
  await camera.start();
  assert.equal(note(container), PREVIEW_TEXT);
});
