"""App config for incentive credit (its own tables and migrations, inside the ledger app's package)."""

from django.apps import AppConfig


class CreditConfig(AppConfig):
    name = "ledger.credit"
    label = "credit"
    verbose_name = "Credit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from consortium.navigation import register_waiting
        from ledger.credit.home import waiting_for

        register_waiting(waiting_for)  # the home page lists the held mints waiting for an auditor
