#!/usr/bin/env python3
"""The README's two commands: `serve` (install, migrate, seed the demo, run) and `test` (install, test).

Needs nothing but Python 3.11+: it creates .venv/ at the repository root and installs the project into it,
again only when pyproject.toml changes. Extra arguments after `test` go to pytest.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import signal
import subprocess
import sys
import venv
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
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


def manage(*args: str, env: dict[str, str] | None = None) -> None:
    run(PYTHON, "manage.py", *args, env=env)


# What `manage.py runserver` accepts as its address: "port", "host:port" or "[ipv6]:port" (Django's own rule).
RUNSERVER_ADDRESS = re.compile(
    r"^(?:(?P<host>\d{1,3}(?:\.\d{1,3}){3}|\[[a-fA-F0-9:]+\]|[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*):)?(?P<port>\d+)$"
)
# runserver's wildcard hosts, and the loopback address a browser on this machine reaches them at.
LOOPBACK_FOR = {"0": "127.0.0.1", "0.0.0.0": "127.0.0.1", "[::]": "[::1]"}  # noqa: S104 - a name to map, not a bind


def site_url(address: str) -> str:
    """The base URL at which a browser on this machine reaches `runserver <address>`.

    Raises SystemExit with a message if runserver would not accept the address.
    """
    match = RUNSERVER_ADDRESS.match(address)
    if match is None:
        raise SystemExit(f"{address!r} is not an address runserver takes: a port, host:port or [ipv6]:port.")
    host = match["host"] or "127.0.0.1"  # runserver's default host
    return f"http://{LOOPBACK_FOR.get(host, host)}:{match['port']}"


def serve_environment(address: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment for the served processes: SITE_URL is where this server listens, unless set already.

    E-mails link to SITE_URL (set-password links too), both those the seeding sends and those the running
    server sends, so it must follow the address served on; a SITE_URL the developer exported still wins.
    """
    env = dict(environ)
    env.setdefault("SITE_URL", site_url(address))
    return env


def serve(address: str) -> None:
    env = serve_environment(address, os.environ)  # first, so a bad address fails before any work
    url = env["SITE_URL"].rstrip("/")
    ensure_environment()
    say("migrating the database")
    manage("migrate", "--no-input", "-v", "0", env=env)
    say("seeding the demo consortium")
    manage("seed_demo", "--print-logins", env=env)  # prints its links on SITE_URL, as its mails are
    manage("ledger_checkpoint", env=env)  # before the first request: sign a first checkpoint now
    say(f"starting the service on {url}/ (Ctrl-C stops it)")
    # Stopped by a signal rather than Ctrl-C, stop the server and the schedule too (subprocess.run kills its
    # child on the way out) instead of leaving them running.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    with scheduled_tasks(env):
        manage("runserver", "--noreload", address, env=env)


@contextmanager
def scheduled_tasks(env: dict[str, str]) -> Iterator[None]:
    """Beat's schedule run beside the server (`manage.py run_schedule`: credit release and epochs, expiry,
    checkpoints), stopped with it. None where a broker is configured: beat runs the schedule there."""
    if env.get("CELERY_BROKER_URL"):
        yield
        return
    process = subprocess.Popen([str(PYTHON), "manage.py", "run_schedule"], cwd=ROOT, env=env)
    try:
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


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
