"""The portal's reading of milli-units: three decimals, so no figure is rounded away."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.credit import glossary
from ledger.credit.rules import DEMO_RULES, RULES_V1
from ledger.credit.templatetags.credit_units import account_label, cr, milli_text
from tests.ledger.credit.support import CHANGED_RULES


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
    from ledger.credit.settlement.flags import FLAG_RULES

    assert set(glossary.RULE_WORDS) == {*FLAG_RULES, "duplicate_listing"}
    assert all(rule.label and rule.detects and rule.effect for rule in glossary.rules(RULES_V1).values())
    assert glossary.metric("odd") == ("odd", "count")
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


def test_flag_windows_and_limits_read_as_the_rules_words_do_and_measured_times_to_the_millisecond() -> None:
    from ledger.credit.templatetags.credit_terms import metric

    assert ">24 hours</data>" in metric("window_seconds", 86_400)
    assert ">a minute</data>" in metric("fast_limit_us", 60_000_000)
    assert ">12.244 s</data>" in metric("approval_delay_us", 12_244_000)
    assert ">12 seconds</data>" in metric("approval_delay_us", 12_000_000)
    assert ">0.000 s</data>" in metric("approval_delay_us", 0)


V1_WORDS = {  # what each rule detects, as the words read while v1's thresholds were written into them
    "duplicate_listing": "A file (the same SHA-256) was first registered by another group: the copy's "
    "downloads earn no points.",
    "reciprocity": "Two groups used each other's data both ways within 90 days, each side earning a sizeable "
    "and similar amount (the smaller at least half the larger): possibly downloads swapped to farm credit.",
    "ring": "Three or more groups earn mostly from each other in a loop (at least 60% of their points from "
    "inside it) and have fewer than three consumers outside it.",
    "fresh_cluster": "At least half of a provider's points came from groups less than 90 days old that list "
    "no data of their own: possibly members set up only to use its data.",
    "concentration": "One consumer group gave more than 60% of a provider's points.",
    "rubber_stamp": "Approvals that look unreviewed: a restricted request approved less than a minute after "
    "it was made, or three or more grants from one provider to one consumer within 24 hours.",
}
CHANGED_WORDS = {
    **V1_WORDS,
    "reciprocity": "Two groups used each other's data both ways within 30 days, each side earning a sizeable "
    "and similar amount (the smaller at least 75% of the larger): possibly downloads swapped to farm "
    "credit.",
    "ring": "Four or more groups earn mostly from each other in a loop (at least 70.5% of their points from "
    "inside it) and have fewer than one consumer outside it.",
    "fresh_cluster": "At least 60% of a provider's points came from groups less than a day old that list no "
    "data of their own: possibly members set up only to use its data.",
    "concentration": "One consumer group gave more than half of a provider's points.",
    "rubber_stamp": "Approvals that look unreviewed: a restricted request approved less than 5 minutes after "
    "it was made, or 12 or more grants from one provider to one consumer within an hour.",
}
PARAMETERS_OF = {  # the rules parameter behind each threshold the words state (settlement/flags.py)
    "reciprocity": {"reciprocity_window_days", "reciprocity_ratio_bps"},
    "ring": {"ring_min_size", "ring_inside_share_bps", "ring_outside_consumers_below"},
    "fresh_cluster": {"fresh_share_bps", "fresh_group_age_days"},
    "concentration": {"concentration_share_bps"},
    "rubber_stamp": {"rubber_stamp_grants", "rubber_stamp_window_seconds", "rubber_stamp_fast_seconds"},
}


def _detects(params: dict[str, int]) -> dict[str, str]:
    return {name: rule.detects for name, rule in glossary.rules(params).items()}


def test_the_words_state_the_thresholds_of_the_rules_passed_in_and_v1_reads_as_before() -> None:
    assert _detects(RULES_V1) == V1_WORDS
    assert _detects(CHANGED_RULES) == CHANGED_WORDS
    # the demo lowers only minimum amounts and the trust ramp, which the words leave out
    assert glossary.rules(DEMO_RULES) == glossary.rules(RULES_V1)


def test_each_threshold_in_the_words_is_its_own_rules_parameter() -> None:
    v1 = glossary.rules(RULES_V1)
    for name, parameters in PARAMETERS_OF.items():
        for parameter in parameters:
            moved = glossary.rules({**RULES_V1, parameter: CHANGED_RULES[parameter]})
            assert [rule for rule in v1 if moved[rule] != v1[rule]] == [name], parameter
    for parameter in set(RULES_V1) - set().union(*PARAMETERS_OF.values()):  # minimum amounts, fees, ...
        assert glossary.rules({**RULES_V1, parameter: RULES_V1[parameter] + 1}) == v1, parameter


@pytest.mark.parametrize(
    ("parameter", "value", "phrase"),
    [
        ("rubber_stamp_window_seconds", 0, "within 0 seconds."),
        ("rubber_stamp_window_seconds", 1, "within a second."),
        ("rubber_stamp_window_seconds", 45, "within 45 seconds."),
        ("rubber_stamp_window_seconds", 60, "within a minute."),
        ("rubber_stamp_window_seconds", 5400, "within 90 minutes."),
        ("rubber_stamp_window_seconds", 90000, "within 25 hours."),
        ("rubber_stamp_window_seconds", 172800, "within 2 days."),
        ("rubber_stamp_window_seconds", 604800, "within 7 days."),
        ("rubber_stamp_fast_seconds", 90, "less than 90 seconds after"),
        ("rubber_stamp_fast_seconds", 120, "less than 2 minutes after"),
        ("rubber_stamp_grants", 1200, "or 1,200 or more grants"),
        ("reciprocity_window_days", 1, "within a day,"),
        ("reciprocity_window_days", 1000, "within 1,000 days,"),
        ("reciprocity_ratio_bps", 5001, "at least 50.01% of the larger"),
        ("fresh_group_age_days", 0, "less than 0 days old"),
        ("ring_inside_share_bps", 6025, "at least 60.25% of their points"),
        ("ring_inside_share_bps", 5, "at least 0.05% of their points"),
        ("ring_inside_share_bps", 10000, "at least 100% of their points"),
        ("ring_inside_share_bps", 5000, "at least half of their points"),
        ("concentration_share_bps", 0, "more than 0% of"),
        ("ring_min_size", 10, "Ten or more groups"),
        ("ring_min_size", 11, "11 or more groups"),
        ("ring_outside_consumers_below", 0, "fewer than zero consumers outside"),
        ("ring_outside_consumers_below", 2, "fewer than two consumers outside"),
    ],
)
def test_durations_shares_and_counts_read_naturally(parameter: str, value: int, phrase: str) -> None:
    (name,) = [name for name, parameters in PARAMETERS_OF.items() if parameter in parameters]
    assert phrase in glossary.rule(name, {**RULES_V1, parameter: value}).detects


def test_a_later_rules_version_still_reads() -> None:
    """A rule this code does not know is shown as itself; a known rule whose parameter the rules no longer
    have, by its label alone (not with a threshold they no longer set)."""
    later = {name: value for name, value in RULES_V1.items() if name != "ring_min_size"}
    assert glossary.rule("later_rule", later) == glossary.Rule("later_rule", "", "")
    assert glossary.rule("ring", later) == glossary.Rule("Ring", "", "")
    assert glossary.rule("concentration", later) == glossary.rules(RULES_V1)["concentration"]
