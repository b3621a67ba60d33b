"""Portal forms of credit: an auditor's resolution of a held mint. The forms only parse; the service
(services.held_mint_resolve, as the API's resolve action calls it) decides."""

from __future__ import annotations

from django import forms

from consortium.forms import PortalForm

DECISIONS = [
    ("release", "Release: the member gets the mint"),
    ("forfeit", "Forfeit: the mint goes back to the pool"),
]


class HeldMintResolveForm(PortalForm):
    """Release or forfeit one held mint, with the reason the service requires (recorded in the ledger's
    `audit.resolved` entry)."""

    decision = forms.ChoiceField(choices=DECISIONS, widget=forms.RadioSelect, label="Decision")
    reason = forms.CharField(
        max_length=2000,
        label="Reason",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required: recorded with the decision in the ledger, which every auditor can read.",
        error_messages={"required": "Say why: the reason is recorded with the decision."},
    )
