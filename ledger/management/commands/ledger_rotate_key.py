"""Rotate the ledger signing key: new key id, rotation recorded as an entry, old signatures stay valid."""

from django.core.management.base import CommandError

from consortium.errors import ServiceError
from consortium.management.base import OperatorCommand
from ledger.keys import SigningKeyUnavailable
from ledger.services import ForkDetected, checkpoint_issue, signing_key_rotate


class Command(OperatorCommand):
    help = (
        "Generate a new ledger signing key, publish it and record key.rotated; older receipts still verify."
    )

    def handle(self, *args: object, **options: object) -> None:
        try:
            key = signing_key_rotate()
        except ServiceError as exc:
            raise CommandError(exc.detail) from exc
        except SigningKeyUnavailable as exc:
            raise CommandError(str(exc)) from exc
        try:
            checkpoint = checkpoint_issue()
        except (ServiceError, SigningKeyUnavailable, ForkDetected) as exc:
            # The rotation has committed: say so, or an operator would rotate again.
            raise CommandError(
                f"The signing key was rotated (new key {key.key_id}), but no checkpoint could be signed "
                f"with it: {getattr(exc, 'detail', exc)}"
            ) from exc
        self.stdout.write(
            f"new signing key {key.key_id}, valid from {key.valid_from.isoformat()}; "
            f"checkpoint {checkpoint.tree_size} signed with it"
        )
