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


def test_every_flag_rule_and_metric_has_words() -> None:
    from ledger.credit import glossary
    from ledger.credit.settlement.flags import FLAG_RULES

    assert set(glossary.RULES) == {*FLAG_RULES, "duplicate_listing"}
    assert all(rule.label and rule.detects and rule.effect for rule in glossary.RULES.values())
    assert glossary.rule("later_rule").label == "later_rule" and glossary.metric("odd") == ("odd", "count")
    # every metric a flag rule emits (the metrics={...} of settlement/flags.py) has its words
    import ast
    import inspect

    from ledger.credit.settlement import flags

    emitted = {
        key.value
        for node in ast.walk(ast.parse(inspect.getsource(flags)))
        if isinstance(node, ast.keyword) and node.arg == "metrics" and isinstance(node.value, ast.Dict)
        for key in node.value.keys
        if isinstance(key, ast.Constant)
    }
    assert len(emitted) >= 10 and emitted <= set(glossary.METRICS), emitted - set(glossary.METRICS)


def test_shares_and_durations_read_without_rounding() -> None:
    from ledger.credit.glossary import bps_text, duration_text

    assert bps_text(8571) == "85.71%" and bps_text(10000) == "100.00%" and bps_text(5) == "0.05%"
    assert duration_text(12_244_000) == "12.244 s" and duration_text(60_000_000) == "60.000 s"
    assert duration_text(12_244) == "0.012 s"
