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

/**
 * A minimal DOM for modules that render (notices, the ack list, the transcript view):
 * elements with children, text, dataset, classes and attributes, and `.class` lookups.
 */
export class FakeDocument {
  createElement(tag) {
    return new FakeElement(tag, this);
  }

  createTextNode(text) {
    return { nodeType: 3, textContent: String(text), parent: null };
  }
}

export class FakeElement {
  constructor(tag = "div", doc = new FakeDocument()) {
    this.tagName = tag.toUpperCase();
    this.ownerDocument = doc;
    this.children = [];
    this.dataset = {};
    this.attributes = {};
    this.className = "";
    this.scrollTop = 0;
    this.scrollHeight = 0;
    this.clientHeight = 0;
    this.nodeType = 1;
    this.parent = null;
  }

  get classList() {
    const el = this;
    const list = () => el.className.split(/\s+/).filter(Boolean);
    return {
      add: (...names) => {
        el.className = [...new Set([...list(), ...names])].join(" ");
      },
      remove: (...names) => {
        el.className = list().filter((n) => !names.includes(n)).join(" ");
      },
      contains: (name) => list().includes(name),
      toggle: (name, on) => {
        const has = list().includes(name);
        const want = on ?? !has;
        if (want && !has) el.classList.add(name);
        if (!want && has) el.classList.remove(name);
      },
    };
  }

  get textContent() {
    return this.children.map((c) => c.textContent).join("");
  }

  set textContent(text) {
    this.replaceChildren(...(text === "" || text == null ? [] : [this.ownerDocument.createTextNode(String(text))]));
  }

  setAttribute(name, value) {
    this.attributes[name] = String(value);
  }

  getAttribute(name) {
    return this.attributes[name] ?? null;
  }

  removeAttribute(name) {
    delete this.attributes[name];
  }

  #adopt(n) {
    const node = typeof n === "string" ? this.ownerDocument.createTextNode(n) : n;
    if (node.parent) node.parent.children.splice(node.parent.children.indexOf(node), 1);
    node.parent = this;
    return node;
  }

  append(...nodes) {
    for (const n of nodes) this.children.push(this.#adopt(n));
  }

  prepend(...nodes) {
    this.children.unshift(...nodes.map((n) => this.#adopt(n)));
  }

  insertBefore(node, ref) {
    const adopted = this.#adopt(node);
    const at = ref ? this.children.indexOf(ref) : -1;
    if (at < 0) this.children.push(adopted);
    else this.children.splice(at, 0, adopted);
    return adopted;
  }

  remove() {
    if (!this.parent) return;
    this.parent.children.splice(this.parent.children.indexOf(this), 1);
    this.parent = null;
  }

  replaceChildren(...nodes) {
    for (const c of this.children) c.parent = null;
    this.children = [];
    this.append(...nodes);
  }

  /** Only ".class" selectors, searched depth-first. */
  querySelector(selector) {
    return this.querySelectorAll(selector)[0] ?? null;
  }

  querySelectorAll(selector) {
    if (!selector.startsWith(".")) throw new Error(`FakeElement supports only .class selectors, not ${selector}`);
    const name = selector.slice(1);
    const found = [];
    const walk = (el) => {
      for (const c of el.children) {
        if (c.nodeType !== 1) continue;
        if (c.classList.contains(name)) found.push(c);
        walk(c);
      }
    };
    walk(this);
    return found;
  }
}
