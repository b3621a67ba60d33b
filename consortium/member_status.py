"""What a member's status that is not active means for it from here on: the words every member_not_active
refusal ends with (roles.require, the API-key check, password links, adding people, the policy engine,
the portal's notices), so each says what is true of that status.

Only a suspended member is reinstated (consortium.services.membership's transitions); an applicant becomes
active when admitted; nothing leads back from withdrawn; a declined application stays declined, and the
firm may only apply again, which the officers decide afresh (services.member_apply reopens the record and
deactivates the people added for the declined application).

Pure (no Django): docs/api-errors.md is generated from consortium.api.problem_codes without settings.
The keys are consortium.models.MemberStatus's values.
"""

from __future__ import annotations

# status -> (how long, ending a refusal's sentence; how long, in the catalogue; what follows, if anything)
_OUTLOOK: dict[str, tuple[str, str, str]] = {
    "applied": (
        "until the consortium's officers admit its application",
        "until the consortium's officers admit its application",
        "",
    ),
    "suspended": (
        "until the consortium's officers reinstate it",
        "until the consortium's officers reinstate it",
        "",
    ),
    "withdrawn": (
        "any more",
        "for good",
        "A withdrawn member is never reinstated, and its credit code cannot apply again.",
    ),
    "declined": (
        "any more",
        "for good",
        "A declined application is never admitted; the firm may apply again, and the officers decide the new "
        "application afresh.",
    ),
}


def withheld_while(status: str, consequence: str) -> str:
    """`consequence` (what a member in `status`, other than active, is refused, e.g. "its people may not do
    this"), how long, and what follows, if anything, as one or two sentences: "its people may not do this
    until the consortium's officers reinstate it." """
    how_long, _, then = _OUTLOOK.get(status, ("", "", ""))
    return " ".join(part for part in (f"{consequence} {how_long}".rstrip() + ".", then) if part)


def not_active_detail(status: str, consequence: str, *, whose: str = "The member") -> str:
    """A member_not_active refusal's detail: "<whose> is <status>, not active: " and withheld_while's
    words, e.g. "Your member is suspended, not active: its people may not do this until the consortium's
    officers reinstate it." """
    return f"{whose} is {status}, not active: {withheld_while(status, consequence)}"


# The problem catalogue's advice for member_not_active: how long each status lasts, one after the other.
CATALOGUE_ADVICE = " ".join(
    " ".join(part for part in (f"{status.capitalize()}: {how_long}.", then) if part)
    for status, (_, how_long, then) in _OUTLOOK.items()
)
