"""`manage.py credit_audit`: replay the ledger through the credit rules and diff transfers and balances."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ledger.credit.audit import credit_audit


class Command(BaseCommand):
    help = "Replay every credit entry through the rules and compare the stored transfers and balances."

    def handle(self, *args: Any, **options: Any) -> None:
        report = credit_audit()
        if report.divergence is not None:
            raise CommandError(str(report.divergence))
        self.stdout.write(
            f"OK: {report.entries} credit entries replayed; {report.transfers} transfers and "
            f"{report.accounts} accounts match."
        )
