"""App config for incentive credit (its own tables and migrations, inside the ledger app's package)."""

from django.apps import AppConfig


class CreditConfig(AppConfig):
    name = "ledger.credit"
    label = "credit"
    verbose_name = "Credit"
    default_auto_field = "django.db.models.BigAutoField"
