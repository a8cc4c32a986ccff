// History pages: show times in the reader's own time zone and close reasons in words.
// Progressive: without this script the page still shows ISO times and reason codes.

import { closeReasonPhrase } from "./format.js";

for (const t of document.querySelectorAll("time[data-local-time]")) {
  const at = new Date(t.dateTime);
  if (Number.isNaN(at.getTime())) continue;
  t.textContent = t.hasAttribute("data-time-only")
    ? at.toLocaleTimeString()
    : at.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  t.title = at.toISOString();
}

for (const r of document.querySelectorAll("[data-close-reason]")) {
  r.textContent = closeReasonPhrase(r.dataset.closeReason);
}
