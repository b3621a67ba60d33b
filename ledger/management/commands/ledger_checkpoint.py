"""Sequence pending entries and sign a checkpoint now (beat does this on schedule in production)."""

from django.core.management.base import BaseCommand

from ledger.services import checkpoint_issue


class Command(BaseCommand):
    help = "Integrate pending ledger entries and sign a checkpoint of the current tree."

    def handle(self, *args: object, **options: object) -> None:
        checkpoint = checkpoint_issue()
        self.stdout.write(
            f"checkpoint: size {checkpoint.tree_size}, root {bytes(checkpoint.root_hash).hex()}"
        )
