"""Sequence pending entries and sign a checkpoint now (beat does this on schedule in production)."""

from django.core.management.base import CommandError

from consortium.management.base import OperatorCommand
from ledger.keys import SigningKeyUnavailable
from ledger.services import ForkDetected, checkpoint_issue


class Command(OperatorCommand):
    help = "Integrate pending ledger entries and sign a checkpoint of the current tree."

    def handle(self, *args: object, **options: object) -> None:
        try:
            checkpoint = checkpoint_issue()
        except (SigningKeyUnavailable, ForkDetected) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"checkpoint: size {checkpoint.tree_size}, root {bytes(checkpoint.root_hash).hex()}"
        )
