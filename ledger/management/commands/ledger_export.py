"""Export the ledger as JSON Lines (header, keys, checkpoints, entries), streamed in constant memory."""

from __future__ import annotations

import errno
import os
import sys
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ledger.export import write_export


class Command(BaseCommand):
    help = "Write the ledger to PATH ('-' for standard output) for `python -m ledger.verify PATH`."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path")

    def handle(self, *args: object, path: str, **options: object) -> None:
        try:
            count = write_export(sys.stdout) if path == "-" else _export_to(Path(path))
        except OSError as exc:
            raise CommandError(f"Cannot write {path or repr(path)}: {exc.strerror}") from exc
        if path != "-":
            self.stderr.write(f"exported {count} entries to {path}")


def _export_to(path: Path) -> int:
    """Write the export to `path`, replacing a file there only once the whole export is written: a failure
    (a full disk, an interrupt) leaves no half-written export, and the previous one in place. A device or
    pipe (not a regular file) is written to directly."""
    if path.exists() and not path.is_file() and not path.is_dir():
        with path.open("w", encoding="utf-8") as handle:
            return write_export(handle)
    if path.is_dir():  # named here: the temporary file would otherwise go into it
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            count = write_export(handle)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it 0600: give it a new file's mode
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return count


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
