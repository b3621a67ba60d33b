"""Export the ledger as JSON Lines (header, keys, checkpoints, entries), streamed in constant memory."""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import sys
from pathlib import Path

from django.core.management.base import CommandError

from consortium.management.base import OperatorCommand
from ledger import keys
from ledger.export import write_export


class Command(OperatorCommand):
    help = "Write the ledger to PATH ('-' for standard output) for `python -m ledger.verify PATH`."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path")

    def handle(self, *args: object, path: str, **options: object) -> None:
        if not path:  # '' would resolve to the working directory and be refused as "Is a directory"
            raise CommandError("Cannot write '': PATH is empty; name a file, or '-' for standard output.")
        mismatch = keys.origin_mismatch()
        if mismatch is not None:  # the header would name an origin none of the keys verifies under
            raise CommandError(mismatch)
        try:
            count = write_export(sys.stdout) if path == "-" else _export_to(Path(path))
        except OSError as exc:
            raise CommandError(f"Cannot write {path}: {exc.strerror}") from exc
        if path != "-":
            self.stderr.write(f"exported {count} entries to {path}")


def _export_to(path: Path) -> int:
    """Write the export to `path`, replacing a file there only once the whole export is on disk: a failure
    (a full disk, an interrupt, a power loss) leaves no half-written export, and the previous one in place.

    A symbolic link is followed (its target is replaced, the link kept); a file replaced keeps its mode (an
    export holds every member's entries: one made private stays private); a new file gets the mode the
    umask gives. A device or pipe (not a regular file), or a name under /dev or /proc such as /dev/stdout,
    is written to directly."""
    direct = path.exists() and not path.is_file() and not path.is_dir()
    if direct or path.absolute().parts[1:2] in (("dev",), ("proc",)):
        with path.open("w", encoding="utf-8") as handle:
            return write_export(handle)
    path = Path(os.path.realpath(path))
    if path.is_dir():  # named here: the temporary file would otherwise go into it
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    # O_EXCL: never another file of that name; 0o666 less the umask, as for any new file
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            count = write_export(handle)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            shutil.copymode(path, temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _sync_directory(path.parent)
    return count


def _sync_directory(directory: Path) -> None:
    """Make a rename in `directory` durable (where the platform allows opening a directory)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
