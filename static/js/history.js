// History pages: show times in the reader's own time zone and close reasons in words.
// Progressive: without this script the page still shows ISO times and reason codes.

import { closeReasonPhrase } from "./format.js";

/** Each <time data-local-time> in the reader's time zone (its ISO time as the tooltip). */
export function localizeTimes(root) {
  for (const t of root.querySelectorAll("time[data-local-time]")) {
    const at = new Date(t.dateTime);
    if (Number.isNaN(at.getTime())) continue;
    t.textContent = t.hasAttribute("data-time-only")
      ? at.toLocaleTimeString()
      : at.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
    t.title = at.toISOString();
  }
}

/** Each [data-close-reason] says the reason in words. */
export function describeCloseReasons(root) {
  for (const r of root.querySelectorAll("[data-close-reason]")) {
    r.textContent = closeReasonPhrase(r.dataset.closeReason);
  }
}

// The page's script (templates/history*.html); node tests import the functions above.
if (globalThis.document) {
  localizeTimes(document);
  describeCloseReasons(document);
}
