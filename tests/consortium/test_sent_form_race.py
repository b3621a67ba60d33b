"""Two sendings of one portal form arriving at once at two web processes (forked processes with their own
PostgreSQL connections, sharing no memory) register one dataset: the second waits on the token's unique
index and then finds the dataset the first registered."""

from __future__ import annotations

import multiprocessing
from typing import Any

import pytest
from django.db import connections
from django.test import Client
from django.urls import reverse

from consortium.models import SentForm
from exchange.models import Dataset
from ledger import keys
from tests.exchange.support import REGISTRATION_FORM

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

MY_DATASETS = reverse("portal:my-datasets")


def test_two_sendings_at_once_in_two_processes_register_one_dataset(data_steward: Any) -> None:
    form = {**REGISTRATION_FORM, "sending": "a-token-the-page-made-1234"}
    clients = [Client(), Client()]
    for client in clients:
        client.force_login(data_steward)
    keys.active_signer()  # register the signing key before the children start
    connections.close_all()
    context = multiprocessing.get_context("fork")
    barrier, answers = context.Barrier(len(clients)), context.Queue()

    def send(client: Client) -> None:
        connections.close_all()  # never share the parent's socket
        try:
            barrier.wait(timeout=30)
            answers.put(client.post(MY_DATASETS, form)["Location"])
        except Exception as exc:  # reported to the test instead of dying with the process
            answers.put(repr(exc))
        finally:
            connections.close_all()

    processes = [context.Process(target=send, args=(client,)) for client in clients]
    for process in processes:
        process.start()
    sent = [answers.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=30)

    (dataset,) = Dataset.objects.filter(owner=data_steward.member)
    assert sent == [reverse("portal:dataset-detail", args=[dataset.pk])] * 2
    (taken,) = SentForm.objects.all()
    assert (taken.user_id, taken.form, taken.made) == (data_steward.pk, "dataset-register", str(dataset.pk))
