#!/usr/bin/env python
"""Django's command-line entry point for Consortium Exchange."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "consortium.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line
    from django.core.management.base import CommandParser, handle_default_options

    # --settings and --pythonpath first, as Django's own entry point takes them before it reads the settings:
    # read below without them, the settings module a command names would be silently ignored.
    early = CommandParser(add_help=False, allow_abbrev=False)
    early.add_argument("--settings")
    early.add_argument("--pythonpath")
    handle_default_options(early.parse_known_args(sys.argv[2:])[0])
    try:
        # Read the environment now: a value consortium/settings.py refuses is one line naming the variable,
        # not a traceback through Django's lazy settings from whichever command first looked at them.
        settings.INSTALLED_APPS  # noqa: B018
    except ImproperlyConfigured as exc:
        sys.exit(f"ImproperlyConfigured: {exc}")
    try:
        execute_from_command_line(sys.argv)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader closed the pipe (`manage.py ledger_export - | head`): the output was not delivered, so
        # status 1, without a traceback. Python flushes stdout again at exit: /dev/null cannot fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)


if __name__ == "__main__":
    main()
