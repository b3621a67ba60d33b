"""Verify the ledger in the database; exit non-zero naming the first bad sequence number and why."""

from __future__ import annotations

import sys
from argparse import ArgumentTypeError
from typing import Any

from django.core.management.base import CommandError, CommandParser
from tqdm import tqdm

from consortium.management.base import OperatorCommand
from consortium.numbers import whole_number
from ledger.tree import tree_size
from ledger.verification import verify_database


def _tree_size(text: str) -> int:
    """--from-checkpoint's value: a tree size, a whole number 0 or more (else a usage error)."""
    size = whole_number(text)
    if size is None:
        raise ArgumentTypeError(f"a checkpoint's tree size is a whole number 0 or more, not {text!r}")
    return size


def _workers(text: str) -> int:
    """--workers' value: a whole number in ASCII digits (else a usage error; handle refuses one below 1)."""
    workers = whole_number(text, signed=True)
    if workers is None:
        raise ArgumentTypeError(f"the number of processes is a whole number, 1 or more, not {text!r}")
    return workers


class Command(OperatorCommand):
    help = (
        "Recompute leaf hashes and the Merkle tree and check every checkpoint (fast); "
        "with --full, also every receipt signature, spread across CPU cores."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--full", action="store_true", help="also verify every receipt signature")
        parser.add_argument(
            "--from-checkpoint",
            type=_tree_size,
            metavar="SIZE",
            help="resume from the trusted checkpoint of this size",
        )
        parser.add_argument(
            "--workers", type=_workers, help="processes for --full (default: one per CPU core)"
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["workers"] is not None and options["workers"] < 1:
            raise CommandError("--workers must be 1 or more (without it: one per CPU core).")
        total = max(tree_size() - (options["from_checkpoint"] or 0), 0)
        bar = tqdm(total=total, unit="entry", file=sys.stderr, disable=options["no_progress"] or None)
        with bar:
            report = verify_database(
                full=bool(options["full"]),
                from_checkpoint=options["from_checkpoint"],
                workers=options["workers"],
                progress=bar.update,
            )
        if report.cannot_resume is not None:
            raise CommandError(
                f"Cannot resume: {report.cannot_resume}. Nothing was verified; --from-checkpoint takes the "
                "size of a signed checkpoint."
            )
        if not report.ok:
            raise CommandError(f"ledger verification FAILED at {report.failure}")
        mode = "full" if options["full"] else "fast"
        self.stdout.write(
            f"OK ({mode}): {report.entries} entries from size {report.started_at_size}, "
            f"{report.checkpoints} checkpoints, {report.receipts} receipts, root {report.root.hex()}"
        )
