// Test doubles shared by the relay and transport tests (not a test file itself).

import { Emitter } from "../../static/js/emitter.js";

/** A WebSocket stand-in: records sends, lets the test open, message and close it. */
export class FakeWebSocket {
  static instances = [];

  static reset() {
    FakeWebSocket.instances = [];
  }

  static get last() {
    return FakeWebSocket.instances.at(-1);
  }

  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.closedWith = null;
    this.onopen = null;
    this.onmessage = null;
    this.onclose = null;
    this.onerror = null;
    FakeWebSocket.instances.push(this);
  }

  send(data) {
    if (this.readyState !== 1) throw new Error("InvalidStateError: not open");
    this.sent.push(data);
  }

  close(code = 1000, reason = "") {
    this.closedWith = { code, reason };
    this.readyState = 3;
  }

  // --- driven by the test ---
  serverOpen() {
    this.readyState = 1;
    this.onopen?.({});
  }

  serverSend(data) {
    this.onmessage?.({ data: typeof data === "string" ? data : JSON.stringify(data) });
  }

  serverClose(code = 1006, reason = "") {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  get sentJson() {
    return this.sent.map((s) => JSON.parse(s));
  }
}

/** A transport stand-in: state is set by the test; send can be slowed or made to fail. */
export class FakeTransport extends Emitter {
  constructor() {
    super();
    this.state = "connecting";
    this.sent = [];
    this.inFlight = 0;
    this.maxInFlight = 0;
    this.delayMs = 0;
    this.failOn = new Set();
  }

  setState(state) {
    this.state = state;
    this.emit("state", state);
  }

  async send(text) {
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
      if (this.failOn.has(text)) throw new Error("boom");
      this.sent.push(text);
    } finally {
      this.inFlight -= 1;
    }
  }
}

/** Manual timers: the test decides when time passes. */
export function manualTimers() {
  let next = 1;
  const pending = new Map();
  return {
    setTimeout(fn, ms) {
      const id = next++;
      pending.set(id, { fn, ms });
      return id;
    },
    clearTimeout(id) {
      pending.delete(id);
    },
    get pending() {
      return [...pending.values()];
    },
    runAll() {
      const due = [...pending.entries()];
      pending.clear();
      for (const [, t] of due) t.fn();
    },
  };
}

/** Wait until queued promise callbacks have run. */
export const flush = () => new Promise((r) => setImmediate(r));
