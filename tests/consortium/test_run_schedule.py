"""`manage.py run_schedule`, the embedded default's beat: it catches up on every scheduled task at start, then
runs each when beat's schedule says, in its own process; it refuses to stand in for beat beside a broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from consortium.management.commands.run_schedule import Command, Schedule
from exchange.models import AccessRequest
from ledger.models import Checkpoint, LedgerEntry
from tests.exchange.support import post_request, published

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def embedded(settings) -> None:
    """The embedded default, which the command is for: no broker (CI's second pass configures Redis)."""
    settings.CELERY_BROKER_URL = ""


START = datetime(2026, 12, 1, 0, 0, 30, tzinfo=UTC)


def _due(schedule: Schedule, after: timedelta) -> list[str]:
    return sorted(schedule.due(START + after)[0])


def test_each_task_falls_due_when_beat_would_run_it() -> None:
    schedule = Schedule(django_settings.CELERY_BEAT_SCHEDULE, START)
    assert _due(schedule, timedelta(seconds=1)) == []
    sequencer = django_settings.LEDGER["SEQUENCER_INTERVAL_SECONDS"]
    assert "sequence-ledger" in _due(schedule, timedelta(seconds=sequencer))
    # the daily credit release at 00:05 UTC, the hourly epoch roll at minute 10, the file sweep at 03:20
    assert "release-credit" in _due(schedule, timedelta(minutes=5))
    assert "release-credit" not in _due(schedule, timedelta(minutes=6))  # once a day
    assert "roll-epoch" in _due(schedule, timedelta(minutes=10))
    expiry = django_settings.EXCHANGE["EXPIRY_INTERVAL_SECONDS"]
    assert "expire-requests" not in _due(schedule, timedelta(seconds=expiry - 1))
    assert {"expire-requests", "expire-grants"} <= set(_due(schedule, timedelta(seconds=expiry + 1)))
    assert "sweep-dataset-files" not in _due(schedule, timedelta(hours=3))
    assert "sweep-dataset-files" in _due(schedule, timedelta(hours=3, minutes=20))


def test_it_catches_up_at_start_then_runs_tasks_as_they_fall_due(
    settings, client_for, data_steward, other_analyst, monkeypatch
) -> None:
    settings.EXCHANGE = {**django_settings.EXCHANGE, "REQUEST_EXPIRY_DAYS": 14}
    response = post_request(client_for(other_analyst), published(data_steward, tier="restricted"))
    assert response.status_code == 201, response.content
    request_id = response.json()["request"]["id"]
    AccessRequest.objects.filter(pk=request_id).update(created_at=timezone.now() - timedelta(days=15))
    checkpoints = Checkpoint.objects.count()

    call_command("run_schedule", "--once")

    assert AccessRequest.objects.get(pk=request_id).state == "expired"
    assert LedgerEntry.objects.filter(kind="access.expired").count() == 1
    assert Checkpoint.objects.count() == checkpoints + 1  # the tree grew: the checkpoint task signed one

    # then the loop: each due task runs (here: a second expiry pass finds nothing more), until stopped
    ran: list[str] = []
    monkeypatch.setattr(
        "consortium.management.commands.run_schedule.run_task", lambda name: ran.append(name) or True
    )
    schedule = Schedule(django_settings.CELERY_BEAT_SCHEDULE, timezone.now() - timedelta(days=1))

    def stop_after_one_turn(seconds: float) -> None:
        assert 0 <= seconds <= 60
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Command()._loop(schedule, stop_after_one_turn)
    assert set(ran) == {entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()}


def test_a_failing_task_is_reported_and_the_others_still_run(monkeypatch) -> None:
    from consortium.management.commands import run_schedule
    from exchange import tasks

    def broken() -> int:
        raise RuntimeError("the mail server is down")

    monkeypatch.setattr(tasks.expire_requests_task, "run", broken)
    outcomes: dict[str, bool] = {}
    real_run_task = run_schedule.run_task

    def recorded(name: str) -> bool:
        outcomes[name] = real_run_task(name)
        return outcomes[name]

    monkeypatch.setattr(run_schedule, "run_task", recorded)
    with pytest.raises(CommandError, match=r"^Scheduled tasks failed: expire-requests "):
        call_command("run_schedule", "--once")
    tasks_scheduled = {entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()}
    assert outcomes == {name: name != "exchange.expire_requests_task" for name in tasks_scheduled}


def test_beside_a_broker_it_refuses_to_stand_in_for_beat(settings) -> None:
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    with pytest.raises(CommandError, match="celery -A consortium beat"):
        call_command("run_schedule", "--once")
