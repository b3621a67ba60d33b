"""App config for the consortium domain."""

from typing import Any

from django.apps import AppConfig
from django.db.backends.signals import connection_created


def _fold_case_on_sqlite(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.vendor == "sqlite":
        from consortium.sqlite_unicode import register

        register(connection.connection)


class ConsortiumConfig(AppConfig):
    name = "consortium"
    verbose_name = "Consortium"

    def ready(self) -> None:
        connection_created.connect(_fold_case_on_sqlite, dispatch_uid="consortium.sqlite_unicode")
