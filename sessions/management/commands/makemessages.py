"""Django's makemessages, also finding the page's own translation helpers in JavaScript:
static/js/i18n.js's `t(text, params)` and `tn(singular, plural, count, params)`."""

from django.core.management.commands import makemessages


class Command(makemessages.Command):
    xgettext_options = [*makemessages.Command.xgettext_options, "--keyword=t", "--keyword=tn:1,2"]
