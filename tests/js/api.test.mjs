import { test } from "node:test";
import assert from "node:assert/strict";

import { ApiError, createApi, errorFromResponse, parseRetryAfter } from "../../static/js/api.js";

function jsonResponse(status, body, headers = {}) {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

function fakeFetch(respond) {
  const calls = [];
  const fetchImpl = async (url, init) => {
    calls.push({ url, init });
    return respond(url, init);
  };
  return { calls, fetchImpl };
}

test("unsafe methods carry the CSRF header and a JSON body; GET does not", async () => {
  const { calls, fetchImpl } = fakeFetch(() => jsonResponse(201, { id: "s1", status: "active" }));
  const api = createApi({ base: "/api/v1", csrfToken: "tok", fetchImpl });
  const s = await api.createSession({ preset: "ada", duration: 600 });
  assert.equal(s.id, "s1");
  assert.equal(calls[0].url, "/api/v1/sessions");
  assert.equal(calls[0].init.method, "POST");
  assert.equal(calls[0].init.headers["X-CSRFToken"], "tok");
  assert.equal(calls[0].init.credentials, "same-origin");
  assert.deepEqual(JSON.parse(calls[0].init.body), { preset: "ada", duration: 600 });

  await api.activeSessions();
  assert.equal(calls[1].url, "/api/v1/sessions?status=active");
  assert.equal(calls[1].init.method, "GET");
  assert.equal(calls[1].init.headers["X-CSRFToken"], undefined);
});

test("error JSON becomes an ApiError with code, message and Retry-After", async () => {
  const { fetchImpl } = fakeFetch(() =>
    jsonResponse(429, { error: { code: "rate_limited", message: "Too many sessions this hour." } }, { "Retry-After": "120" }),
  );
  const api = createApi({ base: "/api/v1", csrfToken: "t", fetchImpl });
  await assert.rejects(api.createSession({ preset: "x" }), (err) => {
    assert.ok(err instanceof ApiError);
    assert.equal(err.status, 429);
    assert.equal(err.code, "rate_limited");
    assert.equal(err.message, "Too many sessions this hour.");
    assert.equal(err.retryAfter, 120);
    return true;
  });
});

test("a non-JSON error page still gives a useful ApiError", async () => {
  const { fetchImpl } = fakeFetch(() => new Response("<h1>Bad gateway</h1>", { status: 502, headers: { "Content-Type": "text/html" } }));
  const api = createApi({ base: "/api/v1", csrfToken: "t", fetchImpl });
  await assert.rejects(api.presets(), (err) => err.status === 502 && err.code === "http_502" && /error/.test(err.message));
});

test("a network failure is an ApiError that says what to do, blaming the connection only when offline", async () => {
  const failing = async () => {
    throw new TypeError("Failed to fetch");
  };
  const online = createApi({ base: "/api/v1", csrfToken: "t", fetchImpl: failing, offline: () => false });
  await assert.rejects(
    online.presets(),
    (err) => err.code === "network" && /server can't be reached/.test(err.message) && !/connection/.test(err.message),
  );
  const offline = createApi({ base: "/api/v1", csrfToken: "t", fetchImpl: failing, offline: () => true });
  await assert.rejects(offline.presets(), (err) => err.code === "network" && /offline.*connection/.test(err.message));
});

test("an HTML 200 (a login redirect) is not taken for data", async () => {
  const { fetchImpl } = fakeFetch(() => new Response("<form>login</form>", { status: 200, headers: { "Content-Type": "text/html" } }));
  const api = createApi({ base: "/api/v1", csrfToken: "t", fetchImpl });
  await assert.rejects(api.presets(), (err) => err.code === "bad_response");
});

test("session paths are encoded and the beacon URL is the leave endpoint", async () => {
  const { calls, fetchImpl } = fakeFetch(() => jsonResponse(200, { id: "a/b" }));
  const api = createApi({ base: "/api/v1", csrfToken: "t", fetchImpl });
  await api.closeSession("a/b");
  assert.equal(calls[0].url, "/api/v1/sessions/a%2Fb/close");
  assert.equal(api.leaveUrl("123"), "/api/v1/sessions/123/leave");
});

test("a close says whether the session failed on the page's side", async () => {
  const { calls, fetchImpl } = fakeFetch(() => jsonResponse(200, { id: "1" }));
  const api = createApi({ base: "/api/v1", csrfToken: "t", fetchImpl });
  await api.closeSession("1");
  await api.closeSession("1", "The video channel could not be joined.");
  await api.closeSession("1", "x".repeat(500));
  const bodies = calls.map((c) => JSON.parse(c.init.body));
  assert.deepEqual(bodies[0], {});
  assert.deepEqual(bodies[1], { reason: "error", detail: "The video channel could not be joined." });
  assert.equal(bodies[2].detail.length, 300); // the server's limit
});

test("parseRetryAfter reads seconds and HTTP dates", () => {
  assert.equal(parseRetryAfter("30"), 30);
  assert.equal(parseRetryAfter(null), null);
  assert.equal(parseRetryAfter("soon"), null);
  const now = Date.parse("2030-01-01T00:00:00Z");
  assert.equal(parseRetryAfter("Tue, 01 Jan 2030 00:01:00 GMT", now), 60);
});

test("errorFromResponse falls back to a sentence when the body says nothing", () => {
  const err = errorFromResponse(503, null, null);
  assert.equal(err.code, "http_503");
  assert.match(err.message, /busy/);
});
