"""Django's makemessages for this site: it also finds the page's own translation helpers in
JavaScript (static/js/i18n.js's `t(text, params)` and `tn(singular, plural, count,
params)`), and it reads only our own code (not the virtualenv, npm's packages, collected
static files or the tests).

    .venv/bin/python manage.py makemessages -l es            # templates and Python
    .venv/bin/python manage.py makemessages -l es -d djangojs  # static/js
"""

from django.core.management.commands import makemessages

# Never our words: tests/test_i18n.py runs this command with these too.
NOT_OURS = [
    ".venv",
    "node_modules",
    "staticfiles",
    "artifacts",
    "tests",
    "bench",
    "tools",
    "static/vendor",
]


class Command(makemessages.Command):
    xgettext_options = [*makemessages.Command.xgettext_options, "--keyword=t", "--keyword=tn:1,2"]

    def handle(self, *args, **options):
        options["ignore_patterns"] = [*options.get("ignore_patterns", []), *NOT_OURS]
        return super().handle(*args, **options)
