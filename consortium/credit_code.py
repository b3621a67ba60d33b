"""The unified social credit code of GB 32100-2015: format and check-character validation, framework-free.

An 18-character code is: registration authority (1), organisation type (1), administrative division (6
digits), organisation code (9, GB 11714), check character (1). Characters come from the 31-symbol alphabet
0-9 and A-Y without I, O, S, V, Z; the check character is 31 - (sum of value x 3^(i-1) mod 31) mod 31 over
the first 17 characters.
"""

from __future__ import annotations

import unicodedata

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {char: index for index, char in enumerate(ALPHABET)}
_WEIGHTS = [pow(3, i, 31) for i in range(17)]
# Registration authorities (first character) and the organisation types each may register (second).
_AUTHORITY_TYPES = {
    "1": "129",  # organisation establishment (institutions, public bodies)
    "5": "1239",  # civil affairs (social organisations, foundations)
    "9": "123",  # market regulation (enterprises, individual businesses, farmers' cooperatives)
    "Y": "1",  # other
}
for _authority in "2345678ABCDEFGN":
    _AUTHORITY_TYPES.setdefault(_authority, "19")


class CreditCodeError(ValueError):
    """The code is not a valid unified social credit code; the message says what is wrong."""


def check_character(first17: str) -> str:
    """The GB 32100-2015 check character for the first 17 characters (which must be in the alphabet)."""
    total = sum(_VALUE[char] * weight for char, weight in zip(first17, _WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def normalise(code: str) -> str:
    """Strip surrounding white space and upper-case: codes are printed in capitals. Full-width letters and
    digits, which a Chinese input method types in its full-width mode, become their ASCII forms (NFKC)."""
    return unicodedata.normalize("NFKC", code).strip().upper()


def validate(code: str) -> str:
    """Return the normalised code, or raise CreditCodeError naming the first thing that is wrong."""
    code = normalise(code)
    if len(code) != 18:
        raise CreditCodeError(f"A unified social credit code has 18 characters; this one has {len(code)}.")
    for position, char in enumerate(code, start=1):
        if char not in _VALUE:
            raise CreditCodeError(
                f"Character {position} ('{char}') is not allowed: "
                "codes use 0-9 and A-Y without I, O, S, V, Z."
            )
    authority, org_type = code[0], code[1]
    if authority not in _AUTHORITY_TYPES:
        raise CreditCodeError(f"'{authority}' is not a registration authority code (character 1).")
    if org_type not in _AUTHORITY_TYPES[authority]:
        raise CreditCodeError(
            f"'{org_type}' is not an organisation type of registration authority '{authority}' (character 2)."
        )
    if not code[2:8].isdigit():
        raise CreditCodeError("Characters 3-8 must be the 6-digit administrative division code.")
    expected = check_character(code[:17])
    if code[17] != expected:
        raise CreditCodeError(
            f"The check character (character 18) is '{code[17]}' "
            f"but the first 17 characters require '{expected}'."
        )
    return code
