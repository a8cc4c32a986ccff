// A tiny event emitter: the one way modules here tell each other what happened.
// Listeners that throw are reported and do not stop the others (a broken view must not
// break the relay that called it).

export class Emitter {
  #listeners = new Map();

  /** Subscribe; returns a function that unsubscribes. */
  on(event, fn) {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(fn);
    return () => this.off(event, fn);
  }

  off(event, fn) {
    this.#listeners.get(event)?.delete(fn);
  }

  emit(event, ...args) {
    for (const fn of [...(this.#listeners.get(event) ?? [])]) {
      try {
        fn(...args);
      } catch (err) {
        console.error(`listener for "${event}" failed`, err);
      }
    }
  }

  removeAllListeners() {
    this.#listeners.clear();
  }
}
