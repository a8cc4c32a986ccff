// The session websocket client: connects, reconnects with backoff, and bridges the
// server and the data-stream transport.
//
//  - `rtc_send` frames are queued until the transport has joined (and the avatar is
//    there to hear them), then passed to transport.send one after another, unchanged and
//    in order, paced by the page's rate window (pacing.js): the server paces them too, but
//    frames queued before the transport joined, or while it reconnected, would otherwise
//    leave as one burst. A send that throws is reported back as `rtc_send_failed`, so
//    nothing the user said is silently lost.
//  - Every stream message from the avatar is forwarded as `rtc_message`, and kept in an
//    outbox while the socket reconnects.
//  - Every other server message is emitted as "message" (already parsed and checked).
//
// Events: "state" ({state, attempt?, delay?, code?}), "message" (msg), "ended"
// ({code, reason}: the server closed for good), "frame-queued" (frame),
// "frame-sent" (frame), "send-failed" ({frame, reason}).

import { Emitter } from "./emitter.js";
import { createBackoff } from "./backoff.js";
import { parseServerMessage } from "./messages.js";
import { RateWindow, frameBytes } from "./pacing.js";

const OPEN = 1;

/**
 * Close codes 4000-4999 are the server's own: auth, ownership, or an ended session
 * (README, "Session websocket": 4401, 4404, 4409 taken over by
 * another tab, 4410), so reconnecting would be refused again (or, for 4409, would take
 * the session back from the tab that holds it now). Anything else (1001 going away, 1006 dropped,
 * 1011 server error, 1012 service restart, a proxy's timeout) is worth a reconnect. 3000
 * matters: the server closes a socket whose presence task died with it, so that a fresh
 * socket starts one.
 */
export function isTerminalClose(code) {
  return code >= 4000 && code < 5000;
}

export class Relay extends Emitter {
  /**
   * @param {object} options
   * @param {string} options.url  ws(s) URL of the session socket
   * @param {Function} [options.WebSocketImpl]
   * @param {object} [options.backoff]  from createBackoff()
   * @param {Function} [options.setTimeout] / [options.clearTimeout]
   * @param {number} [options.maxOutbox]  messages kept while disconnected
   * @param {RateWindow} [options.rateWindow]  the page's send window (pacing.js); one per
   *   page, shared by its relays
   * @param {() => number} [options.now]  monotonic milliseconds, for the window
   * @param {() => string[]} [options.protocols]  the socket's subprotocols, asked at each
   *   (re)connect: the embed page's token travels there (a page cannot set a socket's
   *   headers), and a renewed token is the one the next socket offers
   */
  constructor({
    url,
    WebSocketImpl = globalThis.WebSocket,
    backoff = createBackoff(),
    setTimeout: setT = globalThis.setTimeout.bind(globalThis),
    clearTimeout: clearT = globalThis.clearTimeout.bind(globalThis),
    maxOutbox = 1000,
    rateWindow = new RateWindow(),
    now = () => globalThis.performance?.now?.() ?? Date.now(),
    protocols = null,
  }) {
    super();
    this.url = url;
    this.protocols = protocols;
    this.WebSocketImpl = WebSocketImpl;
    this.backoff = backoff;
    this.setTimeout = setT;
    this.clearTimeout = clearT;
    this.maxOutbox = maxOutbox;
    this.rateWindow = rateWindow;
    this.now = now;
    this.wake = null; // ends the pump's wait for the window, early on close()
    this.state = "idle"; // idle | connecting | open | reconnecting | closed
    this.ws = null;
    this.timer = null;
    this.healthy = false;
    this.outbox = []; // client -> server messages waiting for the socket
    this.pending = []; // rtc_send frames waiting for the transport
    this.pumping = false;
    this.transport = null;
    this.unsubscribe = [];
  }

  connect() {
    if (this.state === "closed") throw new Error("relay is closed");
    if (this.ws) return;
    this.#setState({ state: this.state === "reconnecting" ? "reconnecting" : "connecting" });
    this.#open();
  }

  /**
   * While waiting to reconnect, try now instead of at the end of the delay (the browser
   * says it is back online). Returns whether an attempt started.
   */
  retryNow() {
    if (this.state !== "reconnecting" || this.timer === null || this.ws) return false;
    this.clearTimeout(this.timer);
    this.timer = null;
    this.#open();
    return true;
  }

  /**
   * Send a client message. Returns true if it went out; otherwise false, or, with
   * `queue: true`, keeps it for when the socket is back (and returns false).
   */
  send(message, { queue = false } = {}) {
    if (this.ws && this.ws.readyState === OPEN) {
      this.ws.send(JSON.stringify(message));
      return true;
    }
    if (queue && this.state !== "closed") {
      this.outbox.push(message);
      if (this.outbox.length > this.maxOutbox) this.outbox.shift();
    }
    return false;
  }

  get isOpen() {
    return this.ws?.readyState === OPEN;
  }

  /**
   * Use `transport` for rtc_send frames and forward its stream messages. The transport
   * has `state` ("joined" when frames can go), `send(text) -> Promise`, and emits
   * "state" and "message".
   */
  attachTransport(transport) {
    this.detachTransport();
    this.transport = transport;
    this.unsubscribe = [
      transport.on("state", () => this.#pump()),
      transport.on("message", (text) => this.send({ type: "rtc_message", data: text }, { queue: true })),
    ];
    this.#pump();
  }

  detachTransport() {
    for (const off of this.unsubscribe) off();
    this.unsubscribe = [];
    this.transport = null;
  }

  /** Frames received but not yet handed to the transport. */
  get pendingFrames() {
    return this.pending.length;
  }

  /** Close for good (the session ended, or the page is leaving). */
  close() {
    if (this.state === "closed") return;
    this.#setState({ state: "closed" });
    if (this.timer !== null) this.clearTimeout(this.timer);
    this.timer = null;
    this.detachTransport();
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      try {
        ws.close(1000, "client closed");
      } catch {
        // already closing
      }
    }
    this.pending = [];
    this.outbox = [];
    this.wake?.();
  }

  #setState(info) {
    this.state = info.state;
    this.emit("state", info);
  }

  #open() {
    this.timer = null;
    let ws;
    try {
      ws = this.protocols ? new this.WebSocketImpl(this.url, this.protocols()) : new this.WebSocketImpl(this.url);
    } catch (err) {
      // A malformed URL or a blocked scheme: retrying cannot help.
      this.#setState({ state: "closed" });
      this.emit("ended", { code: 0, reason: String(err?.message ?? err) });
      return;
    }
    this.ws = ws;
    this.healthy = false;
    ws.onopen = () => {
      if (ws !== this.ws) return;
      this.#setState({ state: "open" });
      const queued = this.outbox;
      this.outbox = [];
      for (const m of queued) this.send(m, { queue: true });
    };
    ws.onmessage = (event) => {
      if (ws !== this.ws) return;
      this.#receive(event.data);
    };
    ws.onerror = () => {
      // Always followed by close, which decides what to do.
    };
    ws.onclose = (event) => {
      if (ws !== this.ws) return;
      this.ws = null;
      if (this.state === "closed") return;
      const code = event?.code ?? 1006;
      if (isTerminalClose(code)) {
        this.#setState({ state: "closed", code });
        this.emit("ended", { code, reason: event?.reason ?? "" });
        this.detachTransport();
        return;
      }
      const delay = this.backoff.next();
      this.#setState({ state: "reconnecting", attempt: this.backoff.attempt, delay, code });
      this.timer = this.setTimeout(() => this.#open(), delay);
    };
  }

  #receive(data) {
    const msg = parseServerMessage(data);
    if (!msg) return;
    if (!this.healthy) {
      // The server speaks first on every connect; only then is the connection proven
      // (a server that accepts and drops at once must not reset the backoff).
      this.healthy = true;
      this.backoff.reset();
    }
    if (msg.type === "rtc_send") {
      this.pending.push(msg.frame);
      this.emit("frame-queued", msg.frame);
      this.#pump();
      return;
    }
    this.emit("message", msg);
  }

  /** Wait `ms` for the window, or less if the relay closes meanwhile. */
  #pause(ms) {
    return new Promise((resolve) => {
      const timer = this.setTimeout(() => this.wake?.(), Math.max(1, Math.ceil(ms)));
      this.wake = () => {
        this.wake = null;
        this.clearTimeout(timer);
        resolve();
      };
    });
  }

  async #pump() {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.pending.length && this.transport && this.transport.state === "joined") {
        // The frame at the head goes once the window has room for it; meanwhile the
        // transport may drop out or the relay close, so everything is checked again.
        const frame = this.pending[0];
        const size = frameBytes(frame);
        const wait = this.rateWindow.delay(size, this.now());
        if (wait > 0) {
          await this.#pause(wait);
          continue;
        }
        this.pending.shift();
        this.rateWindow.record(size, this.now());
        try {
          await this.transport.send(frame);
          this.emit("frame-sent", frame);
        } catch (err) {
          const reason = String(err?.message || err || "send failed");
          this.send({ type: "rtc_send_failed", frame, reason }, { queue: true });
          this.emit("send-failed", { frame, reason });
        }
      }
    } finally {
      this.pumping = false;
    }
  }
}
