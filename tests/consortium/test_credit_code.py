"""The GB 32100-2015 check on real codes, and the message each kind of bad code gets."""

from __future__ import annotations

import pytest

from consortium import credit_code

REAL_CODES = ["914403001922038216", "9144030071526726XG", "91350100M000100Y43", "91330100716105852F"]


@pytest.mark.parametrize("code", REAL_CODES)
def test_real_codes_are_valid(code: str) -> None:
    assert credit_code.validate(code) == code


def test_lower_case_and_spaces_are_normalised() -> None:
    assert credit_code.validate("  9144030071526726xg ") == "9144030071526726XG"


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("91440300192203821", "has 18 characters; this one has 17"),
        ("9144030019220382167", "has 18 characters; this one has 19"),
        ("", "this one has 0"),
        ("91440300192203821I", "Character 18 ('I') is not allowed"),
        ("9144030O1922038216", "Character 8 ('O') is not allowed"),
        ("91440300S922038216", "Character 9 ('S') is not allowed"),
        ("9V4403001922038216", "Character 2 ('V') is not allowed"),
        ("Z14403001922038216", "Character 1 ('Z') is not allowed"),
        (
            "914403001922038217",
            "check character (character 18) is '7' but the first 17 characters require '6'",
        ),
        ("9144030071526726XH", "require 'G'"),
        ("H14403001922038216", "'H' is not a registration authority code"),
        ("984403001922038216", "'8' is not an organisation type of registration authority '9'"),
        ("9144A3001922038216", "Characters 3-8 must be the 6-digit administrative division code"),
    ],
)
def test_invalid_codes_say_what_is_wrong(code: str, message: str) -> None:
    with pytest.raises(credit_code.CreditCodeError) as excinfo:
        credit_code.validate(code)
    assert message in str(excinfo.value)


@pytest.mark.parametrize("code", REAL_CODES)
def test_check_character_reproduces_real_codes(code: str) -> None:
    assert credit_code.check_character(code[:17]) == code[17]
