// The page's words in the reader's language: the one home for translating them. Django's
// JavaScript catalog (/jsi18n/, a plain script base.html loads before any module) defines
// `django.gettext`; without it (node's tests, a catalog that failed to load) the English
// as written is shown. Each text is a whole sentence with named blanks, "%(name)s", so a
// translation can put them where its grammar wants them.
//
// makemessages finds these calls by name (sessions/management/commands/makemessages.py
// adds `t` and `tn` to xgettext's keywords): call them with a literal string.

function fill(text, params) {
  if (!params) return text;
  return text.replace(/%\((\w+)\)s/g, (blank, name) =>
    Object.hasOwn(params, name) ? String(params[name]) : blank,
  );
}

/** `text` translated, its %(name)s blanks filled from `params`. */
export function t(text, params = null) {
  const gettext = globalThis.django?.gettext;
  return fill(typeof gettext === "function" ? gettext(text) : text, params);
}

/** The singular or plural sentence for `count`, translated (`count` fills %(count)s). */
export function tn(singular, plural, count, params = null) {
  const ngettext = globalThis.django?.ngettext;
  const text =
    typeof ngettext === "function" ? ngettext(singular, plural, count) : count === 1 ? singular : plural;
  return fill(text, { count, ...params });
}
