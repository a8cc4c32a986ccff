// What a running session has hooked into the page: event listeners and timers, let go of
// all at once when it ends (a child scope: when the part it belongs to is replaced, such
// as a media transport rebuilt after a failure). A listener that was detached never runs
// again, so a handler needs no "is this still the running session?" check; only code that
// resumes after an `await` asks `closed`.

import { systemClock } from "./clock.js";

export class Scope {
  #undo = new Set();

  constructor(clock = systemClock) {
    this.clock = clock;
    this.closed = false;
  }

  /** Keep `undo` for close(); returns a function that runs it now (once). */
  #keep(undo) {
    if (this.closed) {
      undo();
      return () => {};
    }
    this.#undo.add(undo);
    return () => {
      if (this.#undo.delete(undo)) undo();
    };
  }

  /** `emitter.on(event, fn)` until the scope closes; returns a function that detaches it. */
  on(emitter, event, fn) {
    return this.#keep(emitter.on(event, fn));
  }

  /** `fn` after `ms`, unless the scope closes first; returns a function that cancels it. */
  timeout(fn, ms) {
    if (this.closed) return () => {};
    let forget = null;
    const id = this.clock.setTimeout(() => {
      forget();
      fn();
    }, ms);
    forget = this.#keep(() => this.clock.clearTimeout(id));
    return forget;
  }

  /** `fn` every `ms` until the scope closes; returns a function that stops it. */
  interval(fn, ms) {
    if (this.closed) return () => {};
    const id = this.clock.setInterval(fn, ms);
    return this.#keep(() => this.clock.clearInterval(id));
  }

  /** A pause: resolves true after `ms`, or false as soon as the scope closes. */
  sleep(ms) {
    return new Promise((resolve) => {
      if (this.closed) {
        resolve(false);
        return;
      }
      let id = null;
      const forget = this.#keep(() => {
        this.clock.clearTimeout(id);
        resolve(false);
      });
      id = this.clock.setTimeout(() => {
        resolve(true);
        forget();
      }, ms);
    });
  }

  /** A scope that closes with this one, or on its own before. */
  child() {
    const child = new Scope(this.clock);
    const forget = this.#keep(() => child.close());
    child.#keep(forget);
    return child;
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    const undo = [...this.#undo];
    this.#undo.clear();
    for (const fn of undo) fn();
  }
}
