// The sandbox avatar's transport: a websocket to /ws/sandbox/<channel>/, one text frame
// per stream message. `rtc.network` names the network the sandbox plays; a session
// playing one the operator made unreachable (SANDBOX_UNREACHABLE_NETWORKS) is closed with
// 4503 just after the socket opens, which is a join failure like a real network's.

import { createBackoff } from "./backoff.js";
import { decodePayload, sandboxUrl } from "./messages.js";
import { t } from "./i18n.js";
import { Transport, networkName } from "./transport_base.js";

/** The sandbox avatar's socket: the network the session plays cannot be reached. */
export const CLOSE_NETWORK_UNREACHABLE = 4503;

export class SandboxTransport extends Transport {
  kind = "sandbox";

  /**
   * @param {object} options
   * @param {{channel: string, token: string}} options.rtc
   * @param {Location|{protocol, host}} [options.location]
   * @param {number} [options.settleMs]  after the socket opens, how long a close still
   *   counts as a failure to join (the 4503 of an unreachable network comes at once)
   */
  constructor({
    rtc,
    location = globalThis.location,
    WebSocketImpl = globalThis.WebSocket,
    connectTimeoutMs = 10000,
    backoff = createBackoff({ base: 500, max: 10000 }),
    setTimeout: setT = globalThis.setTimeout.bind(globalThis),
    clearTimeout: clearT = globalThis.clearTimeout.bind(globalThis),
    offline = () => globalThis.navigator?.onLine === false,
    settleMs = 0,
  }) {
    super();
    this.url = sandboxUrl(rtc, location);
    this.network = rtc.network ?? "";
    this.settleMs = settleMs;
    this.offline = offline;
    this.WebSocketImpl = WebSocketImpl;
    this.connectTimeoutMs = connectTimeoutMs;
    this.backoff = backoff;
    this.setTimeout = setT;
    this.clearTimeout = clearT;
    this.ws = null;
    this.retryTimer = null;
    this.abortOpen = null;
  }

  connect() {
    this._setState("connecting");
    return this.#open();
  }

  #open() {
    return new Promise((resolve, rejectOpen) => {
      const reject = (err) => {
        this.abortOpen = null;
        rejectOpen(err);
      };
      // close() while connecting must settle the promise, or the page would wait forever.
      this.abortOpen = () => {
        this.clearTimeout(timer);
        if (settle !== null) this.clearTimeout(settle);
        reject(new Error("closed while connecting"));
      };
      const ws = new this.WebSocketImpl(this.url);
      ws.binaryType = "arraybuffer";
      this.ws = ws;
      let opened = false; // joined: open, and not closed at once
      let settle = null;
      const timer = this.setTimeout(() => {
        if (opened) return;
        ws.onclose = null;
        try {
          ws.close();
        } catch {
          // never opened
        }
        this._setState("failed", { reason: "timeout" });
        reject(new Error(t("The sandbox avatar did not answer in time. Try again in a moment.")));
      }, this.connectTimeoutMs);
      const joined = () => {
        if (opened) return;
        opened = true;
        if (settle !== null) this.clearTimeout(settle);
        this.abortOpen = null;
        this.clearTimeout(timer);
        this.backoff.reset();
        this._setState("joined");
        resolve();
      };
      let socketOpen = false; // the handshake succeeded (joined or settling)
      ws.onopen = () => {
        socketOpen = true;
        if (this.settleMs > 0) settle = this.setTimeout(joined, this.settleMs);
        else joined();
      };
      ws.onmessage = (event) => {
        joined(); // the avatar speaks: it is there

        let text;
        try {
          text = decodePayload(event.data);
        } catch {
          return;
        }
        this.emit("message", text);
      };
      ws.onclose = (event) => {
        if (ws !== this.ws) return;
        this.ws = null;
        const code = event?.code ?? 1006;
        // Open, still settling, and closed for another reason than an unreachable network
        // (another tab or device took the session, the session ended): it had joined;
        // the close means what it means after a join, never "refused".
        if (!opened && socketOpen && code !== CLOSE_NETWORK_UNREACHABLE) joined();
        if (!opened) {
          this.clearTimeout(timer);
          if (settle !== null) this.clearTimeout(settle);
          this._setState("failed", { code });
          if (code === CLOSE_NETWORK_UNREACHABLE) {
            const network = networkName(this.network);
            const text = network
              ? t("Could not reach the avatar over %(network)s.", { network })
              : t("Could not reach the avatar over its network.");
            reject(Object.assign(new Error(text), { joinFailed: true }));
            return;
          }
          reject(
            new Error(
              code >= 4000 && code < 5000
                ? t("The sandbox avatar refused the connection (its pass may have expired). Start a new session.")
                : this.offline()
                  ? t("Could not reach the sandbox avatar: your device is offline. Check your connection, then try again.")
                  : t("The sandbox avatar can't be reached right now (the server may be restarting). Try again in a moment."),
            ),
          );
          return;
        }
        if (this.state === "closed") return;
        if (code >= 4000 && code < 5000) {
          // Refused: a bad or expired token, or the session is over.
          this._setState("failed", { code, reason: event?.reason ?? "" });
          return;
        }
        this._setState("reconnecting", { code });
        this.retryTimer = this.setTimeout(() => {
          this.retryTimer = null;
          if (this.state === "closed") return;
          this.#open().catch(() => {
            // #open already reported "failed"; the page decides what to do next.
          });
        }, this.backoff.next());
      };
      ws.onerror = () => {
        // close follows
      };
    });
  }

  /** While waiting to reconnect, try now (the server is known to be back). */
  retryNow() {
    if (this.state !== "reconnecting" || this.retryTimer === null) return false;
    this.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.#open().catch(() => {
      // #open already reported "failed"; the page decides what to do next.
    });
    return true;
  }

  send(text) {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1) {
      return Promise.reject(new Error(`the sandbox connection is not open (${this.state})`));
    }
    try {
      ws.send(text);
    } catch (err) {
      return Promise.reject(err);
    }
    return Promise.resolve();
  }

  async close() {
    this._setState("closed");
    this.abortOpen?.();
    if (this.retryTimer !== null) this.clearTimeout(this.retryTimer);
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      try {
        ws.close(1000, "done");
      } catch {
        // already closed
      }
    }
  }
}

