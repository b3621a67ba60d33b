#!/usr/bin/env python
"""Django's command-line entry point for Consortium Exchange."""

import os
import select
import sys
from typing import TextIO


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
        # status 1, without a traceback. One from anything else (a socket to the database or the broker) is
        # an error like any other, and Python reports it.
        gone = [stream for stream in (sys.stdout, sys.stderr) if _reader_gone(stream)]
        if not gone:
            raise
        # Python flushes them again at exit: /dev/null cannot fail.
        for stream in gone:
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
        sys.exit(1)


def _reader_gone(stream: TextIO) -> bool:
    """Whether `stream` is a pipe (or socket) whose reader has closed its end: writing to it would raise
    BrokenPipeError. Python's own recipe flushes it (https://docs.python.org/3/library/signal.html
    #note-on-sigpipe); with nothing left to flush that proves nothing, so poll it too: such an end polls
    as an error."""
    try:
        stream.flush()
        poller = select.poll()
        poller.register(stream.fileno(), select.POLLOUT)
    except BrokenPipeError:
        return True
    except (AttributeError, OSError, ValueError):  # closed, no file descriptor, no poll (Windows)
        return False
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


if __name__ == "__main__":
    main()
