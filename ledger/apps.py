"""App config for the ledger."""

from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "ledger"
    verbose_name = "Ledger"

    def ready(self) -> None:
        from ledger import health  # noqa: F401 - registers the signing key's readiness check
