"""`manage.py run_schedule`: beat's schedule (CELERY_BEAT_SCHEDULE) run in this process, for the embedded
default, which has no broker and so no beat: `scripts/dev.py serve` runs it beside the web server.

Every scheduled task is idempotent, so it first runs each once (catching up on what fell due while nothing
ran: a day's credit release, an epoch that ended, requests and grants that expired), then each when its
schedule says, as beat would, calling the task in this process. A task that fails is logged and tried again
at its next turn; the loop goes on. `--once` runs the catch-up alone and exits (status 1 if a task failed).
In production run beat instead (README): this command refuses to run where a broker is configured.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from celery.schedules import BaseSchedule, maybe_schedule
from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from consortium.celery import app
from consortium.management.base import OperatorCommand

logger = logging.getLogger(__name__)

# The longest the loop sleeps: a schedule changed by nothing still gets looked at this often.
LONGEST_SLEEP_SECONDS = 60.0


class Schedule:
    """Beat's schedule entries with when each last ran; `due(now)` names the entries due at `now`."""

    def __init__(self, entries: dict[str, dict[str, Any]], started_at: datetime) -> None:
        self.tasks = {name: entry["task"] for name, entry in entries.items()}
        self.schedules: dict[str, BaseSchedule] = {
            name: maybe_schedule(entry["schedule"], app=app) for name, entry in entries.items()
        }
        self.last_run = dict.fromkeys(entries, started_at)

    def due(self, now: datetime) -> tuple[list[str], float]:
        """The entries due at `now` (marked as run at `now`), and the seconds until the next falls due."""
        due, next_in = [], LONGEST_SLEEP_SECONDS
        for name, schedule in self.schedules.items():
            schedule.nowfun = lambda: now  # judged at `now`, not by the clock
            is_due, wait = schedule.is_due(self.last_run[name])
            if is_due:
                due.append(name)
                self.last_run[name] = now
            next_in = min(next_in, wait)
        return due, max(next_in, 0.0)


def run_task(name: str) -> bool:
    """Run the registered task `name` in this process; False (logged) if it failed."""
    result = app.tasks[name].apply(throw=False)  # eager tasks propagate errors by default
    if result.failed():
        logger.error("Scheduled task %s failed: %s", name, result.result)
        return False
    logger.debug("Scheduled task %s ran: %s", name, result.result)
    return True


class Command(OperatorCommand):
    help = "Run beat's schedule in this process (the embedded default, which has no broker and no beat)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="run every scheduled task once, then exit")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.CELERY_BROKER_URL:
            raise CommandError(
                "A broker is configured (CELERY_BROKER_URL): run `celery -A consortium beat` and a worker "
                "instead of run_schedule, which is for the embedded default."
            )
        app.loader.import_default_modules()  # the apps' tasks modules, as a worker imports them
        # Two lines per task every few seconds would drown the server's log it shares a console with:
        # successes at DEBUG, failures still logged (run_task).
        logging.getLogger("celery.app.trace").setLevel(logging.WARNING)
        entries = settings.CELERY_BEAT_SCHEDULE
        try:
            failed = [name for name, entry in entries.items() if not run_task(entry["task"])]
            if not options["once"]:
                self._loop(Schedule(entries, app.now()), time.sleep)
        except KeyboardInterrupt:  # Ctrl-C reaches the server and this process alike: stop quietly
            return
        if failed:
            raise CommandError(f"Scheduled tasks failed: {', '.join(failed)} (see the log).")

    def _loop(self, schedule: Schedule, sleep: Callable[[float], None]) -> None:
        while True:
            due, next_in = schedule.due(app.now())
            for name in due:
                run_task(schedule.tasks[name])
            sleep(next_in)
