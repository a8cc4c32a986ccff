// The page's two notices: #status (progress or news, role=status) and #error (what went
// wrong and what to do, role=alert). One rule keeps them from contradicting each other:
// a new error replaces any news beside it (an old "You ended the session" must not sit
// beside a new failure); only work still in progress (a busy status: "reconnecting…")
// stays, because the error is about that work.
//
// Small DOM needs (textContent, dataset, replaceChildren, append, ownerDocument), so node
// tests drive it with a stand-in element.

export class Notices {
  /**
   * @param {object} options
   * @param {HTMLElement} options.status
   * @param {HTMLElement} options.error
   */
  constructor({
    status,
    error,
    now = () => Date.now(),
    setInterval: setI = globalThis.setInterval.bind(globalThis),
    clearInterval: clearI = globalThis.clearInterval.bind(globalThis),
  }) {
    this.statusEl = status;
    this.errorEl = error;
    this.now = now;
    this.setI = setI;
    this.clearI = clearI;
    this.ticker = null;
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
  }
}
