// The page's two notices: #status (progress or news, role=status) and #error (what went
// wrong and what to do, role=alert). One rule keeps them from contradicting each other:
// a new error replaces any news beside it (an old "You ended the session" must not sit
// beside a new failure); only work still in progress (a busy status: "reconnecting…")
// stays, because the error is about that work.
//
// Issue 17: the notices are a toast over the top of the content, so they must not sit
// there for ever. News (a status that is not busy) fades after `fadeMs`; it only leaves
// the eye (data-faded hides the box), the text stays, so what the page knows is unchanged.
// Work in progress stays while it lasts; an error stays until its close button is pressed
// or another notice replaces it.
//
// Small DOM needs (textContent, dataset, replaceChildren, append, ownerDocument), so node
// tests drive it with a stand-in element.

export class Notices {
  /**
   * @param {object} options
   * @param {HTMLElement} options.status
   * @param {HTMLElement} options.error
   * @param {HTMLElement} [options.close]  the error's close button
   * @param {number} [options.fadeMs]  news fades after this long (0: it stays)
   */
  constructor({
    status,
    error,
    close = null,
    fadeMs = 0,
    now = () => Date.now(),
    setInterval: setI = globalThis.setInterval.bind(globalThis),
    clearInterval: clearI = globalThis.clearInterval.bind(globalThis),
    setTimeout: setT = globalThis.setTimeout.bind(globalThis),
    clearTimeout: clearT = globalThis.clearTimeout.bind(globalThis),
  }) {
    this.statusEl = status;
    this.errorEl = error;
    this.now = now;
    this.setI = setI;
    this.clearI = clearI;
    this.setT = setT;
    this.clearT = clearT;
    this.fadeMs = fadeMs;
    this.fader = null;
    this.ticker = null;
    close?.addEventListener("click", () => this.clearError());
    this.current = { text: "", busy: false, since: null };
  }

  /**
   * Progress or news in #status. `since` adds a running "n s" for long waits, for the
   * eye only (aria-hidden): a screen reader hears the sentence once. Setting the same
   * sentence again (same busy, same since) changes nothing, so a notice that is repeated
   * (each reconnect attempt) stays one notice and is not announced again.
   */
  setStatus(text, { busy = false, since = null } = {}) {
    const el = this.statusEl;
    const cur = this.current;
    if (text && text === cur.text && busy === cur.busy && since === cur.since) return;
    this.#stopTicker();
    this.current = { text: text || "", busy, since };
    el.dataset.busy = String(busy);
    el.dataset.faded = "false";
    if (text && !busy && this.fadeMs > 0) {
      this.fader = this.setT(() => {
        this.fader = null;
        el.dataset.faded = "true";
      }, this.fadeMs);
    }
    const doc = el.ownerDocument;
    // Nothing at all when empty, so #status:empty hides the box.
    el.replaceChildren(...(text ? [doc.createTextNode(text)] : []));
    if (text && since !== null) {
      const elapsed = doc.createElement("span");
      elapsed.className = "elapsed";
      elapsed.setAttribute("aria-hidden", "true");
      el.append(elapsed);
      const tick = () => {
        const s = Math.floor((this.now() - since) / 1000);
        elapsed.textContent = s >= 2 ? ` ${s} s` : "";
      };
      tick();
      this.ticker = this.setI(tick, 1000);
    }
  }

  get statusText() {
    return this.current.text;
  }

  get statusBusy() {
    return this.current.busy;
  }

  /**
   * An error in #error; news in #status beside it goes (work in progress stays). With
   * `link` ({href, text}), what to do next is a link after the sentence.
   */
  showError(message, code = "", link = null) {
    if (this.current.text && !this.current.busy) this.setStatus("");
    this.errorEl.textContent = message;
    this.errorEl.dataset.code = code;
    if (link) {
      const doc = this.errorEl.ownerDocument;
      const a = doc.createElement("a");
      a.href = link.href;
      a.textContent = link.text;
      this.errorEl.append(doc.createTextNode(" "), a);
    }
  }

  /**
   * The user acts again (sends a message): what the page said before is old news. The
   * error goes, and so does news in #status ("Connected. Say hello!"); work in progress
   * stays (its end replaces it).
   */
  acted() {
    this.clearError();
    if (this.current.text && !this.current.busy) this.setStatus("");
  }

  /** Clear #error; with `codes`, only an error with one of those codes. */
  clearError(codes = null) {
    if (codes && !codes.includes(this.errorEl.dataset.code ?? "")) return;
    this.errorEl.textContent = "";
    this.errorEl.dataset.code = "";
  }

  get errorText() {
    return this.errorEl.textContent;
  }

  get errorCode() {
    return this.errorEl.dataset.code ?? "";
  }

  #stopTicker() {
    if (this.ticker !== null) this.clearI(this.ticker);
    this.ticker = null;
    if (this.fader !== null) this.clearT(this.fader);
    this.fader = null;
  }
}
