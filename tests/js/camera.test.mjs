import { test } from "node:test";
import assert from "node:assert/strict";

import { Camera } from "../../static/js/camera.js";
import { FakeElement } from "./fakes.mjs";

function mediaWith({ fail = null } = {}) {
  const stopped = [];
  const asked = [];
  const win = {
    navigator: {
      mediaDevices: {
        getUserMedia: async (constraints) => {
          asked.push(constraints);
          if (fail) throw fail;
          return { getTracks: () => [{ stop: () => stopped.push("video") }] };
        },
      },
    },
  };
  return { win, stopped, asked };
}

/** An Agora transport that can publish: records what was published and released. */
function publishingTransport({ failCreate = null } = {}) {
  const log = [];
  const track = {
    play: (container, options) => log.push(["play", container, options]),
    stop: () => log.push(["stop"]),
    close: () => log.push(["close"]),
  };
  return {
    log,
    track,
    canPublish: true,
    createCameraTrack: async () => {
      if (failCreate) throw failCreate;
      return track;
    },
    publish: async (t) => log.push(["publish", t]),
    unpublish: async (t) => log.push(["unpublish", t]),
  };
}

test("in the sandbox the camera is a mirrored local preview, gone when stopped", async () => {
  const container = new FakeElement("div");
  const { win, stopped, asked } = mediaWith();
  const camera = new Camera({ container, win });
  await camera.start();
  assert.deepEqual(asked, [{ video: true }]);
  assert.equal(camera.active, true);
  const [video] = container.children;
  assert.equal(video.tagName, "VIDEO");
  assert.equal(video.className, "mirror");
  assert.equal(video.muted, true);
  assert.equal(video.playing, true);
  await camera.stop();
  assert.equal(camera.active, false);
  assert.deepEqual(stopped, ["video"]);
  assert.equal(container.children.length, 0);
});

test("with Agora the camera is published to the avatar and played mirrored", async () => {
  const container = new FakeElement("div");
  const transport = publishingTransport();
  const camera = new Camera({ transport, container });
  await camera.start();
  assert.deepEqual(transport.log, [
    ["publish", transport.track],
    ["play", container, { mirror: true }],
  ]);
  await camera.stop();
  assert.deepEqual(transport.log.slice(2), [["unpublish", transport.track], ["stop"], ["close"]]);
  assert.equal(camera.active, false);
});

test("a camera that cannot start is a message for a person, and nothing is left running", async () => {
  const blocked = new Camera({
    container: new FakeElement("div"),
    win: mediaWith({ fail: Object.assign(new Error("Permission denied"), { name: "NotAllowedError" }) }).win,
  });
  await assert.rejects(blocked.start(), /^Error: Camera blocked\. Allow camera access for this site/);
  assert.equal(blocked.active, false);

  const missing = new Camera({ container: new FakeElement("div"), transport: publishingTransport({ failCreate: { code: "DEVICE_NOT_FOUND", message: "" } }) });
  await assert.rejects(missing.start(), /No camera found/);
  assert.equal(missing.active, false);

  const insecure = new Camera({ container: new FakeElement("div"), win: {} });
  await assert.rejects(insecure.start(), /The camera needs a secure page/);
});
