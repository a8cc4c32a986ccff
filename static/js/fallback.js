// When the avatar's network cannot be joined (a firewall, a VPN, a browser that blocks
// WebRTC there), the session may go on over another network AKool serves (issue 18,
// README "Networks"): the page offers it with one button ("Try LiveKit") beside End, or,
// when the site says so (AKOOL_FALLBACK=auto), goes at once and says so.

import { t } from "./i18n.js";
import { networkName } from "./transport_base.js";

export const offerText = (from, to) =>
  from
    ? t("The avatar could not be reached over %(network)s. You can try %(other)s instead.", { network: from, other: to })
    : t("The avatar could not be reached over its network. You can try %(other)s instead.", { other: to });

export const autoText = (to) => t("The avatar could not be reached; trying %(other)s instead…", { other: to });

/**
 * Show the offer in the error notice: resolves true for "Try <Network>", false for End
 * (or when `cancel()` is called: the session ended meanwhile).
 * @returns {{choice: Promise<boolean>, cancel: () => void}}
 */
export function offerFallback(notices, { from, to }) {
  const errorEl = notices.errorEl;
  const doc = errorEl.ownerDocument;
  let settle;
  const choice = new Promise((resolve) => {
    settle = resolve;
  });
  // While the choice stands, the page's other tidying (a socket opening clears old
  // errors) must not take it away: only the choice does.
  const clearError = notices.clearError;
  notices.clearError = () => {};
  const done = (value) => {
    notices.clearError = clearError;
    notices.clearError(["network_unreachable"]);
    settle(value);
  };
  notices.setStatus("");
  notices.showError(offerText(networkName(from), networkName(to)), "network_unreachable");
  const tryBtn = doc.createElement("button");
  tryBtn.type = "button";
  tryBtn.className = "primary";
  tryBtn.dataset.network = to;
  tryBtn.textContent = t("Try %(network)s", { network: networkName(to) });
  tryBtn.addEventListener("click", () => done(true));
  const endBtn = doc.createElement("button");
  endBtn.type = "button";
  endBtn.className = "secondary";
  endBtn.textContent = t("End");
  endBtn.addEventListener("click", () => done(false));
  errorEl.append(doc.createTextNode(" "), tryBtn, doc.createTextNode(" "), endBtn);
  tryBtn.focus?.();
  return { choice, cancel: () => done(false) };
}
