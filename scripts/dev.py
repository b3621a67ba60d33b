#!/usr/bin/env python3
"""The README's two commands: `serve` (install, migrate, seed the demo, run) and `test` (install, test).

Needs nothing but Python 3.11+: it creates .venv/ at the repository root and installs the project into it,
again only when pyproject.toml changes. Extra arguments after `test` go to pytest.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def run(*args: str | os.PathLike[str], **kwargs: object) -> None:
    result = subprocess.run([str(arg) for arg in args], cwd=ROOT, check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        raise SystemExit(result.returncode)


def ensure_environment() -> None:
    """Create .venv and install the project with its dev extras, unless pyproject.toml is unchanged."""
    if sys.version_info < (3, 11):  # noqa: UP036 - runs on whatever python3 the user has
        raise SystemExit("Consortium Exchange needs Python 3.11 or newer.")
    if not PYTHON.exists():
        say(f"creating the virtual environment in {VENV.relative_to(ROOT)}/")
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    stamp = VENV / ".installed"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    say("installing dependencies (first run only; a minute or two)")
    run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(PYTHON, "-m", "pip", "install", "--quiet", "-e", ".[dev]")
    stamp.write_text(wanted)


def manage(*args: str) -> None:
    run(PYTHON, "manage.py", *args)


def serve(address: str) -> None:
    ensure_environment()
    say("migrating the database")
    manage("migrate", "--no-input", "-v", "0")
    say("seeding the demo consortium")
    manage("seed_demo", "--print-logins", "--site-url", f"http://{address}")
    manage("ledger_checkpoint")  # the embedded default has no beat: sign a first checkpoint on demand
    say(f"starting the service on http://{address}/ (Ctrl-C stops it)")
    manage("runserver", "--noreload", address)


def test(pytest_args: list[str]) -> None:
    ensure_environment()
    run(PYTHON, "-m", "pytest", *pytest_args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="install, migrate, seed the demo and run the service")
    serve_parser.add_argument("address", nargs="?", default="127.0.0.1:8000")
    commands.add_parser("test", help="install and run the whole test suite (extra arguments go to pytest)")
    args, rest = parser.parse_known_args()
    if args.command == "serve":
        serve(args.address)
    else:
        test(rest)


if __name__ == "__main__":
    main()
