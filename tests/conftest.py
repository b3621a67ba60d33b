"""Shared fixtures: API clients, people of two members and staff, the demo consortium, and the rule that
PostgreSQL-only tests run only against PostgreSQL."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
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


# --- Consortium roles (members, people, API keys) -------------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Throttle counters live in the cache; each test starts with none."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def member(db):
    from tests.factories import MemberFactory

    return MemberFactory(legal_name="Own Firm Co., Ltd.")


@pytest.fixture
def other_member(db):
    from tests.factories import MemberFactory

    return MemberFactory(legal_name="Other Firm Co., Ltd.")


def _person(member, role, name):
    from tests.factories import UserFactory

    return UserFactory(username=name, member=member, member_role=role)


@pytest.fixture
def member_admin(member):
    return _person(member, "member_admin", "own-admin")


@pytest.fixture
def data_steward(member):
    return _person(member, "data_steward", "own-steward")


@pytest.fixture
def analyst(member):
    return _person(member, "analyst", "own-analyst")


@pytest.fixture
def other_admin(other_member):
    return _person(other_member, "member_admin", "other-admin")


@pytest.fixture
def other_analyst(other_member):
    return _person(other_member, "analyst", "other-analyst")


@pytest.fixture
def other_steward(other_member):
    return _person(other_member, "data_steward", "other-steward")


@pytest.fixture
def officer(db):
    from tests.factories import StaffFactory

    return StaffFactory(username="officer", consortium_role="officer")


@pytest.fixture
def security_officer(db):
    from tests.factories import StaffFactory

    return StaffFactory(username="security", consortium_role="security_officer")


@pytest.fixture
def auditor(db):
    from tests.factories import StaffFactory

    return StaffFactory(username="auditor", consortium_role="auditor")


@pytest.fixture
def client_for(api_client):
    """client_for(user) -> an APIClient logged in as `user` (a fresh client each call)."""

    def make(user):
        client = APIClient()
        if user is not None:
            client.force_login(user)
        return client

    return make


@pytest.fixture
def key_client(member_admin):
    """key_client(scopes) -> (APIClient sending `Api-Key <key>` for the own member, key, raw key)."""
    from tests.factories import make_api_key

    def make(scopes):
        key, raw = make_api_key(admin=member_admin, scopes=list(scopes))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
        return client, key, raw

    return make


@pytest.fixture(autouse=True)
def _media(settings, tmp_path) -> None:
    """Stored files (dataset versions) go to the test's own folder, never to var/media."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    """Factories hash a password per user; the production hasher's work factor would dominate test time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def celery_tasks_run_in_process():
    """Tests run tasks in-process even when CI points CELERY_BROKER_URL at the real Redis, so each test
    sees its own tasks' effects; tests/api/test_broker.py sends a task through that broker to a worker."""
    from consortium.celery import app

    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous


@pytest.fixture
def demo(settings) -> None:
    """The demo consortium (manage.py seed_demo), for tests that open the portal as its people."""
    settings.DEBUG = True  # seed_demo refuses to load published logins otherwise
    call_command("seed_demo", stdout=StringIO())
    settings.DEBUG = False  # the error pages as production renders them (with DEBUG, Django's own)
