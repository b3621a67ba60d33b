"""`manage.py credit_audit`: replay the ledger through the credit rules and diff what the database holds."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from consortium.management.base import OperatorCommand
from ledger.credit.audit import credit_audit
from ledger.credit.replay import overdue_report


class Command(OperatorCommand):
    help = (
        "Replay every credit entry through the rules and compare the stored transfers, account balances, "
        "epochs and uses, and look for provider fee legs pending past their dispute window; exit non-zero "
        "naming the first divergence or every overdue leg."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = credit_audit()
        if report.divergence is not None:
            raise CommandError(str(report.divergence))
        if report.overdue:
            raise CommandError(overdue_report(report.overdue, report.clock_us))
        self.stdout.write(
            f"OK: {report.entries} credit entries replayed; all match: transfers {report.transfers}, "
            f"accounts {report.accounts}, epochs {report.epochs}, uses {report.uses}."
        )
