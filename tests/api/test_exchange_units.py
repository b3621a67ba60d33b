"""Credit amounts in the exchange API say their unit: the policy's price is whole credits and is not charged.

`price_credits` (whole credits, owner-set, recorded in signed entries) sat beside `shortfall_mcr` and
`fee_mcr` (milli-credits, what the credit rules charge) with nothing telling them apart.
"""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator


@pytest.mark.parametrize("component", ["Policy", "PublicPolicy", "PolicySetRequest"])
def test_the_price_says_its_unit_and_that_the_fee_is_charged_instead(component) -> None:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    description = schema["components"]["schemas"][component]["properties"]["price_credits"]["description"]
    assert "whole credits (1 CR = 1000 mCR)" in description
    assert "Not what is charged" in description and "fee_mcr" in description
