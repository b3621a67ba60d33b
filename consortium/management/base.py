"""The base of the exchange's own management commands (consortium, ledger, ledger.credit).

An operator's mistake or an outage outside the command's arguments ends as one line on stderr and exit
status 1 (Django's CommandError), never a traceback (`--traceback` still shows one):

- the database unreachable, or not migrated: checked before the command runs (consortium.health), so a
  command never starts work against a database it cannot finish with;
- the database lost while it runs (OperationalError, InterfaceError): what the command had not committed is
  not written (its entries and their state changes share a transaction), and the line says so;
- something the exchange needs unavailable (consortium.errors.Unavailable: the ledger's signing key);
- a refusal by a service (ServiceError): its code and detail.

Arguments argparse refuses (missing, unknown, not a number) already end as one usage line and exit 2.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import InterfaceError, OperationalError

from consortium.errors import ServiceError, Unavailable
from consortium.health import database_unavailable, first_line


class OperatorCommand(BaseCommand):
    """A command run against the exchange's database; see the module docstring."""

    def execute(self, *args: Any, **options: Any) -> str | None:
        problem = database_unavailable()
        if problem is not None:
            raise CommandError(problem)
        try:
            return super().execute(*args, **options)
        except (OperationalError, InterfaceError) as exc:
            raise CommandError(
                f"The database failed while the command ran ({first_line(exc)}); what it had not committed "
                "is not written. Run it again once the database answers."
            ) from exc
        except Unavailable as exc:
            raise CommandError(str(exc)) from exc
        except ServiceError as exc:
            raise CommandError(f"{exc.code}: {exc.detail}") from exc
