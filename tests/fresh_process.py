"""Requests answered by a process started afresh under an environment of the test's choosing: a database that
does not answer, one never migrated, a broker that is down. Such a process cannot share the test's database
connection (the test database is in memory on SQLite, and inside a transaction on PostgreSQL), so it runs
in its own interpreter, as a web process would, with Django's test client and DEBUG off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

_SCRIPT = """
import json, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "consortium.settings")
import django
django.setup()
from django.test import Client
client = Client(raise_request_exception=False)
answers = []
for method, path, options in json.loads(sys.argv[1]):
    response = getattr(client, method)(path, **options)
    answers.append({
        "status": response.status_code,
        "content_type": response.get("Content-Type", ""),
        "retry_after": response.get("Retry-After"),
        "body": response.content.decode("utf-8", "replace"),
    })
print(json.dumps(answers))
"""


def answers(
    requests: list[tuple[str, str, dict[str, Any]]], tmp_path: Path, **env: str
) -> list[dict[str, Any]]:
    """Each request's status, Content-Type, Retry-After and body, from a fresh process in production mode
    (DEBUG off, a throwaway secret) with VAR_DIR in `tmp_path` and `env` on top."""
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
    }
    environment = {
        **base,
        "DEBUG": "false",
        "SECRET_KEY": "fresh-process-" + "x" * 50,
        "ALLOWED_HOSTS": "testserver",
        "SECURE_SSL_REDIRECT": "false",
        "LEDGER_GENERATE_DEV_KEY": "true",
        "VAR_DIR": str(tmp_path / "var"),
        **env,
    }
    result = python("-c", _SCRIPT, json.dumps(requests), env=environment)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def python(*argv: str, env: dict[str, str], timeout: int = 120) -> subprocess.CompletedProcess[str]:
    """`python <argv>` (this interpreter) run at the repository's root under exactly `env`, its output
    captured as text; its exit status is the caller's to check."""
    return subprocess.run(
        [sys.executable, *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`manage.py <args>` in a process of its own, under this environment without its database, broker or
    secret key (so the embedded defaults: SQLite under VAR_DIR, eager tasks, the development key), `env`
    on top."""
    own = {"DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY"}
    return python("manage.py", *args, env={**{k: v for k, v in os.environ.items() if k not in own}, **env})


def python_without_django(*argv: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    """`python <argv>` (see `python`) in this environment without Django's settings module or a database:
    how the offline verifier (python -m ledger.verify) runs on a machine with no Django project."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "DATABASE"))}
    return python(*argv, env=env, timeout=timeout)
