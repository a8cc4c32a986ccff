import { test } from "node:test";
import assert from "node:assert/strict";

import {
  decodePayload,
  parseServerMessage,
  parseStreamMessage,
  routeServerMessage,
  sandboxUrl,
  utf8Length,
  wsUrl,
} from "../../static/js/messages.js";

test("decodePayload turns Agora's Uint8Array into text, multibyte characters included", () => {
  const text = '{"v":2,"type":"chat","pld":{"text":"héllo 世界 🙂"}}';
  const bytes = new TextEncoder().encode(text);
  assert.equal(decodePayload(bytes), text);
  assert.equal(JSON.parse(decodePayload(bytes)).pld.text, "héllo 世界 🙂");
});

test("decodePayload respects a view's offset and length", () => {
  const whole = new TextEncoder().encode("xx{\"a\":1}yy");
  const view = whole.subarray(2, whole.length - 2);
  assert.equal(decodePayload(view), '{"a":1}');
  assert.equal(decodePayload(new DataView(whole.buffer, 2, 7)), '{"a":1}');
});

test("decodePayload accepts an ArrayBuffer and passes strings through", () => {
  assert.equal(decodePayload(new TextEncoder().encode("ok").buffer), "ok");
  assert.equal(decodePayload("plain"), "plain");
});

test("decodePayload refuses what is not bytes or text", () => {
  assert.throws(() => decodePayload(42), TypeError);
  assert.throws(() => decodePayload({}), TypeError);
});

test("parseServerMessage checks each server message type", () => {
  assert.deepEqual(parseServerMessage('{"type":"rtc_send","frame":"{}"}'), { type: "rtc_send", frame: "{}" });
  assert.equal(parseServerMessage('{"type":"rtc_send"}'), null);
  assert.deepEqual(parseServerMessage('{"type":"transcript","role":"avatar","mid":"m1","text":"Hi","final":false}'), {
    type: "transcript",
    role: "avatar",
    mid: "m1",
    text: "Hi",
    final: false,
    cut: false,
    replay: false,
    unspoken: "",
  });
  assert.deepEqual(
    parseServerMessage('{"type":"transcript","role":"avatar","mid":"m1","text":"Hi","final":true,"cut":true,"replay":true}'),
    { type: "transcript", role: "avatar", mid: "m1", text: "Hi", final: true, cut: true, replay: true, unspoken: "" },
  );
  // An answer cut short: the rest that was never said, kept apart (text only).
  assert.equal(
    parseServerMessage('{"type":"transcript","role":"avatar","mid":"m1","text":"Hi.","final":true,"cut":true,"unspoken":"Bye."}').unspoken,
    "Bye.",
  );
  assert.equal(
    parseServerMessage('{"type":"transcript","role":"avatar","mid":"m1","text":"Hi.","final":true,"unspoken":5}').unspoken,
    "",
  );
  assert.equal(parseServerMessage('{"type":"transcript","role":"robot","mid":"m1","text":"x"}'), null);
  assert.equal(parseServerMessage('{"type":"transcript","role":"user","text":"x"}'), null);
  assert.deepEqual(parseServerMessage('{"type":"avatar","speaking":true}'), { type: "avatar", speaking: true });
  assert.deepEqual(
    parseServerMessage('{"type":"command_result","cmd":"set-params","ok":false,"code":1002,"message":"bad voice"}'),
    { type: "command_result", cmd: "set-params", ok: false, code: 1002, message: "bad voice", replay: false, params: null },
  );
  assert.deepEqual(
    parseServerMessage(
      '{"type":"command_result","cmd":"set-params","ok":true,"code":1000,"message":"ok","replay":true,' +
        '"params":{"voice":"lyon","language":"fr","mode":1,"background_url":"https://x.test/b.png"}}',
    ),
    {
      type: "command_result",
      cmd: "set-params",
      ok: true,
      code: 1000,
      message: "ok",
      replay: true,
      params: { voice: "lyon", language: "fr", mode: 1, background_url: "https://x.test/b.png" },
    },
  );
  assert.equal(parseServerMessage('{"type":"command_result","cmd":"x","ok":true,"params":[1]}').params, null);
  assert.deepEqual(parseServerMessage('{"type":"session","status":"closed","expires_at":null,"close_reason":"expired"}'), {
    type: "session",
    status: "closed",
    expires_at: null,
    close_reason: "expired",
    error: null,
  });
  assert.deepEqual(parseServerMessage('{"type":"error","code":"rate_limited","message":"Slow down."}'), {
    type: "error",
    code: "rate_limited",
    message: "Slow down.",
    retry_after: null,
  });
  assert.deepEqual(parseServerMessage('{"type":"error","code":"session_expired","message":"Time is up."}'), {
    type: "error",
    code: "session_expired",
    message: "Time is up.",
    retry_after: null,
  });
});

test("parseServerMessage drops malformed frames instead of throwing", () => {
  for (const raw of ["", "not json", "[]", "null", "42", '{"no":"type"}', '{"type":7}']) {
    assert.equal(parseServerMessage(raw), null, raw);
  }
});

test("routeServerMessage dispatches on type, with a fallback for unknown types", () => {
  const seen = [];
  const handlers = {
    transcript: (m) => seen.push(["transcript", m.mid]),
    error: (m) => seen.push(["error", m.code]),
    unknown: (m) => seen.push(["unknown", m.type]),
  };
  assert.equal(routeServerMessage(parseServerMessage('{"type":"transcript","role":"user","mid":"a","text":"x","final":true}'), handlers), true);
  routeServerMessage(parseServerMessage('{"type":"error","code":"c","message":"m"}'), handlers);
  routeServerMessage(parseServerMessage('{"type":"future_thing","x":1}'), handlers);
  assert.equal(routeServerMessage(null, handlers), false);
  assert.equal(routeServerMessage({ type: "avatar", speaking: true }, {}), false);
  // An inherited property name is not a handler.
  assert.equal(routeServerMessage({ type: "toString" }, {}), false);
  assert.deepEqual(seen, [
    ["transcript", "a"],
    ["error", "c"],
    ["unknown", "future_thing"],
  ]);
});

test("parseStreamMessage reads bot chat with idx/fin at top level or inside pld", () => {
  const top = parseStreamMessage('{"v":2,"type":"chat","mid":"m","idx":3,"fin":false,"pld":{"from":"bot","text":"Hel"}}');
  assert.deepEqual(top, { type: "chat", mid: "m", from: "bot", text: "Hel", idx: 3, fin: false });
  const inside = parseStreamMessage('{"v":2,"type":"chat","mid":"m","pld":{"from":"bot","text":"lo","idx":4,"fin":true}}');
  assert.equal(inside.idx, 4);
  assert.equal(inside.fin, true);
  const bare = parseStreamMessage('{"v":2,"type":"chat","mid":"u","pld":{"from":"user","text":"hi"}}');
  assert.equal(bare.from, "user");
  assert.equal(bare.idx, null);
  assert.equal(bare.fin, null);
});

test("parseStreamMessage reads bytes too", () => {
  const bytes = new TextEncoder().encode('{"v":2,"type":"event","pld":{"event":"audio_start"}}');
  assert.deepEqual(parseStreamMessage(bytes), { type: "event", event: "audio_start", data: {} });
});

test("parseStreamMessage reads command acks and events", () => {
  const ok = parseStreamMessage('{"v":2,"type":"command","mid":"c1","pld":{"cmd":"set-params","code":1000,"msg":"ok"}}');
  assert.equal(ok.ok, true);
  assert.equal(ok.cmd, "set-params");
  const bad = parseStreamMessage('{"v":2,"type":"command","mid":"c2","pld":{"cmd":"interrupt","code":1001,"msg":"nope"}}');
  assert.equal(bad.ok, false);
  assert.equal(bad.msg, "nope");
  const ev = parseStreamMessage('{"v":2,"type":"event","pld":{"event":"sandbox_violation","reason":"rate_exceeded"}}');
  assert.deepEqual(ev, { type: "event", event: "sandbox_violation", data: { reason: "rate_exceeded" } });
});

test("parseStreamMessage ignores other versions and malformed messages", () => {
  for (const raw of [
    '{"v":1,"type":"chat","pld":{"text":"x"}}',
    '{"type":"chat","pld":{"text":"x"}}',
    '{"v":2,"type":"chat","pld":{"text":5}}',
    '{"v":2,"type":"chat"}',
    '{"v":2,"type":"command","pld":{}}',
    '{"v":2,"type":"event","pld":{"event":""}}',
    '{"v":2,"type":"other","pld":{}}',
    "{broken",
  ]) {
    assert.equal(parseStreamMessage(raw), null, raw);
  }
});

test("wsUrl and sandboxUrl follow the page's scheme and encode the token", () => {
  assert.equal(wsUrl("/ws/sessions/1/", { protocol: "http:", host: "127.0.0.1:8000" }), "ws://127.0.0.1:8000/ws/sessions/1/");
  assert.equal(wsUrl("/ws/sessions/1/", { protocol: "https:", host: "example.org" }), "wss://example.org/ws/sessions/1/");
  assert.equal(
    sandboxUrl({ channel: "ch-1", token: "a+b/c=d&e" }, { protocol: "http:", host: "h" }),
    "ws://h/ws/sandbox/ch-1/?token=a%2Bb%2Fc%3Dd%26e",
  );
});

test("utf8Length counts bytes, not characters", () => {
  assert.equal(utf8Length("abc"), 3);
  assert.equal(utf8Length("é"), 2);
  assert.equal(utf8Length("🙂"), 4);
});
