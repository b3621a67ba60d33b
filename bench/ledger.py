"""Ledger benchmarks on PostgreSQL, each printed as a ratio against a baseline measured in the same run.

    .venv/bin/python bench/ledger.py [--seconds 4] [--rounds 2] [--verify-entries 20000]
        [--proof-size 1000000]

1. Append: entries/s through `ledger_append` (sequenced after commit) at 1, 4 and 8 processes, against plain
   single-row INSERT + COMMIT of a row of the same size at the same concurrency. Target >= 0.7. Also printed:
   CPU per row (the appending processes and their PostgreSQL backends, from getrusage and /proc), which
   other load on the machine moves far less than the rates; its ratio is plain / ledger.
2. Full verification: entries/s of `verify_database(full=True)` against raw Ed25519 verify calls of as many
   different receipts in one process, per core used (two rounds, interleaved). Target >= 0.8 per core.
3. Proofs: inclusion and consistency proof time from stored subtrees at 10^6 leaves against 10^3.
   Target <= 3x.

Uses its own database (BENCH_DATABASE_URL, default consortium_bench on 127.0.0.1), dropped and created anew.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

from support import cpu_seconds, recreate_database, run_in_processes, setup_django

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DB = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/consortium_bench")
os.environ["DATABASE_URL"] = BENCH_DB
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "consortium.settings")
os.environ.setdefault("VAR_DIR", "/tmp/consortium-bench-var")  # noqa: S108 - a throwaway key for the run
os.environ["LOG_LEVEL"] = "WARNING"
# As in production, where beat signs checkpoints: no commit signs one (the embedded default's way, on
# without a broker, would put a signature into some append every minute).
os.environ["LEDGER_CHECKPOINT_AFTER_COMMIT"] = "false"
# Measure the production configuration: with DEBUG on, Django records every query and the after-commit
# sequencer runs after every commit instead of at most every 100 ms per process.
os.environ["DEBUG"] = "false"
os.environ.setdefault("SECRET_KEY", "bench-" + os.urandom(16).hex())


PAYLOAD = {"dataset": 1234, "version": "sha256:" + "ab" * 32, "purpose": "ai_model_training", "quota": 3}
# A kind that posts no credit: this measures the ledger's own append. A credit-bearing kind (such as
# data.downloaded) also takes the credit order under one row lock and writes its transfers; bench/credit.py
# measures that against this plain ledger append (issue 5: at most 30% more).
KIND = "bench.appended"


def _append_worker(mode: str, seconds: float, start_at: float, results: multiprocessing.Queue) -> None:
    from django.db import connection, connections, transaction

    from ledger.services import ledger_append

    connections.close_all()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    row = os.urandom(560)  # about the size of a ledger entry row: canonical bytes, hash, receipt, columns
    count = 0
    while time.time() < start_at:
        time.sleep(0.001)
    deadline = start_at + seconds
    cpu = cpu_seconds() + cpu_seconds(backend)
    while time.time() < deadline:
        if mode == "plain":
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("INSERT INTO bench_plain (payload) VALUES (%s)", [row])
        else:
            with transaction.atomic():
                ledger_append(
                    kind=KIND,
                    actor=None,
                    subject_type="grant",
                    subject_id=count,
                    members=[1, 2],
                    payload=PAYLOAD,
                )
        count += 1
    cpu = cpu_seconds() + cpu_seconds(backend) - cpu
    connections.close_all()
    results.put((count, cpu))


def measure_appends(mode: str, processes: int, seconds: float) -> tuple[float, float]:
    """Rows per second, and CPU seconds per row of the appending processes and their PostgreSQL backends
    (the inline sequencer runs in them; the machine's other load moves this far less than the rate)."""
    from django.db import connections

    connections.close_all()
    outcomes = run_in_processes(_append_worker, [(mode, seconds)] * processes, timeout=seconds + 60)
    count = sum(rows for rows, _ in outcomes)
    return count / seconds, sum(cpu for _, cpu in outcomes) / max(count, 1)


def bench_append(seconds: float, rounds: int = 2) -> list[tuple[int, float, float, float, float, float]]:
    """Per level: processes, plain rate, ledger rate, their ratio, and CPU per row plain and ledger."""
    from django.db import connection

    from ledger import keys
    from ledger.credit.engine import CREDIT_KINDS
    from ledger.services import ledger_sequence

    assert KIND not in CREDIT_KINDS

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_plain (id bigserial PRIMARY KEY, payload bytea NOT NULL)"
        )
    keys.active_signer()
    rows = []
    for processes in (1, 4, 8):
        plain, ledger = [], []
        for _ in range(rounds):  # interleave to share the machine's noise fairly
            plain.append(measure_appends("plain", processes, seconds))
            ledger.append(measure_appends("ledger", processes, seconds))
        ledger_sequence()
        p, g = statistics.mean(r for r, _ in plain), statistics.mean(r for r, _ in ledger)
        p_cpu, g_cpu = statistics.mean(c for _, c in plain), statistics.mean(c for _, c in ledger)
        rows.append((processes, p, g, g / p, p_cpu, g_cpu))
    return rows


def bench_verify(entries: int) -> tuple[int, float, float, float]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ledger.models import LedgerEntry
    from ledger.services import checkpoint_issue, ledger_append, ledger_sequence
    from ledger.verification import verify_database

    missing = entries - LedgerEntry.objects.count()
    for i in range(max(missing, 0)):
        ledger_append(kind="bench.fill", actor=None, subject_type="x", subject_id=i, payload=PAYLOAD)
    ledger_sequence()
    checkpoint_issue()
    count = LedgerEntry.objects.count()
    cores = os.cpu_count() or 1
    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    # as many different receipts as the ledger holds: the same message and signature every time would let
    # the CPU learn the path, which made the baseline about 4% faster than verifying real receipts
    messages = [b"receipt %d " % i + b"x" * 190 for i in range(count)]
    signed = [(key.sign(message), message) for message in messages]
    raw_rates, verify_rates = [], []
    for _ in range(2):  # interleaved, to share the machine's noise fairly
        started = time.perf_counter()
        for signature, message in signed:
            public.verify(signature, message)
        raw_rates.append(count / (time.perf_counter() - started))
        started = time.perf_counter()
        report = verify_database(full=True, workers=cores)
        verify_rates.append(count / (time.perf_counter() - started))
        assert report.ok, report.failure
    raw_rate, verify_rate = statistics.mean(raw_rates), statistics.mean(verify_rates)
    return count, raw_rate, verify_rate, verify_rate / raw_rate / cores


def build_tree(size: int) -> None:
    """Store the complete subtrees of a synthetic tree of `size` leaves (COPY, as a restore would)."""
    from django.db import connection

    from ledger import merkle

    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE ledger_ledgernode DISABLE TRIGGER USER")
        cursor.execute("TRUNCATE ledger_ledgernode")
        cursor.execute("ALTER TABLE ledger_ledgernode ENABLE TRIGGER USER")
    growing = merkle.CompactRange()
    raw = connection.connection
    buffer = io.StringIO()
    with (
        raw.cursor() as cursor,
        cursor.copy("COPY ledger_ledgernode (level, index, hash) FROM STDIN") as copy,
    ):
        for i in range(size):
            for level, index, digest in growing.append(merkle.hash_leaf(i.to_bytes(8, "big"))):
                buffer.write(f"{level}\t{index}\t\\\\x{digest.hex()}\n")
            if buffer.tell() > 1 << 20:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
        copy.write(buffer.getvalue())
    raw.commit()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE ledger_ledgernode")


def time_proofs(size: int, rounds: int = 300) -> tuple[float, float]:
    import random

    from ledger import tree

    rng = random.Random(size)
    inclusion, consistency = [], []
    for _ in range(rounds):
        index = rng.randrange(size)
        started = time.perf_counter()
        tree.inclusion_proof(index, size)
        inclusion.append(time.perf_counter() - started)
        old = rng.randrange(1, size)
        started = time.perf_counter()
        tree.consistency_proof(old, size)
        consistency.append(time.perf_counter() - started)
    return statistics.median(inclusion), statistics.median(consistency)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=4.0, help="duration of each append measurement")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved plain/ledger rounds per level")
    parser.add_argument("--verify-entries", type=int, default=20000)
    parser.add_argument("--proof-size", type=int, default=1_000_000)
    parser.add_argument("--skip", nargs="*", default=[], choices=["append", "verify", "proofs"])
    args = parser.parse_args()
    recreate_database(BENCH_DB)
    setup_django()
    print(f"machine: {os.cpu_count()} cores; database {BENCH_DB}")
    if "append" not in args.skip:
        print(
            "\n1. append (entries/s)     processes   plain INSERT+COMMIT   ledger_append   "
            "ratio (target >= 0.7)   CPU us/row: plain   ledger   ratio"
        )
        for processes, plain, ledger, ratio, plain_cpu, ledger_cpu in bench_append(args.seconds, args.rounds):
            print(
                f"{'':27}{processes:>5}   {plain:>19.0f}   {ledger:>13.0f}   {ratio:>5.2f}"
                f"{'':>37}{plain_cpu * 1e6:>5.0f}   {ledger_cpu * 1e6:>6.0f}   {plain_cpu / ledger_cpu:>5.2f}"
            )
    if "verify" not in args.skip:
        count, raw, rate, per_core = bench_verify(args.verify_entries)
        print(
            f"\n2. full verification of {count} entries: raw Ed25519 verify {raw:.0f}/s in one process; "
            f"ledger_verify --full {rate:.0f}/s on {os.cpu_count()} cores; ratio per core {per_core:.2f} "
            "(target >= 0.8)"
        )
    if "proofs" not in args.skip:
        build_tree(1000)
        small = time_proofs(1000)
        build_tree(args.proof_size)
        large = time_proofs(args.proof_size)
        print(
            f"\n3. proofs (median of 300): inclusion {small[0] * 1e3:.2f} ms at 10^3, "
            f"{large[0] * 1e3:.2f} ms at "
            f"{args.proof_size:.0e}: ratio {large[0] / small[0]:.2f}; consistency {small[1] * 1e3:.2f} ms, "
            f"{large[1] * 1e3:.2f} ms: ratio {large[1] / small[1]:.2f} (target <= 3)"
        )


if __name__ == "__main__":
    main()
