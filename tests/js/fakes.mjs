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

  constructor(url, protocols = undefined) {
    this.url = url;
    this.protocols = protocols; // the embed page's token travels here
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

  setState(state, info = {}) {
    this.state = state;
    this.emit("state", state, info);
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
 * A clock whose time passes only when the test says so: `now`, and timers and intervals
 * that `advance(ms)` runs in time order (what the page modules take as their `clock`).
 */
export function fakeClock(start = Date.parse("2030-01-01T12:00:00Z")) {
  let now = start;
  let next = 1;
  const timers = new Map(); // id -> {at, fn, every}
  const clock = {
    now: () => now,
    setTimeout(fn, ms = 0) {
      const id = next++;
      timers.set(id, { at: now + Math.max(0, ms), fn, every: null });
      return id;
    },
    clearTimeout(id) {
      timers.delete(id);
    },
    setInterval(fn, ms) {
      const id = next++;
      timers.set(id, { at: now + ms, fn, every: ms });
      return id;
    },
    clearInterval(id) {
      timers.delete(id);
    },
    /** Timers still waiting. */
    get pending() {
      return timers.size;
    },
    /** Let `ms` pass, running every timer that falls due (with their promise callbacks). */
    async advance(ms) {
      const until = now + ms;
      for (;;) {
        let due = null;
        for (const [id, t] of timers) if (t.at <= until && (!due || t.at < due[1].at)) due = [id, t];
        if (!due) break;
        const [id, t] = due;
        now = Math.max(now, t.at);
        if (t.every) t.at += t.every;
        else timers.delete(id);
        t.fn();
        await flush();
      }
      now = until;
      await flush();
    },
  };
  return clock;
}

/**
 * A minimal DOM for modules that render and listen: elements with children, text,
 * dataset (mirrored by data-* attributes), classes, attributes, events that bubble,
 * focus, <select> with its options, and simple selectors (tag, #id, .class, [attr],
 * [attr=value], :checked, and the descendant combinator).
 */
export class FakeDocument {
  constructor() {
    this.activeElement = null;
  }

  createElement(tag) {
    return tag.toLowerCase() === "select" ? new FakeSelect(tag, this) : new FakeElement(tag, this);
  }

  createTextNode(text) {
    return { nodeType: 3, textContent: String(text), parent: null };
  }
}

/** A DOM-ish event; `fire(el, type, props)` dispatches one. */
export class FakeEvent {
  constructor(type, { bubbles = true, ...props } = {}) {
    this.type = type;
    this.bubbles = bubbles;
    this.defaultPrevented = false;
    this.target = null;
    Object.assign(this, props);
  }

  preventDefault() {
    this.defaultPrevented = true;
  }
}

export function fire(el, type, props = {}) {
  const event = new FakeEvent(type, props);
  el.dispatchEvent(event);
  return event;
}

const dataKey = (attr) => attr.slice(5).replace(/-([a-z])/g, (_, c) => c.toUpperCase());

/** An attribute, or the property that reflects it (input.name, input.value, ...). */
function attrOf(e, attr) {
  const a = e.getAttribute(attr);
  if (a !== null) return a;
  const v = e[attr];
  if (typeof v === "boolean") return v ? "" : null;
  return typeof v === "string" || typeof v === "number" ? String(v) : null;
}

/** "tag#id.class[attr=value]:checked" -> a predicate on an element. */
function compound(selector) {
  const tests = [];
  const re = /^([a-zA-Z][\w-]*)|#([\w-]+)|\.([\w-]+)|\[([\w-]+)(?:=(?:"([^"]*)"|'([^']*)'|([^\]]*)))?\]|:(checked)/g;
  let m;
  let seen = 0;
  while ((m = re.exec(selector)) && m[0]) {
    seen += m[0].length;
    const [, tag, id, cls, attr, v1, v2, v3, pseudo] = m;
    if (tag) tests.push((e) => e.tagName === tag.toUpperCase());
    else if (id) tests.push((e) => e.id === id);
    else if (cls) tests.push((e) => e.classList.contains(cls));
    else if (attr) {
      const want = v1 ?? v2 ?? v3;
      tests.push((e) => (want === undefined ? attrOf(e, attr) !== null : attrOf(e, attr) === want));
    } else if (pseudo) tests.push((e) => e.checked === true);
  }
  if (seen !== selector.length) throw new Error(`FakeElement cannot match the selector ${selector}`);
  return (e) => tests.every((t) => t(e));
}

export class FakeElement {
  constructor(tag = "div", doc = new FakeDocument()) {
    this.tagName = tag.toUpperCase();
    this.ownerDocument = doc;
    this.children = [];
    this.dataset = {};
    this.attributes = {};
    this.className = "";
    this.id = "";
    this.hidden = false;
    this.disabled = false;
    this.value = "";
    this.scrollTop = 0;
    this.scrollHeight = 0;
    this.clientHeight = 0;
    this.nodeType = 1;
    this.parent = null;
    this.listeners = [];
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

  get dateTime() {
    return this.getAttribute("datetime") ?? "";
  }

  set dateTime(value) {
    this.setAttribute("datetime", value);
  }

  setAttribute(name, value) {
    if (name.startsWith("data-")) this.dataset[dataKey(name)] = String(value);
    else this.attributes[name] = String(value);
  }

  getAttribute(name) {
    if (name.startsWith("data-")) return this.dataset[dataKey(name)] ?? null;
    return this.attributes[name] ?? null;
  }

  hasAttribute(name) {
    return this.getAttribute(name) !== null;
  }

  removeAttribute(name) {
    if (name.startsWith("data-")) delete this.dataset[dataKey(name)];
    else delete this.attributes[name];
  }

  // --- events ---
  addEventListener(type, fn, options = {}) {
    this.listeners.push({ type, fn, once: Boolean(options?.once) });
  }

  removeEventListener(type, fn) {
    this.listeners = this.listeners.filter((l) => l.type !== type || l.fn !== fn);
  }

  dispatchEvent(event) {
    event.target ??= this;
    for (let node = this; node; node = event.bubbles ? node.parent : null) {
      event.currentTarget = node;
      for (const l of node.listeners.filter((x) => x.type === event.type)) {
        if (l.once) node.removeEventListener(l.type, l.fn);
        l.fn(event);
      }
    }
    return !event.defaultPrevented;
  }

  click() {
    if (!this.disabled) fire(this, "click");
  }

  focus() {
    this.ownerDocument.activeElement = this;
  }

  select() {
    this.selected = true;
  }

  /** A media element's play(). */
  play() {
    this.playing = true;
    return Promise.resolve();
  }

  // --- children ---
  #adopt(n) {
    const node = typeof n === "string" ? this.ownerDocument.createTextNode(n) : n;
    if (node.parent) node.parent.children.splice(node.parent.children.indexOf(node), 1);
    node.parent = this;
    return node;
  }

  childrenChanged() {}

  append(...nodes) {
    for (const n of nodes) this.children.push(this.#adopt(n));
    this.childrenChanged();
  }

  prepend(...nodes) {
    this.children.unshift(...nodes.map((n) => this.#adopt(n)));
    this.childrenChanged();
  }

  insertBefore(node, ref) {
    const adopted = this.#adopt(node);
    const at = ref ? this.children.indexOf(ref) : -1;
    if (at < 0) this.children.push(adopted);
    else this.children.splice(at, 0, adopted);
    this.childrenChanged();
    return adopted;
  }

  remove() {
    if (!this.parent) return;
    const parent = this.parent;
    parent.children.splice(parent.children.indexOf(this), 1);
    this.parent = null;
    parent.childrenChanged();
  }

  replaceWith(node) {
    const parent = this.parent;
    if (!parent) return;
    parent.insertBefore(node, this);
    this.remove();
  }

  replaceChildren(...nodes) {
    for (const c of this.children) c.parent = null;
    this.children = [];
    this.append(...nodes);
  }

  querySelector(selector) {
    return this.querySelectorAll(selector)[0] ?? null;
  }

  /** Descendants matching `selector` (compound parts, separated by spaces), in order. */
  querySelectorAll(selector) {
    const parts = selector.trim().split(/\s+/).map(compound);
    const last = parts.pop();
    const found = [];
    const underAll = (el) => {
      let i = parts.length - 1;
      for (let a = el.parent; a && a !== this.parent && i >= 0; a = a.parent) if (parts[i](a)) i -= 1;
      return i < 0;
    };
    const walk = (el) => {
      for (const c of el.children) {
        if (c.nodeType !== 1) continue;
        if (last(c) && underAll(c)) found.push(c);
        walk(c);
      }
    };
    walk(this);
    return found;
  }
}

/** A <select>: its value is the selected option's; a new list selects its first option. */
export class FakeSelect extends FakeElement {
  #selected = null;

  get options() {
    return this.children.filter((c) => c.tagName === "OPTION");
  }

  get value() {
    return this.#selected?.value ?? "";
  }

  set value(v) {
    if (!(#selected in this)) return; // the base constructor's default
    this.#selected = this.options.find((o) => o.value === String(v)) ?? null;
  }

  childrenChanged() {
    if (!this.options.includes(this.#selected)) this.#selected = this.options[0] ?? null;
  }
}

/** Elements by name, each made with `tag` ("select", "input", ...) and its id. */
export function fakeElements(spec, doc = new FakeDocument()) {
  const el = {};
  for (const [name, selector] of Object.entries(spec)) {
    const [tag, id] = selector.split("#");
    el[name] = doc.createElement(tag);
    el[name].id = id;
  }
  return el;
}

/**
 * BroadcastChannel for tabs of one browser: each call makes a browser of its own, whose
 * channels of one name hear each other's messages (never their own), as a browser does.
 */
export function fakeBroadcast() {
  const members = new Set();
  return class FakeBroadcastChannel {
    constructor(name) {
      this.name = name;
      this.onmessage = null;
      members.add(this);
    }

    postMessage(data) {
      for (const m of members) {
        if (m !== this && m.name === this.name) queueMicrotask(() => m.onmessage?.({ data: structuredClone(data) }));
      }
    }

    close() {
      members.delete(this);
    }
  };
}

/** sessionStorage's methods over a Map (one per tab; kept across a "reload"). */
export function fakeStorage() {
  const data = new Map();
  return {
    getItem: (k) => data.get(k) ?? null,
    setItem: (k, v) => data.set(k, String(v)),
    removeItem: (k) => data.delete(k),
  };
}
