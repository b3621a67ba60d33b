"""scripts/dev.py: `serve` links e-mails to the address it serves on; an exported SITE_URL stays."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def dev() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dev_script", ROOT / "scripts" / "dev.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("address", "url"),
    [
        ("127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("8001", "http://127.0.0.1:8001"),  # runserver's default host
        ("localhost:9000", "http://localhost:9000"),
        ("0.0.0.0:8080", "http://127.0.0.1:8080"),  # a wildcard is reached on loopback
        ("0:8080", "http://127.0.0.1:8080"),
        ("[::]:8080", "http://[::1]:8080"),
        ("[::1]:8002", "http://[::1]:8002"),
    ],
)
def test_site_url_is_where_runserver_listens(dev: ModuleType, address: str, url: str) -> None:
    assert dev.site_url(address) == url


@pytest.mark.parametrize("address", ["http://127.0.0.1:8000", "127.0.0.1:", "host:port", ""])
def test_an_address_runserver_refuses_stops_with_a_message(dev: ModuleType, address: str) -> None:
    with pytest.raises(SystemExit, match="not an address runserver takes"):
        dev.site_url(address)


def _serve(
    dev: ModuleType, monkeypatch: pytest.MonkeyPatch, address: str
) -> list[tuple[tuple[str, ...], Any]]:
    calls: list[tuple[tuple[str, ...], Any]] = []
    monkeypatch.setattr(dev, "ensure_environment", lambda: None)
    monkeypatch.setattr(dev, "run", lambda *args, **kwargs: calls.append((tuple(map(str, args)), kwargs)))
    monkeypatch.setattr(dev.subprocess, "Popen", lambda args, **kwargs: _Started(args, kwargs, calls))
    dev.serve(address)
    return calls


class _Started:
    """A process `serve` starts beside the server: recorded with its start, and its stop, among the calls."""

    def __init__(self, args: list[str], kwargs: Any, calls: list[tuple[tuple[str, ...], Any]]) -> None:
        self.calls = calls
        calls.append((tuple(args), kwargs))

    def terminate(self) -> None:
        self.calls.append((("", "", "stopped"), {"env": self.calls[-1][1]["env"]}))

    def wait(self, timeout: float) -> int:
        return 0


def test_serve_on_another_port_gives_every_process_that_site_url(
    dev: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SITE_URL", raising=False)
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)  # the embedded default (CI's second pass sets one)
    calls = _serve(dev, monkeypatch, "127.0.0.1:8001")
    commands = [args[2] for args, _ in calls]
    # beat's schedule runs beside the server (the embedded default has no beat), and stops with it
    assert commands == ["migrate", "seed_demo", "ledger_checkpoint", "run_schedule", "runserver", "stopped"]
    # The seeding's mails and the running server's (set-password links too) are built on SITE_URL.
    assert all(kwargs["env"]["SITE_URL"] == "http://127.0.0.1:8001" for _, kwargs in calls)
    assert calls[-2][0][-1] == "127.0.0.1:8001"


def test_serve_beside_a_broker_leaves_the_schedule_to_beat(
    dev: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    commands = [args[2] for args, _ in _serve(dev, monkeypatch, "8001")]
    assert commands == ["migrate", "seed_demo", "ledger_checkpoint", "runserver"]


def test_serve_keeps_an_exported_site_url(dev: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SITE_URL", "https://tunnel.example.net")
    calls = _serve(dev, monkeypatch, "8001")
    assert {kwargs["env"]["SITE_URL"] for _, kwargs in calls} == {"https://tunnel.example.net"}


def test_the_served_environment_sets_the_django_setting(dev: ModuleType) -> None:
    unset = {name: value for name, value in os.environ.items() if name != "SITE_URL"}
    env = dev.serve_environment("127.0.0.1:8765", unset)
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from django.conf import settings; print(settings.SITE_URL)",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.splitlines()[-1] == "http://127.0.0.1:8765"
