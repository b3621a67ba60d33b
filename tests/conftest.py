"""Shared fixtures: API clients, and the rule that PostgreSQL-only tests run only against PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import connection
from rest_framework.test import APIClient

pytest_plugins = ["tests.ledger_support"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    skip = pytest.mark.skip(reason="PostgreSQL-only behaviour: runs in CI's PostgreSQL pass (DATABASE_URL)")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"
