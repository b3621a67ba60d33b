"""The exchange's own commands (consortium.management.base.OperatorCommand: seed_demo, credit_audit,
credit_epoch, ledger_checkpoint, ledger_export, ledger_rotate_key, ledger_verify) end an operator's mistake or
an outage as one line and a non-zero exit, never a traceback: a database not migrated or unreachable, lost
while the command runs, a signing key missing, unreadable or malformed, a checkpoint that does not exist."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection
from django.db.migrations.recorder import MigrationRecorder

from ledger import keys
from ledger.models import Checkpoint, LedgerEntry, SigningKey
from ledger.services import checkpoint_issue, ledger_append, ledger_sequence
from tests.fresh_process import ROOT, python, run_manage

pytestmark = pytest.mark.django_db

# Each command as an operator runs it, with arguments that would do real work.
COMMANDS = {
    "seed_demo": ["--allow-production"],  # tests run with DEBUG off
    "credit_audit": [],
    "credit_epoch": ["publish-rules"],
    "ledger_checkpoint": [],
    "ledger_export": ["{tmp}/ledger.jsonl"],
    "ledger_rotate_key": [],
    "ledger_verify": ["--no-progress"],
}


def run(name: str, tmp_path: Path, *extra: str) -> str:
    args = [arg.format(tmp=tmp_path) for arg in COMMANDS[name]]
    out = StringIO()
    call_command(name, *args, *extra, stdout=out, stderr=StringIO())
    return out.getvalue()


def append(n: int) -> None:
    for i in range(n):
        ledger_append(kind="test.fact", actor=None, subject_type="x", subject_id=i, payload={"n": i})
    ledger_sequence()


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_database_not_migrated_is_named_before_anything_runs(name, tmp_path) -> None:
    # The database's own record says a migration this code ships is missing (rolled back with the test).
    MigrationRecorder(connection).record_unapplied("ledger", "0001_initial")
    entries = LedgerEntry.objects.count()
    with pytest.raises(CommandError) as refused:
        run(name, tmp_path)
    assert str(refused.value) == (
        "The database is not migrated: 1 migration(s) not applied (ledger.0001_initial). "
        "Run `manage.py migrate` first."
    )
    assert LedgerEntry.objects.count() == entries  # nothing ran
    assert not (tmp_path / "ledger.jsonl").exists()


@pytest.mark.parametrize(
    ("name", "where"),
    [
        ("ledger_checkpoint", "ledger.management.commands.ledger_checkpoint.checkpoint_issue"),
        ("credit_audit", "ledger.credit.management.commands.credit_audit.credit_audit"),
        ("ledger_verify", "ledger.management.commands.ledger_verify.verify_database"),
    ],
)
def test_the_database_lost_while_a_command_runs_is_one_line(name, where, tmp_path, monkeypatch) -> None:
    def lost(*args: object, **kwargs: object) -> None:
        raise OperationalError(
            "consuming input failed: server closed the connection unexpectedly\n"
            "\tThis probably means the server terminated abnormally\n"
        )

    monkeypatch.setattr(where, lost)
    with pytest.raises(CommandError) as refused:
        run(name, tmp_path)
    message = str(refused.value)
    assert message.startswith(
        "The database failed while the command ran (consuming input failed: server closed the connection "
        "unexpectedly); what it had not committed is not written."
    )
    assert "\n" not in message


@pytest.mark.parametrize(
    ("setup", "says"),
    [
        (
            lambda tmp: {"SIGNING_KEY_PATH": str(tmp / "none.pem"), "GENERATE_DEV_KEY": False},
            "No ledger signing",
        ),
        (lambda tmp: {"SIGNING_KEY_PATH": str(tmp)}, "Is a directory"),
        (lambda tmp: {"SIGNING_KEY_PEM": "garbage"}, "at LEDGER_SIGNING_KEY is not an unencrypted Ed25519"),
        # The embedded default generates a development key, but not where it cannot write one.
        (
            lambda tmp: {"SIGNING_KEY_PATH": "/proc/no-such-dir/key.pem", "GENERATE_DEV_KEY": True},
            "Cannot write a development ledger signing key at /proc/no-such-dir/key.pem",
        ),
    ],
)
@pytest.mark.parametrize("name", ["seed_demo", "credit_epoch"])
def test_commands_that_sign_name_the_signing_keys_problem(name, setup, says, tmp_path, settings) -> None:
    settings.LEDGER = {**settings.LEDGER, **setup(tmp_path)}
    keys.forget_cached_signer()
    with pytest.raises(CommandError, match=says):
        run(name, tmp_path)
    assert not LedgerEntry.objects.exists() and not SigningKey.objects.exists()


def test_a_development_key_that_cannot_be_written_fails_the_checkpoint_as_one_line(settings) -> None:
    append(2)
    settings.LEDGER = {
        **settings.LEDGER,
        "SIGNING_KEY_PATH": "/proc/no-such-dir/key.pem",
        "GENERATE_DEV_KEY": True,
    }
    keys.forget_cached_signer()
    with pytest.raises(CommandError, match="Cannot write a development ledger signing key"):
        call_command("ledger_checkpoint", stdout=StringIO())
    assert not Checkpoint.objects.exists()


def test_ledger_verify_names_the_checkpoint_it_cannot_resume_from() -> None:
    append(3)
    checkpoint_issue()
    with pytest.raises(CommandError) as refused:
        call_command("ledger_verify", "--from-checkpoint", "999", "--no-progress", stdout=StringIO())
    # nothing failed: the ledger is sound and nothing was read, so the line must not say FAILED
    assert str(refused.value) == (
        "Cannot resume: no checkpoint of size 999 to resume from (the latest signed is of size 3). "
        "Nothing was verified; --from-checkpoint takes the size of a signed checkpoint."
    )
    for bad in ("-1", "three", "2.5"):
        with pytest.raises(CommandError, match="a checkpoint's tree size is a whole number 0 or more"):
            call_command("ledger_verify", "--from-checkpoint", bad, "--no-progress", stdout=StringIO())


@pytest.mark.parametrize("args", [["ledger_verify", "--no-progress"], ["seed_demo"]])
def test_an_unreachable_database_is_one_line_and_exit_1(args, tmp_path) -> None:
    result = run_manage(
        *args, VAR_DIR=str(tmp_path), DATABASE_URL="postgres://exchange:hunter2@127.0.0.1:1/exchange"
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "CommandError: Cannot use the database (DATABASE_URL, postgresql): connection failed: connection to "
        'server at "127.0.0.1", port 1 failed: Connection refused'
    ]


def test_a_database_never_migrated_is_one_line_and_exit_1(tmp_path) -> None:
    result = run_manage("credit_audit", VAR_DIR=str(tmp_path))  # a new VAR_DIR: a new, empty SQLite file
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("CommandError: The database is not migrated: ")
    assert line.endswith("Run `manage.py migrate` first.")


@pytest.mark.parametrize("args", [["help"], ["check"]])
def test_a_reader_that_closed_the_pipe_gets_no_traceback(args, tmp_path) -> None:
    """`manage.py <command> | head -c0`: the output was not delivered, so status 1, without a traceback
    (Django's commands write to stdout unguarded: BrokenPipeError went up to the interpreter)."""
    own = {"DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY"}
    env = {**{k: v for k, v in os.environ.items() if k not in own}, "VAR_DIR": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # before the command has written anything
    errors = process.stderr.read().decode()
    assert process.wait(timeout=120) == 1
    assert "Traceback" not in errors and "Exception ignored" not in errors, errors


# A command whose connection to the database or the broker breaks: its socket raises BrokenPipeError,
# while the reader of its output is still there.
_A_SOCKET_BREAKS = """
import socket, sys
import django.core.management
import manage

def execute_from_command_line(argv):
    print("written before the connection broke")
    ours, theirs = socket.socketpair()
    theirs.close()
    ours.sendall(b"SELECT 1")

django.core.management.execute_from_command_line = execute_from_command_line
sys.argv = ["manage.py", "check"]
manage.main()
"""


def test_a_broken_pipe_that_is_not_the_readers_is_reported(tmp_path) -> None:
    """Only a reader that closed stdout is silent: a BrokenPipeError from anything else ended the command
    with status 1 and not a word of why."""
    own = {"DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY"}
    env = {**{k: v for k, v in os.environ.items() if k not in own}, "VAR_DIR": str(tmp_path)}
    result = python("-c", _A_SOCKET_BREAKS, env=env)
    assert result.returncode == 1
    assert result.stdout == "written before the connection broke\n"
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "BrokenPipeError: [Errno 32] Broken pipe"
