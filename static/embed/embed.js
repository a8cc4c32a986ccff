/* avatarsite launcher: put the avatar on any website.
 *
 *   <script src="https://<our site>/embed.js" data-key="ek_..." async></script>
 * or
 *   <script src="https://<our site>/embed.js" async></script>
 *   <avatar-embed key="ek_..." preset="..." position="right|left" color="#hex"
 *                 label="Talk to us" close-label="Close" frame-title="..."></avatar-embed>
 *
 * A plain classic script: it runs on other people's pages, so it has no dependencies, no
 * build step, one custom element and no globals. It never reads or writes the host page's
 * cookies or storage: the avatar lives in our iframe, which has its own token.
 * Events (on the element, detail = the message): avatar-ready, avatar-session-started,
 * avatar-transcript, avatar-session-ended, avatar-refused. Methods: open(), close(),
 * start(preset), end(), say(text).
 */
(function () {
  "use strict";
  var TAG = "avatar-embed";
  if (typeof customElements === "undefined" || customElements.get(TAG)) return; // loaded twice

  var DEFAULT_COLOR = "#2451b3";
  var EVENTS = ["ready", "session-started", "transcript", "session-ended", "refused"];
  // Closing while a session runs asks the page to end it, then waits this long for the
  // page to say it ended before the frame goes (its own goodbye covers the rest).
  var END_WAIT_MS = 2000;

  /* Pure helpers, also on the element's class for tests and curious hosts. */

  function originOf(src) {
    try {
      return new URL(src).origin;
    } catch (e) {
      return "";
    }
  }

  function frameUrl(origin, key, hostOrigin, preset) {
    var url = new URL(origin + "/embed/" + encodeURIComponent(key) + "/");
    url.searchParams.set("origin", hostOrigin);
    if (preset) url.searchParams.set("preset", preset);
    return url.href;
  }

  // Only a #hex colour: anything else could smuggle CSS into our styles.
  function validColor(value) {
    return typeof value === "string" && /^#(?:[0-9a-f]{3}|[0-9a-f]{6})$/i.test(value.trim())
      ? value.trim()
      : DEFAULT_COLOR;
  }

  // Black or white text, whichever reads better on the launcher's colour (WCAG luminance).
  function textOn(color) {
    var hex = validColor(color).slice(1);
    if (hex.length === 3) hex = hex.replace(/./g, "$&$&");
    var lum = [0, 2, 4].reduce(function (sum, i, n) {
      var c = parseInt(hex.slice(i, i + 2), 16) / 255;
      c = c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
      return sum + c * [0.2126, 0.7152, 0.0722][n];
    }, 0);
    return (lum + 0.05) / 0.05 > 1.05 / (lum + 0.05) ? "#111111" : "#ffffff";
  }

  // A message is ours only from our own frame's window, from our origin, in our shape.
  function accepts(event, frameWindow, origin) {
    var data = event.data;
    return (
      !!frameWindow &&
      event.source === frameWindow &&
      event.origin === origin &&
      !!data &&
      typeof data === "object" &&
      data.source === "avatarsite" &&
      EVENTS.indexOf(data.type) >= 0
    );
  }

  var script = document.currentScript;
  var ORIGIN = originOf(script && script.src);

  var CSS =
    ":host{all:initial}" +
    "*{box-sizing:border-box}" +
    ".launcher{position:fixed;bottom:20px;z-index:2147483000;display:flex;align-items:center;" +
    "gap:8px;min-height:48px;padding:0 20px 0 16px;border:0;border-radius:24px;cursor:pointer;" +
    "font:600 16px/1.2 system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;" +
    "background:var(--c);color:var(--on);box-shadow:0 4px 16px rgba(0,0,0,.25);" +
    "transition:transform .15s}" +
    ".launcher:hover{transform:translateY(-2px)}" +
    ".launcher svg{width:22px;height:22px;flex:none}" +
    ":focus-visible{outline:3px solid #ffbf47;outline-offset:2px}" +
    ".panel{position:fixed;bottom:84px;z-index:2147483001;display:flex;flex-direction:column;" +
    "width:min(400px,calc(100vw - 32px));height:min(640px,calc(100vh - 104px));" +
    "background:#fff;border-radius:12px;overflow:hidden;box-shadow:0 8px 40px rgba(0,0,0,.3);" +
    "animation:rise .18s ease-out}" +
    "@keyframes rise{from{opacity:0;transform:translateY(12px)}}" +
    ".panel[hidden]{display:none}" +
    ".bar{display:flex;align-items:center;justify-content:space-between;gap:8px;" +
    "padding:6px 6px 6px 14px;background:var(--c);color:var(--on);" +
    "font:600 15px/1.2 system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif}" +
    ".close{width:40px;height:40px;border:0;border-radius:8px;background:transparent;" +
    "color:inherit;font-size:26px;line-height:1;cursor:pointer}" +
    ".close:hover{background:rgba(127,127,127,.25)}" +
    "iframe{flex:1;width:100%;border:0;background:#fff}" +
    ".right{right:16px}.left{left:16px}" +
    // In dark mode the panel is our page's dark background while the frame loads, not a
    // white flash (the page's own --bg, static/css/site.css).
    "@media (prefers-color-scheme:dark){.panel,iframe{background:#121418}}" +
    // A phone on its side (or any window under 500 px high) gets the sheet too: a
    // corner panel there would be a sliver.
    "@media (max-width:600px),(max-height:500px){.panel{inset:0;width:100vw;height:100vh;height:100dvh;" +
    "border-radius:0}.launcher{bottom:16px}}" +
    "@media (prefers-reduced-motion:reduce){.launcher{transition:none}.panel{animation:none}" +
    ".launcher:hover{transform:none}}";

  var ICON =
    '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path fill="currentColor" ' +
    'd="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"/></svg>';

  var uid = 0;

  class AvatarEmbed extends HTMLElement {
    static get observedAttributes() {
      return ["label", "color", "position", "close-label"];
    }

    constructor() {
      super();
      // Closed: the host page's CSS and scripts cannot reach inside.
      this._root = this.attachShadow({ mode: "closed" });
      this._frame = null;
      this._live = false; // a session runs in the frame (from its events)
      this._ready = false;
      this._queue = []; // commands waiting for the frame's `ready`
      this._onMessage = this._onMessage.bind(this);
      this._onKey = this._onKey.bind(this);
      var id = "avatar-embed-panel-" + ++uid;
      this._root.innerHTML =
        "<style>" + CSS + "</style>" +
        '<button class="launcher" type="button" aria-expanded="false" aria-controls="' + id + '">' +
        ICON + "<span></span></button>" +
        '<div class="panel" id="' + id + '" role="dialog" hidden>' +
        '<div class="bar"><span class="title"></span>' +
        '<button class="close" type="button">\u00d7</button></div></div>';
      this._launcher = this._root.querySelector(".launcher");
      this._panel = this._root.querySelector(".panel");
      this._closeButton = this._root.querySelector(".close");
      this._launcher.addEventListener("click", this._toggle.bind(this));
      this._closeButton.addEventListener("click", this.close.bind(this));
      this._panel.addEventListener("keydown", this._onKey);
    }

    connectedCallback() {
      window.addEventListener("message", this._onMessage);
      this._render();
    }

    disconnectedCallback() {
      window.removeEventListener("message", this._onMessage);
      this._dropFrame();
    }

    attributeChangedCallback() {
      this._render();
    }

    _text(name, fallback) {
      var value = (this.getAttribute(name) || "").trim();
      return value || fallback;
    }

    _render() {
      var label = this._text("label", "Talk to us");
      var color = validColor(this.getAttribute("color"));
      var side = this.getAttribute("position") === "left" ? "left" : "right";
      this._root.host.style.setProperty("--c", color);
      this._root.host.style.setProperty("--on", textOn(color));
      this._launcher.className = "launcher " + side;
      this._panel.className = "panel " + side;
      this._launcher.querySelector("span").textContent = label;
      this._panel.setAttribute("aria-label", label);
      this._root.querySelector(".title").textContent = label;
      this._closeButton.setAttribute("aria-label", this._text("close-label", "Close"));
    }

    _toggle() {
      if (this._panel.hidden) this.open();
      else this.close();
    }

    open() {
      if (!this._frame) this._makeFrame();
      if (!this._panel.hidden) return;
      this._panel.hidden = false;
      this._launcher.setAttribute("aria-expanded", "true");
      // Into the panel, on its first control: from there Escape closes it (keys pressed
      // inside our frame are the frame's: another site's document cannot hear them).
      this._closeButton.focus();
    }

    close() {
      if (this._panel.hidden) return;
      this._panel.hidden = true;
      this._launcher.setAttribute("aria-expanded", "false");
      this._launcher.focus();
      if (this._live) {
        this._post({ type: "end" });
        this._endTimer = setTimeout(this._dropFrame.bind(this), END_WAIT_MS);
      } else {
        this._dropFrame();
      }
    }

    start(preset) {
      this.open();
      this._command(preset ? { type: "start", preset: String(preset) } : { type: "start" });
    }

    end() {
      this._command({ type: "end" });
    }

    say(text) {
      this._command({ type: "say", text: String(text) });
    }

    _makeFrame() {
      var key = this.getAttribute("key") || "";
      var frame = document.createElement("iframe");
      frame.src = frameUrl(ORIGIN, key, location.origin, this.getAttribute("preset"));
      frame.title = this._text("frame-title", "Chat with our assistant");
      frame.allow = "microphone; camera; autoplay";
      this._panel.appendChild(frame);
      this._frame = frame;
      this._ready = false;
    }

    _dropFrame() {
      clearTimeout(this._endTimer);
      if (this._frame) this._frame.remove();
      this._frame = null;
      this._ready = false;
      this._live = false;
      this._queue = [];
    }

    _command(message) {
      if (!this._frame) {
        // Panel closed, so no session: a line to say is refused, as the page refuses one
        // with no session running (rather than dropped without a word).
        if (message.type === "say") {
          var detail = { source: "avatarsite", type: "refused", command: "say" };
          this.dispatchEvent(new CustomEvent("avatar-refused", { detail: detail, bubbles: true }));
        }
        return;
      }
      if (this._ready) this._post(message);
      else this._queue.push(message);
    }

    _post(message) {
      message.source = "avatarsite-host";
      // To our origin only: if the frame went elsewhere, the browser drops it.
      if (this._frame && this._frame.contentWindow) this._frame.contentWindow.postMessage(message, ORIGIN);
    }

    _onMessage(event) {
      if (!accepts(event, this._frame && this._frame.contentWindow, ORIGIN)) return;
      var data = event.data;
      if (data.type === "ready") {
        this._ready = true;
        this._queue.splice(0).forEach(this._post, this);
      } else if (data.type === "session-started") {
        this._live = true;
      } else if (data.type === "session-ended") {
        this._live = false;
        if (this._panel.hidden) this._dropFrame(); // the close that was waiting for it
      }
      this.dispatchEvent(new CustomEvent("avatar-" + data.type, { detail: data, bubbles: true }));
    }

    _onKey(event) {
      if (event.key === "Escape") {
        event.stopPropagation();
        this.close();
      }
    }
  }

  AvatarEmbed.origin = ORIGIN;
  AvatarEmbed.frameUrl = frameUrl;
  AvatarEmbed.validColor = validColor;
  AvatarEmbed.textOn = textOn;
  AvatarEmbed.accepts = accepts;
  customElements.define(TAG, AvatarEmbed);

  // The one-line form: this very tag carries the key.
  var data = (script && script.dataset) || {};
  if (data.key) {
    var place = function () {
      var el = document.createElement(TAG);
      ["key", "preset", "position", "color", "label"].forEach(function (name) {
        if (data[name]) el.setAttribute(name, data[name]);
      });
      if (data.closeLabel) el.setAttribute("close-label", data.closeLabel);
      if (data.frameTitle) el.setAttribute("frame-title", data.frameTitle);
      document.body.appendChild(el);
    };
    if (document.body) place();
    else document.addEventListener("DOMContentLoaded", place);
  }
})();
