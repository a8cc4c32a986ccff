// The avatar page's entry (templates/avatar.html): read the page's config, find its
// elements and run it. Pick a preset and press Start (setup.js); the session runs
// (session.js, live_session.js) on the stage (stage.js) with its controls (controls.js);
// page.js puts them together. Only this module does anything on import.

import { createApi } from "./api.js";
import { findElements } from "./elements.js";
import { createPage } from "./page.js";

const config = JSON.parse(document.getElementById("page-config").textContent);
const api = createApi({ base: config.apiBase ?? "/api/v1", csrfToken: config.csrfToken });

createPage({ el: findElements(document), config, api, win: window }).open();
