"""`manage.py credit_epoch open|release|settle|roll`: the epoch steps beat runs, on demand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from consortium.errors import ServiceError
from consortium.management.base import OperatorCommand
from ledger.credit import services

_STEPS_TAKING = {"--epoch": ("open", "settle"), "--early": ("settle",), "--file": ("publish-rules",)}


class Command(OperatorCommand):
    help = "Run a credit epoch step now: open an epoch, release due credit, settle an epoch, or roll."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("step", choices=["publish-rules", "open", "release", "settle", "roll"])
        parser.add_argument("--epoch", help="YYYY-MM (open: default this month; settle: required)")
        parser.add_argument(
            "--early", action="store_true", help="settle before the month has ended (embedded default)"
        )
        parser.add_argument(
            "--file", help="publish-rules: a JSON object of every rules parameter (default: rules v1)"
        )

    def handle(
        self, *args: Any, step: str, epoch: str | None, early: bool, file: str | None, **options: Any
    ) -> None:
        given = {"--epoch": epoch is not None, "--early": early, "--file": file is not None}
        for option in (name for name, present in given.items() if present):
            if step not in _STEPS_TAKING[option]:
                # ignored, it would let the output describe a step that was not the one asked for
                raise CommandError(f"{step} does not take {option}; see `manage.py credit_epoch --help`.")
        try:
            if step == "publish-rules":
                entry = services.credit_rules_publish(actor=None, params=_read_params(file))
                self.stdout.write(f"rules published: {entry.kind} {entry.uid}")
            elif step == "open":
                services.credit_epoch_open(epoch=epoch)
                self.stdout.write(f"epoch opened: {epoch or 'this month'}")
            elif step == "release":
                released = services.credit_release()
                self.stdout.write("released" if released is not None else "nothing to release today")
            elif step == "settle":
                if not epoch:
                    raise CommandError("settle needs --epoch YYYY-MM")
                services.credit_epoch_settle(epoch=epoch, early=early)
                self.stdout.write(f"epoch settled: {epoch}")
            else:
                self.stdout.write(f"roll: {len(services.credit_epoch_roll())} entries written")
        except ServiceError as exc:
            raise CommandError(f"{exc.code}: {exc}") from exc


def _read_params(path: str | None) -> object:
    """The parameters in the JSON file at `path` (None: the service's default, rules v1)."""
    if path is None:
        return None
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise CommandError(f"{path} is not JSON: {exc}") from exc
