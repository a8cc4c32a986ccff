// The JSON API client: same-origin fetch with the CSRF header on unsafe methods (or, on
// the embed page, its visitor token as a Bearer header and no cookies at all), and
// every failure turned into an ApiError carrying the server's code and message (errors
// are always {"error": {"code", "message"}}; a 429 carries Retry-After).

import { t } from "./i18n.js";

export class ApiError extends Error {
  constructor(message, { status = 0, code = "error", retryAfter = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter; // seconds, or null
  }
}

/** Retry-After as seconds: either a number of seconds or an HTTP date. */
export function parseRetryAfter(value, now = Date.now()) {
  if (value == null || value === "") return null;
  const text = String(value).trim();
  if (/^\d+$/.test(text)) return Number(text);
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - now) / 1000));
}

const FALLBACK = {
  400: t("The request was not accepted."),
  401: t("You are signed out. Reload the page and sign in again."),
  403: t("You are not allowed to do that. Reload the page and sign in again."),
  404: t("Not found."),
  409: t("That conflicts with the current state. Reload the page."),
  413: t("That is too large."),
  422: t("Some of the values were not accepted."),
  429: t("Too many requests."),
  502: t("The avatar service answered with an error."),
  503: t("The service is busy or down for a moment."),
  504: t("The avatar service did not answer in time."),
};

/** Build the ApiError for a non-2xx response (body already parsed, or null). */
export function errorFromResponse(status, body, retryAfterHeader, now = Date.now()) {
  const err = body && typeof body === "object" ? body.error : null;
  const code = typeof err?.code === "string" ? err.code : `http_${status}`;
  const message =
    typeof err?.message === "string" && err.message
      ? err.message
      : FALLBACK[status] ?? t("The server answered %(status)s.", { status });
  return new ApiError(message, { status, code, retryAfter: parseRetryAfter(retryAfterHeader, now) });
}

/** The subprotocol the embed page's socket offers beside its token (sessions/embed_tokens.py). */
export const EMBED_SOCKET_PROTOCOL = "avatarsite.embed";

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** Whether the browser itself says it is offline (then, and only then, blame the connection). */
export const browserOffline = () => globalThis.navigator?.onLine === false;

/**
 * @param {object} options
 * @param {string} options.base  "/api/v1"
 * @param {string} [options.csrfToken]  the cookie's CSRF token (the site's own pages)
 * @param {string} [options.bearer]  the embed page's visitor token instead: every call
 *   sends it as `Authorization: Bearer`, with no cookie (credentials "omit"); renewed
 *   with setBearer()
 */
export function createApi({
  base,
  csrfToken,
  bearer = null,
  fetchImpl = globalThis.fetch.bind(globalThis),
  timeoutMs = 30000,
  offline = browserOffline,
}) {
  async function request(method, path, { body, timeout = timeoutMs } = {}) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    else if (UNSAFE.has(method)) headers["X-CSRFToken"] = csrfToken;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeout);
    let response;
    try {
      response = await fetchImpl(base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: bearer ? "omit" : "same-origin",
        signal: controller.signal,
      });
    } catch (err) {
      if (controller.signal.aborted) {
        throw new ApiError(t("The server did not answer within %(seconds)s s. Try again.", { seconds: Math.round(timeout / 1000) }), {
          code: "timeout",
        });
      }
      // Our outage is not the user's fault: blame the connection only when the browser
      // itself says it is offline.
      throw new ApiError(
        offline()
          ? t("Your device is offline. Check your connection and try again.")
          : t("The server can't be reached right now. Try again in a moment."),
        { code: "network" },
      );
    } finally {
      clearTimeout(timer);
    }
    let data = null;
    const type = response.headers.get("Content-Type") ?? "";
    if (type.includes("json")) {
      try {
        data = await response.json();
      } catch {
        data = null;
      }
    }
    if (!response.ok) {
      throw errorFromResponse(response.status, data, response.headers.get("Retry-After"));
    }
    if (data === null && response.status !== 204) {
      // A redirect to the login page, or a proxy's HTML page.
      throw new ApiError(t("The server's answer was not understood. Reload the page and sign in again."), {
        status: response.status,
        code: "bad_response",
      });
    }
    return data;
  }

  const sessionPath = (id) => `/sessions/${encodeURIComponent(id)}`;
  const leaveUrl = (id) => `${base}${sessionPath(id)}/leave`;
  return {
    request,
    /** The embed page's visitor token (null on the site's own pages, which use the cookie). */
    get bearer() {
      return bearer;
    },
    setBearer(next) {
      bearer = next;
    },
    /** The session socket's subprotocols that carry the embed page's token (relay.js). */
    socketProtocols: () => [EMBED_SOCKET_PROTOCOL, bearer],
    /** The embed page's token for the same visitor, before this one expires. */
    renewBearer: () => request("POST", "/embed/token"),
    /**
     * The page goes away, told with its token: a beacon cannot send headers, a keepalive
     * fetch can (and outlives the page like a beacon). Never waited for.
     */
    leaveWithBearer: (id) =>
      fetchImpl(leaveUrl(id), {
        method: "POST",
        keepalive: true,
        credentials: "omit",
        headers: { Authorization: `Bearer ${bearer}` },
      }).catch(() => {}),
    presets: () => request("GET", "/presets"),
    createSession: (body) => request("POST", "/sessions", { body, timeout: Math.max(timeoutMs, 90000) }),
    activeSessions: () => request("GET", "/sessions?status=active"),
    session: (id) => request("GET", sessionPath(id)),
    /** End a session; `failure` (a short text) records that it failed on our side. */
    closeSession: (id, failure = null) =>
      request("POST", `${sessionPath(id)}/close`, {
        body: failure ? { reason: "error", detail: String(failure).slice(0, 300) } : {},
      }),
    /** Go on in a follow-on session (Extend): the new session, which waits for AKool.
     * `consent`: the recording notice is ticked (a preset that requires it asks again). */
    extendSession: (id, consent = false) =>
      request("POST", `${sessionPath(id)}/extend`, {
        body: consent ? { consent: true } : {},
        timeout: Math.max(timeoutMs, 90000),
      }),
    /** Its join failed: go on on another network (`network`, or the first it may use). */
    fallbackSession: (id, network = null) =>
      request("POST", `${sessionPath(id)}/fallback`, {
        body: network ? { network } : {},
        timeout: Math.max(timeoutMs, 90000),
      }),
    transcript: (id) => request("GET", `${sessionPath(id)}/transcript`),
    /** The beacon's URL (POST with a FormData carrying csrfmiddlewaretoken). */
    leaveUrl,
  };
}
