"""The portal's reading of milli-units: three decimals, so no figure is rounded away."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ledger.credit.templatetags.credit_units import account_label, cr, milli_text


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_milli_text_keeps_every_milli_unit(amount: int) -> None:
    assert int(milli_text(amount).replace(",", "").replace(".", "")) == amount


def test_examples() -> None:
    assert milli_text(34728) == "34.728" and milli_text(-2000) == "-2.000" and milli_text(-5) == "-0.005"
    assert milli_text(3_997_091) == "3,997.091"
    assert str(cr(500, "held")) == '<data data-field="held" value="500" title="500 mCR">0.500 CR</data>'
    assert cr(None) == "\N{EN DASH}"
    assert (
        account_label("CR:member:7:allowance").startswith("Allowance")
        and account_label("CR:pool") == "CR:pool"
    )
