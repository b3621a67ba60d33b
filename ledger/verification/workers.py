"""The forked worker processes of a parallel full verification: each connects on its own, takes ranges
from the shared `_Claims` and sends back each range's result through its pipe."""

from __future__ import annotations

from collections.abc import Iterator
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

from django.db import DEFAULT_DB_ALIAS, connections

from ledger.verification.ranges import Windows, _RangeChecker, _RangeResult, _sizes_in

if TYPE_CHECKING:
    from ledger.verification import _Claims


def _work(pipe: Connection, claims: _Claims) -> None:
    """A forked worker: connects at once (while its parent sets up), then on the go-ahead (the key windows,
    origin and checkpoint sizes; None: nothing to check) checks the ranges it takes and sends each
    (low, high, result); then closes its connection and sends None.

    It inherited its parent's connection socket: it leaves that one alone and opens its own.
    """
    db = connections.create_connection(DEFAULT_DB_ALIAS)
    message: Exception | None = None
    try:
        try:
            db.ensure_connection()
            job = pipe.recv()
            if job is not None:
                windows, origin, sizes = job
                checker = _RangeChecker(db, windows, origin)
                while (taken := claims.take()) is not None:
                    low, high = taken
                    result = checker.check(low, high, _sizes_in(sizes, low, high))
                    if result.failure is not None:
                        claims.stop()
                    pipe.send((low, high, result))
        except Exception as exc:  # reported to the parent, which raises it
            message = RuntimeError(f"verification worker failed: {exc!r}")
        finally:
            db.close()
        pipe.send(message)
    except OSError:  # the parent has stopped listening (it has what it needs, or failed itself)
        pass
    finally:
        pipe.close()


class _Workers:
    """Forked worker processes checking ranges alongside this one, each with a pipe to it."""

    def __init__(self, count: int, claims: _Claims, context: Any) -> None:
        self.pipes: list[Connection] = []
        self.processes = []
        for _ in range(count):
            ours, theirs = context.Pipe()
            process = context.Process(target=_work, args=(theirs, claims), daemon=True)
            process.start()
            theirs.close()  # ours alone: a dead worker's pipe reads as closed
            self.pipes.append(ours)
            self.processes.append(process)
        self.running = list(self.pipes)
        self.finished = False  # every range checked and its result taken

    def start(self, job: tuple[Windows | None, str, list[int]] | None) -> None:
        for pipe in self.pipes:
            pipe.send(job)

    def results(self, timeout: float | None) -> Iterator[tuple[int, int, _RangeResult]]:
        """The results sent meanwhile (waiting up to `timeout` seconds for one, None: until one)."""
        ready: list[Any] = wait(self.running, timeout)
        for pipe in ready:
            try:
                message = pipe.recv()
            except EOFError:
                raise RuntimeError("a verification worker exited without finishing") from None
            if isinstance(message, BaseException):
                raise message
            if message is None:
                self.running.remove(pipe)
            else:
                yield message

    def close(self) -> None:
        """Stop the workers. Once every range is checked they only close their connections and exit: that
        takes milliseconds, not waited for (multiprocessing reaps them later). Otherwise (a failure, an
        error) the ones still running are stopped."""
        for pipe in self.pipes:
            pipe.close()
        if not self.finished:
            for pipe, process in zip(self.pipes, self.processes, strict=True):
                if pipe in self.running:
                    process.terminate()
                    process.join()
