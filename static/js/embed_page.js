// The embed page's entry (templates/embed.html): the avatar page (page.js) with the
// visitor's token instead of the cookie (api.js: a Bearer header and the socket's
// subprotocols, no cookie ever), kept fresh, and the bridge to the website that frames it
// (embed_bridge.js). Only this module does anything on import.

import { createApi } from "./api.js";
import { connectBridge, keepTokenFresh } from "./embed_bridge.js";
import { findElements } from "./elements.js";
import { useEmbedWords } from "./format.js";
import { createPage } from "./page.js";

useEmbedWords();
const config = JSON.parse(document.getElementById("page-config").textContent);
const api = createApi({ base: config.apiBase ?? "/api/v1", bearer: config.embedToken });

const page = createPage({ el: findElements(document), config, api, win: window });
connectBridge({ win: window, config, page });
keepTokenFresh({ api, maxAgeSeconds: config.embedTokenMaxAge, notices: page.notices });
page.open();
