// The launcher (static/embed/embed.js) is a classic script for other people's pages: these
// tests run it in a vm with a tiny fake DOM and check what needs no real browser: the
// iframe's URL, the colour check, which messages count, the commands' way to our frame,
// and the one-line form. The real thing, cross-site in Chromium, is
// tests/browser/test_embed_cross_site.py.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import vm from "node:vm";

const SOURCE = readFileSync(new URL("../../static/embed/embed.js", import.meta.url), "utf8");
const OURS = "https://avatars.example";
const HOST = "https://shop.example";

class FakeNode {
  constructor(tag = "div") {
    this.tag = tag;
    this.attrs = {};
    this.hidden = false;
    this.className = "";
    this.textContent = "";
    this.listeners = {};
    this.children = [];
    this.nodes = {};
    this.style = { props: {}, setProperty: (k, v) => (this.style.props[k] = v) };
    this.focused = 0;
  }
  setAttribute(k, v) {
    this.attrs[k] = String(v);
  }
  getAttribute(k) {
    return k in this.attrs ? this.attrs[k] : null;
  }
  addEventListener(type, fn) {
    (this.listeners[type] ??= []).push(fn);
  }
  querySelector(sel) {
    return (this.nodes[sel] ??= new FakeNode());
  }
  appendChild(child) {
    this.children.push(child);
    child.parent = this;
    return child;
  }
  remove() {
    if (this.parent) this.parent.children = this.parent.children.filter((c) => c !== this);
    this.removed = true;
  }
  focus() {
    this.focused += 1;
  }
  click() {
    for (const fn of this.listeners.click ?? []) fn({});
  }
}

class FakeShadow extends FakeNode {
  set innerHTML(html) {
    this.html = html;
    this.querySelector(".panel").hidden = /class="panel"[^>]* hidden/.test(html);
  }
}

// Runs embed.js as a page would: `script` is the fake <script> tag it runs from.
function load({ src = `${OURS}/embed.js`, dataset = {}, body = new FakeNode("body"), defined } = {}) {
  const registry = new Map(defined ? [["avatar-embed", defined]] : []);
  const win = { listeners: {} };
  const doc = {
    currentScript: { src, dataset },
    body,
    listeners: {},
    createElement: (tag) => {
      if (tag === "iframe") {
        const frame = new FakeNode("iframe");
        frame.contentWindow = { posted: [], postMessage: (m, o) => frame.contentWindow.posted.push([m, o]) };
        return frame;
      }
      return new FakeNode(tag);
    },
    addEventListener: (type, fn) => ((doc.listeners[type] ??= []).push(fn)),
  };
  // The host's cookies and storage are not ours: touching them fails the test.
  for (const name of ["cookie"]) {
    Object.defineProperty(doc, name, { get: () => assert.fail(`read document.${name}`), set: () => assert.fail(`wrote document.${name}`) });
  }
  class HTMLElement extends FakeNode {
    attachShadow(options) {
      this.shadowMode = options.mode;
      const root = new FakeShadow();
      root.host = this;
      return root;
    }
    dispatchEvent(event) {
      (this.events ??= []).push(event);
    }
  }
  const context = {
    customElements: { get: (n) => registry.get(n), define: (n, c) => registry.set(n, c) },
    HTMLElement,
    CustomEvent: class {
      constructor(type, init) {
        this.type = type;
        Object.assign(this, init);
      }
    },
    document: doc,
    location: { origin: HOST },
    URL,
    setTimeout,
    clearTimeout,
    window: {
      addEventListener: (type, fn) => ((win.listeners[type] ??= []).push(fn)),
      removeEventListener: (type, fn) => (win.listeners[type] = (win.listeners[type] ?? []).filter((f) => f !== fn)),
    },
  };
  for (const name of ["localStorage", "sessionStorage", "indexedDB"]) {
    Object.defineProperty(context, name, { get: () => assert.fail(`touched ${name}`) });
  }
  vm.runInNewContext(SOURCE, context);
  return { Embed: registry.get("avatar-embed"), doc, win, body };
}

// Objects made inside the vm have the vm's prototypes: compare their plain shape.
const plain = (value) => JSON.parse(JSON.stringify(value));

function element(Embed, attrs = {}) {
  const el = new Embed();
  Object.entries(attrs).forEach(([k, v]) => el.setAttribute(k, v));
  el.connectedCallback();
  return el;
}

function fromFrame(win, frame, data, origin = OURS) {
  for (const fn of win.listeners.message ?? []) fn({ source: frame.contentWindow, origin, data });
}

test("our origin is where the script came from, whatever page loads it", () => {
  assert.equal(load({ src: `${OURS}/embed.js?v=2` }).Embed.origin, OURS);
  assert.equal(load({ src: "http://avatars.test:8123/embed.js" }).Embed.origin, "http://avatars.test:8123");
});

test("the iframe's URL: our embed page for the key, the host's origin, the preset if asked", () => {
  const { Embed } = load();
  assert.equal(Embed.frameUrl(OURS, "ek_abc", HOST), `${OURS}/embed/ek_abc/?origin=https%3A%2F%2Fshop.example`);
  assert.equal(
    Embed.frameUrl(OURS, "ek_abc", "http://shop.test:8080", "ada"),
    `${OURS}/embed/ek_abc/?origin=http%3A%2F%2Fshop.test%3A8080&preset=ada`,
  );
  // A key cannot walk out of /embed/ nor add parameters of its own.
  const odd = new URL(Embed.frameUrl(OURS, "../api?x=1&origin=https://evil.example", HOST, "a&b"));
  assert.equal(odd.origin, OURS);
  assert.match(odd.pathname, /^\/embed\/[^/]+\/$/);
  assert.deepEqual([...odd.searchParams], [["origin", HOST], ["preset", "a&b"]]);
});

test("colour: only a #hex is taken, anything else is the default; text stays readable on it", () => {
  const { Embed } = load();
  const fallback = Embed.validColor(null);
  assert.match(fallback, /^#[0-9a-f]{6}$/i);
  for (const good of ["#abc", "#A1B2C3", " #123456 "]) assert.equal(Embed.validColor(good), good.trim());
  for (const bad of ["red", "#abcd", "#12345g", "#fff;background:url(x)", "", "rgb(0,0,0)", 12]) {
    assert.equal(Embed.validColor(bad), fallback, String(bad));
  }
  assert.equal(Embed.textOn("#2451b3"), "#ffffff");
  assert.equal(Embed.textOn("#000"), "#ffffff");
  assert.equal(Embed.textOn("#ffd400"), "#111111");
  assert.equal(Embed.textOn("#ffffff"), "#111111");
});

test("a message counts only from our frame's window, from our origin, in our shape", () => {
  const { Embed } = load();
  const frame = {};
  const good = { source: frame, origin: OURS, data: { source: "avatarsite", type: "ready", presets: [] } };
  assert.equal(Embed.accepts(good, frame, OURS), true);
  assert.equal(Embed.accepts({ ...good, origin: HOST }, frame, OURS), false);
  assert.equal(Embed.accepts({ ...good, source: {} }, frame, OURS), false);
  assert.equal(Embed.accepts(good, null, OURS), false); // no frame open
  assert.equal(Embed.accepts({ ...good, data: { ...good.data, source: "other" } }, frame, OURS), false);
  assert.equal(Embed.accepts({ ...good, data: { source: "avatarsite", type: "token" } }, frame, OURS), false);
  assert.equal(Embed.accepts({ ...good, data: "avatarsite" }, frame, OURS), false);
  assert.equal(Embed.accepts({ ...good, data: null }, frame, OURS), false);
});

test("the one-line form adds one <avatar-embed> with the tag's data-* values", () => {
  const { body } = load({ dataset: { key: "ek_abc", preset: "ada", color: "#123456", label: "Ask us", position: "left", closeLabel: "Shut" } });
  assert.equal(body.children.length, 1);
  const el = body.children[0];
  assert.equal(el.tag, "avatar-embed");
  assert.deepEqual(el.attrs, { key: "ek_abc", preset: "ada", color: "#123456", label: "Ask us", position: "left", "close-label": "Shut" });
  // Without data-key, the page places the element itself.
  assert.equal(load({ dataset: {} }).body.children.length, 0);
});

test("in the <head>, the one-line form waits for the body", () => {
  const { doc } = load({ dataset: { key: "ek_abc" }, body: null });
  const body = new FakeNode("body");
  doc.body = body;
  doc.listeners.DOMContentLoaded.forEach((fn) => fn());
  assert.equal(body.children[0].attrs.key, "ek_abc");
});

test("loaded twice, the script defines the element once and adds no second launcher", () => {
  const first = load();
  const again = load({ dataset: { key: "ek_abc" }, defined: first.Embed });
  assert.equal(again.Embed, first.Embed);
  assert.equal(again.body.children.length, 0);
});

test("the element: closed shadow, a named launcher, the frame made on open with the host's origin", () => {
  const { Embed } = load();
  const el = element(Embed, { key: "ek_abc", preset: "ada", label: "Ask Ada", color: "javascript:x" });
  assert.equal(el.shadowMode, "closed");
  const launcher = el._launcher;
  assert.equal(launcher.querySelector("span").textContent, "Ask Ada");
  assert.equal(el.style.props["--c"], Embed.validColor(null));
  assert.equal(el._panel.hidden, true);
  assert.equal(el._frame, null); // nothing loads from us until the visitor asks
  launcher.click();
  assert.equal(el._panel.hidden, false);
  assert.equal(launcher.attrs["aria-expanded"], "true");
  assert.equal(el._frame.src, `${OURS}/embed/ek_abc/?origin=https%3A%2F%2Fshop.example&preset=ada`);
  assert.equal(el._frame.allow, "microphone; camera; autoplay");
  assert.ok(el._frame.title);
  assert.equal(el._closeButton.focused, 1); // focus went into the panel
  // Escape in the panel closes it and gives focus back to the launcher.
  el._panel.listeners.keydown[0]({ key: "Escape", stopPropagation() {} });
  assert.equal(el._panel.hidden, true);
  assert.equal(launcher.attrs["aria-expanded"], "false");
  assert.equal(launcher.focused, 1);
});

test("commands wait for the frame's ready, then go to our origin only; events come back as DOM events", () => {
  const { Embed, win } = load();
  const el = element(Embed, { key: "ek_abc" });
  el.start("ada");
  const frame = el._frame;
  el.say("hello");
  assert.deepEqual(frame.contentWindow.posted, []); // not ready yet
  // A look-alike from another origin or window changes nothing.
  fromFrame(win, frame, { source: "avatarsite", type: "ready" }, HOST);
  for (const fn of win.listeners.message) fn({ source: {}, origin: OURS, data: { source: "avatarsite", type: "ready" } });
  assert.deepEqual(frame.contentWindow.posted, []);
  assert.equal(el.events, undefined);

  fromFrame(win, frame, { source: "avatarsite", type: "ready", presets: [["ada", "Ada"]] });
  assert.deepEqual(plain(frame.contentWindow.posted), [
    [{ type: "start", preset: "ada", source: "avatarsite-host" }, OURS],
    [{ type: "say", text: "hello", source: "avatarsite-host" }, OURS],
  ]);
  fromFrame(win, frame, { source: "avatarsite", type: "transcript", role: "avatar", text: "Hi", final: true });
  assert.deepEqual(
    el.events.map((e) => [e.type, e.detail.type, e.bubbles]),
    [["avatar-ready", "ready", true], ["avatar-transcript", "transcript", true]],
  );
});

test("closing during a session asks the page to end it, and drops the frame once it has", () => {
  const { Embed, win } = load();
  const el = element(Embed, { key: "ek_abc" });
  el.open();
  const frame = el._frame;
  fromFrame(win, frame, { source: "avatarsite", type: "ready" });
  fromFrame(win, frame, { source: "avatarsite", type: "session-started", session: { id: "s1" } });
  el.close();
  assert.deepEqual(plain(frame.contentWindow.posted.at(-1)), [{ type: "end", source: "avatarsite-host" }, OURS]);
  assert.equal(frame.removed, undefined); // still there to hear the page's answer
  fromFrame(win, frame, { source: "avatarsite", type: "session-ended", reason: "user" });
  assert.equal(frame.removed, true);
  assert.equal(el._frame, null);
  assert.deepEqual(el.events.map((e) => e.type).at(-1), "avatar-session-ended");
  // Closed with no session: the frame goes at once.
  el.open();
  const second = el._frame;
  el.close();
  assert.equal(second.removed, true);
  // Taken off the page: no listener left behind.
  el.disconnectedCallback();
  assert.equal(win.listeners.message.length, 0);
});

test("the script stays small and leaves the host's cookies and storage alone", () => {
  assert.ok(SOURCE.length < 16_000, `embed.js is ${SOURCE.length} characters`);
  for (const word of ["cookie", "localStorage", "sessionStorage", "indexedDB", 'postMessage(message, "*")', "import "]) {
    assert.ok(!SOURCE.replace(/\/\*[\s\S]*?\*\//, "").includes(word), word);
  }
});

test("with reduced motion asked for, the launcher and panel do not move", () => {
  const block = SOURCE.match(/@media \(prefers-reduced-motion:reduce\)\{(.*?)\}"\s*;/s);
  assert.ok(block, "no prefers-reduced-motion rules");
  const rules = block[1].replace(/"\s*\+\s*"/g, "");
  assert.match(rules, /\.launcher\{transition:none\}/);
  assert.match(rules, /\.panel\{animation:none\}/);
  assert.match(rules, /\.launcher:hover\{transform:none\}/);
});

test("say() with the panel closed (so no session) is refused, not dropped without a word", () => {
  const { Embed } = load();
  const el = element(Embed, { key: "ek_abc" });
  el.say("hello");
  el.end(); // nothing to end: nothing said
  assert.equal(el._frame, null); // no frame made for it
  assert.deepEqual(
    el.events.map((e) => [e.type, e.detail.command, e.bubbles]),
    [["avatar-refused", "say", true]],
  );
});
