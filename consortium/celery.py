"""The Celery application: CELERY_* settings; with no broker configured, tasks run eagerly in-process."""

import os
from typing import Any

from celery import Celery
from celery.signals import beat_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "consortium.settings")

app = Celery("consortium")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def in_memory_transport_without_a_broker(sender: Celery, **kwargs: Any) -> None:
    """With no broker the tasks run eagerly, yet Celery still builds a producer for each call (never
    connected): point it at the in-memory transport rather than the AMQP default on localhost, which it
    warned about ("No hostname was supplied") in every embedded process."""
    if not sender.conf.broker_url:
        sender.conf.broker_url = "memory://localhost/"


@beat_init.connect
def sign_checkpoint_when_beat_starts(sender: Any = None, **kwargs: Any) -> None:
    """Sign a checkpoint as soon as beat starts rather than one interval later, so that a new deployment's
    `/api/v1/ledger/checkpoints/latest/` is not 404 for a minute (a no-op when the tree has not grown)."""
    from ledger.tasks import issue_checkpoint_task  # beat imports this module before Django is set up

    issue_checkpoint_task.delay()
