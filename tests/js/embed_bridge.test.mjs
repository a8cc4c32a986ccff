import { test } from "node:test";
import assert from "node:assert/strict";

import { createApi } from "../../static/js/api.js";
import { EmbedBridge, RENEW_RETRY_MS, TOKEN_REFUSED_TEXT, connectBridge, keepTokenFresh } from "../../static/js/embed_bridge.js";
import { Relay } from "../../static/js/relay.js";
import { FakeWebSocket, fakeClock, flush } from "./fakes.mjs";
import { apiError, buildPage, settle, startSession } from "./page.mjs";

const HOST = "https://shop.test";
const TOKEN = "emb.visitor-token";

/** A framed window: its parent records what is posted to it; the test sends messages. */
function framedWindow() {
  const listeners = [];
  const posted = [];
  const parent = { postMessage: (msg, origin) => posted.push({ msg: structuredClone(msg), origin }) };
  const win = {
    parent,
    addEventListener: (type, fn) => type === "message" && listeners.push(fn),
    /** A message event as the browser makes it: `data` from window `source` at `origin`. */
    deliver: (data, { source = parent, origin = HOST } = {}) => listeners.forEach((fn) => fn({ data, source, origin })),
  };
  return { win, parent, posted };
}

function bridgeOn({ hostMay = { start: true, end: true, say: true } } = {}) {
  const { win, parent, posted } = framedWindow();
  const done = [];
  const commands = {
    start: (preset) => done.push(["start", preset]),
    end: () => done.push(["end"]),
    say: (text) => done.push(["say", text]) && true,
  };
  const bridge = new EmbedBridge({ win, hostOrigin: HOST, hostMay, commands }).wire();
  return { bridge, win, parent, posted, done };
}

const command = (type, extra = {}) => ({ source: "avatarsite-host", type, ...extra });

test("events go to the host page's origin only, never to any origin", () => {
  const { bridge, posted } = bridgeOn();
  bridge.post("ready", { presets: [{ slug: "ada", name: "Ada" }] });
  assert.deepEqual(posted, [{ msg: { presets: [{ slug: "ada", name: "Ada" }], source: "avatarsite", type: "ready" }, origin: HOST }]);
});

test("an event cannot pass itself off as another source or type", () => {
  const { bridge, posted } = bridgeOn();
  bridge.post("transcript", { source: "evil", type: "forged", text: "hi" });
  assert.equal(posted[0].msg.source, "avatarsite");
  assert.equal(posted[0].msg.type, "transcript");
});

test("a page opened top-level (no parent) posts nothing", () => {
  const win = { addEventListener() {} };
  win.parent = win;
  const bridge = new EmbedBridge({ win, hostOrigin: HOST, commands: {} });
  bridge.post("ready", {}); // would throw if it posted: win.postMessage does not exist
});

test("a command from another origin, or from another window at the host's origin, is ignored", () => {
  const { win, posted, done } = bridgeOn();
  win.deliver(command("end"), { origin: "https://evil.test" });
  win.deliver(command("end"), { origin: "http://shop.test" });
  win.deliver(command("end"), { source: { postMessage() {} } }); // another frame of the host's page
  win.deliver(command("end"), { source: null });
  assert.deepEqual(done, []);
  assert.deepEqual(posted, [], "nothing is answered either");
});

test("only the host's own messages with a known command count", () => {
  const { win, done, posted } = bridgeOn();
  win.deliver({ type: "end" }); // not marked as the host's
  win.deliver({ source: "avatarsite", type: "end" }); // our own event echoed back
  win.deliver(command("reload"));
  win.deliver("end");
  win.deliver(null);
  assert.deepEqual(done, []);
  assert.deepEqual(posted, []);
});

test("the host page's commands are carried out from the parent at the host's origin", () => {
  const { win, done } = bridgeOn();
  win.deliver(command("start", { preset: "cleo" }));
  win.deliver(command("say", { text: "Hello" }));
  win.deliver(command("end"));
  win.deliver(command("start", { preset: { not: "a slug" } }));
  assert.deepEqual(done, [["start", "cleo"], ["say", "Hello"], ["end"], ["start", ""]]);
});

test("a command the key does not allow is refused, and says so", () => {
  const { win, done, posted } = bridgeOn({ hostMay: { start: true, end: false, say: false } });
  win.deliver(command("end"));
  win.deliver(command("say", { text: "Buy now" }));
  assert.deepEqual(done, []);
  assert.deepEqual(
    posted.map((p) => [p.msg.type, p.msg.command, p.origin]),
    [
      ["refused", "end", HOST],
      ["refused", "say", HOST],
    ],
  );
});

// --- The bridge on the page ---------------------------------------------------------------

/** The page as embed_page.js builds it (its api with a token), framed by HOST. */
function embeddedPage(extra = {}) {
  const config = { csrfToken: undefined, hostOrigin: HOST, hostMay: { start: true, end: true, say: true }, ...extra };
  const p = buildPage({ config });
  p.api.bearer = TOKEN;
  p.api.leaveWithBearer = (id) => p.api.calls.push(["leaveWithBearer", id]);
  const framed = framedWindow();
  p.win.parent = framed.parent;
  p.win.addEventListener = ((original) => (type, fn) => {
    if (type === "message") framed.win.addEventListener(type, fn);
    else original.call(p.win, type, fn);
  })(p.win.addEventListener);
  connectBridge({ win: p.win, config, page: p });
  return { p, ...framed };
}

const types = (posted) => posted.map((x) => x.msg.type);

test("the page tells its host it is ready, with the key's avatars, the asked one chosen", async () => {
  const { p, posted } = embeddedPage({ preset: "cleo" });
  await p.open();
  await settle(p);
  assert.deepEqual(posted[0].msg, {
    source: "avatarsite",
    type: "ready",
    presets: [
      { slug: "ada", name: "Ada" },
      { slug: "cleo", name: "Cleo" },
      { slug: "lex", name: "Lex" },
    ],
  });
  assert.equal(p.setup.selectedPreset().slug, "cleo");
});

test("start, lines, say and end from the host page, each told back; never a token", async () => {
  const { p, win, posted } = embeddedPage();
  await p.open();
  await settle(p);
  win.deliver(command("start", { preset: "cleo" }));
  await settle(p);
  p.ws.serverOpen();
  p.ws.serverSend({ type: "session", status: "active" });
  await settle(p);
  assert.equal(p.api.called("createSession")[0][1].preset, "cleo");
  const started = posted.find((x) => x.msg.type === "session-started").msg;
  assert.deepEqual(started.session, { id: p.live.id, preset: "cleo" });

  // The host types for the visitor: through the chat box's own send.
  win.deliver(command("say", { text: "Where is my order?" }));
  assert.deepEqual(p.sent.filter((f) => f.type === "chat"), [{ type: "chat", text: "Where is my order?" }]);

  // One event per line, when it ends: the user's at once, the avatar's when its last piece comes.
  p.ws.serverSend({ type: "transcript", role: "user", mid: "u1", text: "Where is my order?", final: true });
  p.ws.serverSend({ type: "transcript", role: "avatar", mid: "a1", text: "It is ", final: false });
  p.ws.serverSend({ type: "transcript", role: "avatar", mid: "a1", text: "on its way.", final: true });
  // A reconnect's replay is no news.
  p.ws.serverSend({ type: "transcript", role: "user", mid: "u1", text: "Where is my order?", final: true, replay: true });
  const lines = posted.filter((x) => x.msg.type === "transcript").map((x) => x.msg);
  assert.deepEqual(lines, [
    { source: "avatarsite", type: "transcript", role: "user", text: "Where is my order?", final: true },
    { source: "avatarsite", type: "transcript", role: "avatar", text: "It is on its way.", final: true },
  ]);

  win.deliver(command("end"));
  await settle(p);
  assert.equal(p.api.called("closeSession").length, 1);
  const ended = posted.find((x) => x.msg.type === "session-ended").msg;
  assert.equal(ended.reason, "user");
  assert.match(ended.words, /ended/i);
  assert.deepEqual(types(posted), ["ready", "session-started", "transcript", "transcript", "session-ended"]);
  assert.ok(posted.every((x) => x.origin === HOST));
  assert.ok(!JSON.stringify(posted).includes("emb."), "no token in any event");
  assert.ok(!JSON.stringify(posted).includes('"rtc"'), "no media credentials in any event");
});

test("say with no session running is refused", async () => {
  const { p, win, posted } = embeddedPage();
  await p.open();
  win.deliver(command("say", { text: "Hello?" }));
  assert.deepEqual(types(posted), ["ready", "refused"]);
  assert.equal(p.el.chatInput.value, "");
});

test("the embed page says goodbye with its token, not a beacon", async () => {
  const { p } = embeddedPage();
  await startSession(p, { slug: "ada" });
  p.sessions.pageHidden();
  assert.deepEqual(p.api.called("leaveWithBearer"), [["leaveWithBearer", p.live.id]]);
  assert.deepEqual(p.beacons, []);
});

// --- The token: API calls, the socket, the goodbye, the renewal --------------------------

function recordingFetch(status = 200, body = { ok: true }) {
  const calls = [];
  const fetchImpl = async (url, init) => {
    calls.push({ url, init });
    return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
  };
  return { calls, fetchImpl };
}

test("with a token every call sends it as Bearer, no CSRF header and no cookie", async () => {
  const { calls, fetchImpl } = recordingFetch();
  const api = createApi({ base: "/api/v1", bearer: TOKEN, fetchImpl });
  await api.presets();
  await api.closeSession("s1");
  for (const { init } of calls) {
    assert.equal(init.headers.Authorization, `Bearer ${TOKEN}`);
    assert.equal(init.headers["X-CSRFToken"], undefined);
    assert.equal(init.credentials, "omit");
  }
  api.setBearer("emb.renewed");
  await api.presets();
  assert.equal(calls.at(-1).init.headers.Authorization, "Bearer emb.renewed");
  assert.deepEqual(api.socketProtocols(), ["avatarsite.embed", "emb.renewed"]);
});

test("the site's own pages keep the cookie and have no bearer", () => {
  const api = createApi({ base: "/api/v1", csrfToken: "c", fetchImpl: recordingFetch().fetchImpl });
  assert.equal(api.bearer, null);
});

test("the goodbye is a keepalive POST carrying the token", async () => {
  const { calls, fetchImpl } = recordingFetch(202);
  const api = createApi({ base: "/api/v1", bearer: TOKEN, fetchImpl });
  await api.leaveWithBearer("s1");
  assert.equal(calls[0].url, "/api/v1/sessions/s1/leave");
  assert.deepEqual(
    { method: calls[0].init.method, keepalive: calls[0].init.keepalive, credentials: calls[0].init.credentials },
    { method: "POST", keepalive: true, credentials: "omit" },
  );
  assert.equal(calls[0].init.headers.Authorization, `Bearer ${TOKEN}`);
});

test("each socket offers the token current when it opens", async () => {
  FakeWebSocket.reset();
  let token = "emb.first";
  const clock = fakeClock();
  const relay = new Relay({
    url: "ws://test/ws/sessions/s1/",
    WebSocketImpl: FakeWebSocket,
    protocols: () => ["avatarsite.embed", token],
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
  });
  relay.connect();
  assert.deepEqual(FakeWebSocket.last.protocols, ["avatarsite.embed", "emb.first"]);
  FakeWebSocket.last.serverOpen();
  token = "emb.second";
  FakeWebSocket.last.serverClose(1006);
  await clock.advance(60000);
  assert.deepEqual(FakeWebSocket.last.protocols, ["avatarsite.embed", "emb.second"]);
  relay.close();
});

test("the token is renewed before it expires, again and again; a refusal is said", async () => {
  const clock = fakeClock();
  const answers = [{ token: "emb.2", expires_in: 100 }, new Error("offline"), { token: "emb.3", expires_in: 100 }, apiError(401, "no")];
  const api = {
    bearer: "emb.1",
    setBearer(t) {
      this.bearer = t;
    },
    async renewBearer() {
      const a = answers.shift();
      if (a instanceof Error) throw a;
      return a;
    },
  };
  const errors = [];
  keepTokenFresh({ api, maxAgeSeconds: 3600, notices: { showError: (text) => errors.push(text) }, clock });
  await clock.advance(2699 * 1000);
  assert.equal(api.bearer, "emb.1");
  await clock.advance(1000); // 3/4 of an hour
  assert.equal(api.bearer, "emb.2");
  await clock.advance(75 * 1000); // 3/4 of the new one's 100 s: fails, tried again
  assert.equal(api.bearer, "emb.2");
  await clock.advance(RENEW_RETRY_MS);
  assert.equal(api.bearer, "emb.3");
  await clock.advance(75 * 1000);
  await flush();
  assert.deepEqual(errors, [TOKEN_REFUSED_TEXT]);
});

test("start with an avatar the key does not offer is refused, not another avatar started", async () => {
  const { p, win, posted } = embeddedPage();
  await p.open();
  await settle(p);
  win.deliver(command("start", { preset: "not-offered" }));
  await settle(p);
  assert.deepEqual(p.api.called("createSession"), []);
  assert.deepEqual(
    posted.map((x) => [x.msg.type, x.msg.command]),
    [
      ["ready", undefined],
      ["refused", "start"],
    ],
  );
});
