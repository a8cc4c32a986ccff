// Which tab of this browser holds which live session. A session runs in one tab at a
// time (one media user per session), so a tab that opens while another tab holds the
// session asks before joining it, and a tab that takes a session over tells the tab that
// held it to let go. A reload is not another tab: sessionStorage survives a reload (not a
// new tab), and the reloaded page no longer answers on the channel.
//
// Tabs talk over a BroadcastChannel (same origin, same browser profile). Without one (an
// old browser, node tests) no other tab is ever known: the page resumes as before.

export const CHANNEL_NAME = "avatarsite.sessions";
const STORAGE_KEY = "avatarsite.session";
/** How long a tab waits for the other tabs to say which sessions they hold. */
export const ANSWER_WAIT_MS = 300;

/** sessionStorage, or a stand-in when the browser refuses it (privacy settings). */
function tabStorage(win) {
  try {
    const s = win.sessionStorage;
    if (s) return s;
  } catch {
    // Denied: this tab remembers nothing across a reload, and asks instead.
  }
  const data = new Map();
  return { getItem: (k) => data.get(k) ?? null, setItem: (k, v) => data.set(k, String(v)), removeItem: (k) => data.delete(k) };
}

export class TabClaims {
  /**
   * @param {object} options
   * @param {object} [options.win]  the window: BroadcastChannel, sessionStorage
   * @param {object} options.clock  setTimeout (clock.js)
   */
  constructor({ win = globalThis, clock }) {
    this.clock = clock;
    this.storage = tabStorage(win);
    this.held = null;
    this.onTaken = () => {};
    this.onEnded = () => {};
    this.waiting = null; // the ids other tabs said they hold, while asking
    const Channel = win.BroadcastChannel;
    this.channel = typeof Channel === "function" ? new Channel(CHANNEL_NAME) : null;
    if (this.channel) this.channel.onmessage = (event) => this.#heard(event.data ?? {});
  }

  /** The session this tab held before a reload (or null). */
  remembered() {
    return this.storage.getItem(STORAGE_KEY);
  }

  /** This tab runs `id` now: it answers for it, and a reload finds it again. */
  hold(id) {
    this.held = id;
    this.storage.setItem(STORAGE_KEY, id);
  }

  /** This tab runs no session any more. */
  release() {
    this.held = null;
    this.storage.removeItem(STORAGE_KEY);
  }

  /** The sessions other tabs of this browser hold now (empty without a channel). */
  async heldElsewhere(waitMs = ANSWER_WAIT_MS) {
    if (!this.channel) return new Set();
    const found = new Set();
    this.waiting = found;
    this.channel.postMessage({ type: "who" });
    await new Promise((resolve) => this.clock.setTimeout(resolve, waitMs));
    if (this.waiting === found) this.waiting = null;
    return found;
  }

  /** This tab takes `id` over: the tab that held it lets go of it. */
  takeOver(id) {
    this.channel?.postMessage({ type: "take", id });
  }

  /** Session `id` has ended (here, or End in a list): a tab it was taken from stops offering it. */
  ended(id) {
    this.channel?.postMessage({ type: "ended", id });
  }

  #heard(msg) {
    if (msg.type === "who" && this.held) this.channel.postMessage({ type: "held", id: this.held });
    else if (msg.type === "held" && typeof msg.id === "string") this.waiting?.add(msg.id);
    else if (msg.type === "take" && msg.id && msg.id === this.held) this.onTaken(msg.id);
    else if (msg.type === "ended" && typeof msg.id === "string") this.onEnded(msg.id);
  }
}
