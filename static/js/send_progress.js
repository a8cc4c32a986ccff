// Progress of a long message on its way to the avatar, counted from the rtc_send frames
// the server hands the page. Pure.
//
// The server splits a chat into frames of at most ~950 bytes and paces them at Agora's
// 6 KB/s, so a long text takes seconds to go out. Until its last frame (fin) arrives the
// total is not known: the page estimates it from the text the user sent.

import { parseStreamMessage, utf8Length } from "./messages.js";

// The server's frame budget and the size of a chat frame's envelope with a typical mid
// ({"v":2,"type":"chat","mid":"msg-0123456789abcdef","idx":0,"fin":false,"pld":{"text":""}}).
const FRAME_BUDGET = 950;
const ENVELOPE = 82;

/** About how many frames the server will need for `text`. */
export function estimateFrames(text) {
  const bytes = utf8Length(JSON.stringify(String(text))) - 2;
  return Math.max(1, Math.ceil(bytes / (FRAME_BUDGET - ENVELOPE)));
}

export class SendProgress {
  constructor() {
    this.current = null; // {mid, queued, sent, fin, estimate}
    this.expected = null; // estimate for the next chat to start
  }

  /** The user just sent `text`; the next new chat's frames are probably it. */
  expect(text) {
    this.expected = estimateFrames(text);
  }

  /** A frame arrived from the server. Returns the progress if it is a chat frame. */
  queued(frame) {
    const info = parseStreamMessage(frame);
    if (info?.type !== "chat" || !info.mid) return null;
    if (this.current?.mid !== info.mid) {
      this.current = { mid: info.mid, queued: 0, sent: 0, fin: false, estimate: this.expected ?? 1 };
      this.expected = null;
    }
    const p = this.current;
    p.queued += 1;
    if (info.fin !== false) p.fin = true;
    return this.view();
  }

  /** A frame went out through the transport (or failed: it is no longer pending). */
  sent(frame) {
    const info = parseStreamMessage(frame);
    if (info?.type !== "chat" || info.mid !== this.current?.mid) return null;
    this.current.sent += 1;
    return this.view();
  }

  /**
   * {mid, sent, total, done, multi}: `total` is exact once the last frame is known;
   * `multi` says whether this is worth showing (a message of more than one frame).
   */
  view() {
    const p = this.current;
    if (!p) return null;
    const total = p.fin ? p.queued : Math.max(p.queued, p.estimate, p.sent + 1);
    return { mid: p.mid, sent: p.sent, total, done: p.fin && p.sent >= p.queued, multi: total > 1 };
  }
}
