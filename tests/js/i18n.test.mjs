// static/js/i18n.js: the page's words through Django's JavaScript catalog, English as
// written without one, named blanks filled either way.
import test from "node:test";
import assert from "node:assert/strict";

import { t, tn } from "../../static/js/i18n.js";

function withCatalog(catalog, fn) {
  globalThis.django = {
    gettext: (msgid) => catalog[msgid] ?? msgid,
    ngettext: (singular, plural, n) => {
      const forms = catalog[singular];
      if (Array.isArray(forms)) return forms[n === 1 ? 0 : 1];
      return n === 1 ? singular : plural;
    },
  };
  try {
    fn();
  } finally {
    delete globalThis.django;
  }
}

test("without a catalog the English is shown, its blanks filled", () => {
  assert.equal(t("Stopped"), "Stopped");
  assert.equal(t("Voice changed to %(name)s", { name: "Warm" }), "Voice changed to Warm");
  assert.equal(tn("%(count)s line", "%(count)s lines", 1), "1 line");
  assert.equal(tn("%(count)s line", "%(count)s lines", 3), "3 lines");
});

test("with the catalog the translation is shown, its blanks where it puts them", () => {
  withCatalog(
    {
      "Voice changed to %(name)s": "Voz cambiada a %(name)s",
      "%(count)s line": ["%(count)s línea", "%(count)s líneas"],
    },
    () => {
      assert.equal(t("Voice changed to %(name)s", { name: "Warm" }), "Voz cambiada a Warm");
      assert.equal(tn("%(count)s line", "%(count)s lines", 2), "2 líneas");
      assert.equal(t("Not in the catalog"), "Not in the catalog");
    },
  );
});

test("a blank with no value stays visible rather than vanishing", () => {
  assert.equal(t("Mode: %(name)s", {}), "Mode: %(name)s");
  assert.equal(t("100%(sic)"), "100%(sic)");
});
