// The page that shows a new API token once: copy it to the clipboard.

import { t } from "./i18n.js";

/** The copy button (#copy-token, its input named by data-target) and its #copy-status. */
export function wireTokenCopy(doc, navigator) {
  const button = doc.getElementById("copy-token");
  const status = doc.getElementById("copy-status");
  if (!button) return;
  const input = doc.getElementById(button.dataset.target);
  input.addEventListener("focus", () => input.select());
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(input.value);
      status.textContent = t("Copied.");
    } catch {
      // No clipboard access (an insecure origin, a denied permission): select it instead.
      input.focus();
      input.select();
      status.textContent = t("Selected: press Ctrl+C (⌘C) to copy.");
    }
  });
}

// The page's script (the admin's token_created.html); node tests import wireTokenCopy.
if (globalThis.document) wireTokenCopy(document, navigator);
