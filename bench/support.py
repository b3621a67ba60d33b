"""What the benchmarks share: their own throwaway database, Django on it, and CPU time of a process and of
its PostgreSQL backend (which a shared machine's other load moves far less than wall-clock rates)."""

from __future__ import annotations

import multiprocessing
import os
import resource
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def recreate_database(url: str) -> None:
    """Drop and create the database `url` names (the benchmark's own, never a real one)."""
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def setup_django() -> None:
    """Django on DATABASE_URL, migrated."""
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) of this process, or of process `pid` (a PostgreSQL backend on this host)."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # the server runs elsewhere: its share is not counted
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_in_processes(
    target: Callable[..., None], args: Sequence[tuple[Any, ...]], timeout: float
) -> list[Any]:
    """Fork one process per `args`, each running `target(*args, start_at, results)` (a shared start time
    half a second ahead, and a queue for its one result); their results once all have finished. Leaving
    early (a timeout, SIGTERM turned into SystemExit) terminates and joins the workers still running."""
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    start_at = time.time() + 0.5
    workers = [context.Process(target=target, args=(*each, start_at, results)) for each in args]
    try:
        for worker in workers:
            worker.start()
        outcomes = [results.get(timeout=timeout) for _ in workers]
        for worker in workers:
            worker.join()
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
        for worker in workers:
            if worker.pid is not None:
                worker.join(timeout=10)
                if worker.is_alive():  # stuck past SIGTERM (e.g. flushing a large result to the queue)
                    worker.kill()
                    worker.join()
    return outcomes
