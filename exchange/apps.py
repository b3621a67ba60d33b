"""App config for the exchange."""

from django.apps import AppConfig


class ExchangeConfig(AppConfig):
    name = "exchange"
    verbose_name = "Exchange"

    def ready(self) -> None:
        from consortium.navigation import register_waiting
        from exchange import lookups  # noqa: F401  (registers JSONField's element_icontains)
        from exchange.home import waiting_for

        register_waiting(waiting_for)  # the home page lists the requests waiting for the user
