"""The Celery application: CELERY_* settings; with no broker configured, tasks run eagerly in-process."""

import os
from typing import Any

from celery import Celery
from celery.signals import beat_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "consortium.settings")

app = Celery("consortium")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@beat_init.connect
def sign_checkpoint_when_beat_starts(sender: Any = None, **kwargs: Any) -> None:
    """Sign a checkpoint as soon as beat starts rather than one interval later, so that a new deployment's
    `/api/v1/ledger/checkpoints/latest/` is not 404 for a minute (a no-op when the tree has not grown)."""
    from ledger.tasks import issue_checkpoint_task  # beat imports this module before Django is set up

    issue_checkpoint_task.delay()
