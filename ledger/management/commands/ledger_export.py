"""Export the ledger as JSON Lines (header, keys, checkpoints, entries), streamed in constant memory."""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ledger.export import write_export


class Command(BaseCommand):
    help = "Write the ledger to PATH ('-' for standard output) for `python -m ledger.verify PATH`."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path")

    def handle(self, *args: object, path: str, **options: object) -> None:
        try:
            if path == "-":
                count = write_export(sys.stdout)
            else:
                with Path(path).open("w", encoding="utf-8") as handle:
                    count = write_export(handle)
        except OSError as exc:
            raise CommandError(f"Cannot write {path}: {exc.strerror}") from exc
        if path != "-":
            self.stderr.write(f"exported {count} entries to {path}")
