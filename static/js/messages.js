// Pure message handling: what the session websocket says to the page, what the avatar
// says over the data stream, and how payload bytes become text. No DOM, no I/O: node's
// test runner imports this module as it is.

import { t } from "./i18n.js";

const utf8 = new TextDecoder("utf-8");

/**
 * A stream message payload as text. Agora hands `stream-message` a Uint8Array (as a
 * string it reads "123,34,...", its bytes, not its text); a websocket may hand an
 * ArrayBuffer.
 */
export function decodePayload(payload) {
  if (typeof payload === "string") return payload;
  if (payload instanceof ArrayBuffer) return utf8.decode(new Uint8Array(payload));
  if (ArrayBuffer.isView(payload)) {
    return utf8.decode(new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength));
  }
  throw new TypeError(`cannot decode a stream payload of type ${Object.prototype.toString.call(payload)}`);
}

function parseObject(raw) {
  let obj;
  try {
    obj = JSON.parse(typeof raw === "string" ? raw : decodePayload(raw));
  } catch {
    return null;
  }
  return obj !== null && typeof obj === "object" && !Array.isArray(obj) ? obj : null;
}

const isStr = (v) => typeof v === "string";
const isPlainObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const isInt = (v) => Number.isInteger(v);

// ---------------------------------------------------------------------------------------
// Session websocket: server -> page

/**
 * Parse and check one frame from the session websocket. Returns a normalised message
 * (`type` plus its fields) or null for anything malformed, so a bad frame is dropped
 * instead of breaking the page.
 */
export function parseServerMessage(raw) {
  const m = parseObject(raw);
  if (!m || !isStr(m.type)) return null;
  switch (m.type) {
    case "rtc_send":
      return isStr(m.frame) ? { type: "rtc_send", frame: m.frame } : null;
    case "transcript":
      if ((m.role !== "user" && m.role !== "avatar") || !isStr(m.mid) || !m.mid) return null;
      return {
        type: "transcript",
        role: m.role,
        mid: m.mid,
        text: isStr(m.text) ? m.text : "",
        final: m.final === true,
        cut: m.cut === true,
        replay: m.replay === true,
        // Of an answer cut short: what went out but was never said.
        unspoken: isStr(m.unspoken) ? m.unspoken : "",
      };
    case "avatar":
      return { type: "avatar", speaking: m.speaking === true };
    case "command_result":
      return {
        type: "command_result",
        cmd: isStr(m.cmd) ? m.cmd : "command",
        ok: m.ok === true,
        code: isInt(m.code) ? m.code : null,
        message: isStr(m.message) ? m.message : "",
        // Replayed on every (re)connect: the last acknowledged commands, oldest first.
        replay: m.replay === true,
        // set-params: the confirmed settings in the API's names (voice, language, ...).
        params: isPlainObject(m.params) ? { ...m.params } : null,
      };
    case "session":
      if (!isStr(m.status)) return null;
      return {
        type: "session",
        status: m.status,
        expires_at: isStr(m.expires_at) ? m.expires_at : null,
        close_reason: isStr(m.close_reason) ? m.close_reason : null,
        error: isStr(m.error) ? m.error : null,
      };
    case "error":
      return {
        type: "error",
        code: isStr(m.code) ? m.code : "error",
        message: isStr(m.message) ? m.message : t("Something went wrong."),
        retry_after: Number.isFinite(m.retry_after) ? m.retry_after : null,
      };
    default:
      return { ...m };
  }
}

/**
 * Call `handlers[msg.type](msg)`; `handlers.unknown` (if any) gets the types that have
 * no handler. Returns whether a handler ran.
 */
export function routeServerMessage(msg, handlers) {
  if (!msg) return false;
  const fn = Object.hasOwn(handlers, msg.type) ? handlers[msg.type] : handlers.unknown;
  if (typeof fn !== "function") return false;
  fn(msg);
  return true;
}

// ---------------------------------------------------------------------------------------
// Data stream: avatar <-> page (the same shape both ways: {v: 2, type, mid, idx?, fin?, pld})

/**
 * Parse one stream message (text or bytes). Null for anything that is not a valid v2
 * message. `idx`/`fin` are read at top level, or inside `pld` where some senders put them.
 *  - chat:    {type, mid, from: "bot"|"user"|null, text, idx, fin}
 *  - command: {type, mid, cmd, data, code, msg, ok}  (ok only means something on acks)
 *  - event:   {type, event, data}
 */
export function parseStreamMessage(raw) {
  const m = parseObject(raw);
  if (!m || m.v !== 2) return null;
  const pld = m.pld;
  if (!pld || typeof pld !== "object" || Array.isArray(pld)) return null;
  const mid = isStr(m.mid) ? m.mid : null;
  const pick = (key) => (Object.hasOwn(m, key) ? m[key] : pld[key]);
  if (m.type === "chat") {
    if (!isStr(pld.text)) return null;
    const idx = pick("idx");
    const fin = pick("fin");
    return {
      type: "chat",
      mid,
      from: pld.from === "bot" || pld.from === "user" ? pld.from : null,
      text: pld.text,
      idx: isInt(idx) && idx >= 0 ? idx : null,
      fin: typeof fin === "boolean" ? fin : null,
    };
  }
  if (m.type === "command") {
    if (!isStr(pld.cmd) || !pld.cmd) return null;
    const code = isInt(pld.code) ? pld.code : null;
    return {
      type: "command",
      mid,
      cmd: pld.cmd,
      data: pld.data && typeof pld.data === "object" ? pld.data : {},
      code,
      msg: isStr(pld.msg) ? pld.msg : "",
      ok: code === 1000,
    };
  }
  if (m.type === "event") {
    if (!isStr(pld.event) || !pld.event) return null;
    const { event, ...data } = pld;
    return { type: "event", event, data };
  }
  return null;
}

// ---------------------------------------------------------------------------------------
// Small helpers

/** The websocket URL for a server path, on the page's own host and scheme. */
export function wsUrl(path, loc) {
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${loc.host}${path}`;
}

/** The sandbox transport's URL for a session's rtc credentials. */
export function sandboxUrl(rtc, loc) {
  return wsUrl(`/ws/sandbox/${encodeURIComponent(rtc.channel)}/?token=${encodeURIComponent(rtc.token)}`, loc);
}

/** Bytes of UTF-8 a text occupies (what Agora's limits count). */
export function utf8Length(text) {
  return new TextEncoder().encode(text).length;
}
