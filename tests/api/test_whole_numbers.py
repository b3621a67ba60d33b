"""Numbers read from text (query parameters, bodies, URL paths, command options, settings) take ASCII digits
only: int() and DRF's and Django's integer fields also read "1.0", " 1", "+1" and other scripts' digits as
1, and a path of thousands of digits made int() raise, a 500."""

from __future__ import annotations

from argparse import ArgumentTypeError

import pytest
from django.core.exceptions import ImproperlyConfigured

from consortium import environment
from consortium.numbers import BEYOND_ANY_RANGE, path_number, whole_number
from exchange.models import AccessRequest, Grant
from ledger.management.commands.ledger_verify import _tree_size, _workers
from tests.api.test_problems import assert_problem
from tests.exchange.support import post_request, published
from tests.ledger.test_ledger_api import client_for as ledger_client
from tests.ledger.test_ledger_api import world  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db

LENIENT = ["1.0", " 1", "1 ", "+1", "1_0", "\u0661", "\u00b2", "0x1", "1e0", ""]
THOUSANDS_OF_DIGITS = "1" * 5000


@pytest.mark.parametrize(
    ("text", "signed", "number"),
    [
        ("0", False, 0),
        ("007", False, 7),
        ("9223372036854775807", False, 2**63 - 1),
        ("-3", True, -3),
        ("-0", True, 0),
        ("1" * 31, False, BEYOND_ANY_RANGE),
        ("-" + "1" * 31, True, -BEYOND_ANY_RANGE),
        ("0" * 40 + "5", False, 5),  # leading zeros are not significant digits
        (THOUSANDS_OF_DIGITS, False, BEYOND_ANY_RANGE),
        ("-3", False, None),
        ("--3", True, None),
        *((text, True, None) for text in LENIENT),
    ],
)
def test_whole_number_reads_ascii_digits_only(text, signed, number) -> None:
    assert whole_number(text, signed=signed) == number


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("1" * 31, "1" * 31),
        ("-" + "2" * 40, "-" + "2" * 40),
        ("0" * 10 + "3" * 40, "3" * 40),
        ("4" * 41, "4" * 20 + "\u2026 (41 digits)"),
        ("-" + THOUSANDS_OF_DIGITS, "-" + "1" * 20 + "\u2026 (5,000 digits)"),
    ],
)
def test_a_number_beyond_any_range_is_named_as_it_was_written(text, shown) -> None:
    # It was named 10**30, whatever was written; int() would refuse the longest.
    number = whole_number(text, signed=True)
    assert abs(number) == BEYOND_ANY_RANGE
    assert str(number) == f"{number}" == shown


def test_path_number_refuses_what_the_url_pattern_could_not_have_matched() -> None:
    assert path_number(THOUSANDS_OF_DIGITS) == BEYOND_ANY_RANGE
    with pytest.raises(ValueError, match="WHOLE_NUMBER_PATTERN"):
        path_number("\u0661")


# --- query parameters -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [v for v in LENIENT if v])
@pytest.mark.parametrize(
    ("path", "params", "name"),
    [
        ("/api/v1/ledger/proofs/inclusion/", {"tree_size": 8}, "seq"),
        ("/api/v1/ledger/proofs/inclusion/", {"seq": 0}, "tree_size"),
        ("/api/v1/ledger/proofs/consistency/", {"second": 8}, "first"),
        ("/api/v1/ledger/proofs/consistency/", {"first": 1}, "second"),
    ],
)
def test_a_proof_parameter_that_is_not_ascii_digits_is_invalid(world, path, params, name, value) -> None:  # noqa: F811
    response = ledger_client(world["own"]).get(path, {**params, name: value})
    body = assert_problem(response, 400, "validation_error")
    assert name in body["errors"]


def test_the_same_proof_parameters_as_digits_are_answered(world) -> None:  # noqa: F811
    client = ledger_client(world["own"])
    assert client.get("/api/v1/ledger/proofs/inclusion/", {"seq": "0", "tree_size": "08"}).status_code == 200
    assert client.get("/api/v1/ledger/proofs/consistency/", {"first": "1", "second": "8"}).status_code == 200


@pytest.mark.parametrize("value", ["1.0", "\u0661", "+1", " 1"])
def test_an_id_filter_takes_ascii_digits_only(client_for, analyst, value) -> None:
    body = assert_problem(
        client_for(analyst).get(f"/api/v1/datasets/?owner={value}"), 400, "validation_error"
    )
    assert "owner" in body["errors"]


@pytest.mark.parametrize("value", ["1.0", "\u0661", "+1"])
def test_a_download_version_must_be_ascii_digits(client_for, data_steward, other_analyst, value) -> None:
    client = client_for(other_analyst)
    request = post_request(client, published(data_steward, tier="open")).json()["request"]
    grant = Grant.objects.get(request_id=request["id"])
    body = assert_problem(client.post(f"/api/v1/grants/{grant.pk}/download/?version={value}"), 400, "invalid")
    assert "version" in body["errors"]
    assert client.post(f"/api/v1/grants/{grant.pk}/download/?version=01").status_code == 200


@pytest.mark.parametrize("path", ["/api/v1/credit/transfers/", "/api/v1/credit/flags/"])
def test_an_epoch_is_written_in_ascii_digits(client_for, auditor, path) -> None:
    response = client_for(auditor).get(path, {"epoch": "\u0662\u0660\u0662\u0666-\u0660\u0661"})
    body = assert_problem(response, 400, "validation_error")
    assert "epoch" in body["errors"]
    assert client_for(auditor).get(path, {"epoch": "2026-01"}).status_code == 200


# --- bodies -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("dataset", "{dataset}.0"),
        ("dataset", 1.0),
        ("dataset", True),
        ("dataset", str(2**64)),
        ("duration_days", 30.0),
        ("duration_days", "30.0"),
        ("duration_days", "\u0663\u0660"),
        ("accepted_terms_version", "1.0"),
    ],
)
def test_an_integer_in_a_body_is_a_json_integer_or_ascii_digits(
    client_for, data_steward, other_analyst, field, value
) -> None:
    dataset = published(data_steward, tier="open")
    body = {
        "dataset": dataset.pk,
        "purpose": "research",
        "justification": "why",
        "duration_days": 30,
        "accepted_terms_version": 1,
    }
    body[field] = value.format(dataset=dataset.pk) if isinstance(value, str) else value
    response = client_for(other_analyst).post("/api/v1/access-requests/", body, format="json")
    problem = assert_problem(response, 400, "validation_error")
    assert field in problem["errors"]
    assert not AccessRequest.objects.exists()


def test_the_same_body_with_digits_in_a_string_is_accepted(client_for, data_steward, other_analyst) -> None:
    dataset = published(data_steward, tier="open")
    body = {
        "dataset": str(dataset.pk),
        "purpose": "research",
        "justification": "why",
        "duration_days": "30",
        "accepted_terms_version": "1",
    }
    response = client_for(other_analyst).post("/api/v1/access-requests/", body, format="json")
    assert response.status_code == 201, response.content
    assert AccessRequest.objects.get().duration_days == 30


# --- paths ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/ledger/entries/{}/",
        "/api/v1/ledger/checkpoints/{}/",
        "/api/v1/credit/adjustments/{}/",
        "/api/v1/credit/affiliation-claims/{}/",
        "/api/v1/datasets/{}/",
        "/api/v1/members/{}/",
    ],
)
@pytest.mark.parametrize("number", [THOUSANDS_OF_DIGITS, "\u0661"])
def test_a_number_in_a_path_is_ascii_digits_of_any_length(client_for, auditor, path, number) -> None:
    # Once a 500 for the ledger's entries and checkpoints and the credit adjustments: their views read the
    # number with int().
    response = client_for(auditor).get(path.format(number))
    # other scripts' digits match no route at all
    by_number = "checkpoints" in path and number.isascii()
    assert_problem(response, 404, "no_checkpoint" if by_number else "not_found")


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/api/v1/ledger/entries/{}/", "not_found"),
        ("/api/v1/ledger/checkpoints/{}/", "no_checkpoint"),
        ("/api/v1/credit/adjustments/{}/", "not_found"),
    ],
)
@pytest.mark.parametrize(
    ("number", "shown"),
    [("1234567890" * 4, "1234567890" * 4), (THOUSANDS_OF_DIGITS, "1" * 20 + "\u2026 (5,000 digits)")],
)
def test_a_number_in_a_path_past_every_range_is_named_as_asked(
    client_for, auditor, path, code, number, shown
) -> None:
    # The message named 10**30, the number such a path is read as.
    body = assert_problem(client_for(auditor).get(path.format(number)), 404, code)
    assert f" {shown}" in body["detail"]
    assert str(BEYOND_ANY_RANGE) not in body["detail"]


@pytest.mark.parametrize("action", ["approve", "withdraw"])
def test_an_adjustment_action_on_thousands_of_digits_is_not_found(client_for, auditor, action) -> None:
    response = client_for(auditor).post(f"/api/v1/credit/adjustments/{THOUSANDS_OF_DIGITS}/{action}/")
    assert response.status_code == 404


# --- commands and settings --------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["\u00b2", "\u0661", "+6", "6.0"])
def test_ledger_verify_from_checkpoint_takes_ascii_digits(text) -> None:
    with pytest.raises(ArgumentTypeError, match="whole number 0 or more"):
        _tree_size(text)
    assert _tree_size("06") == 6


@pytest.mark.parametrize("text", ["\u00b2", "\u0663", "+3", "3.0", " 3"])
def test_ledger_verify_workers_take_ascii_digits(text) -> None:
    with pytest.raises(ArgumentTypeError, match="number of processes is a whole number"):
        _workers(text)
    assert _workers("03") == 3
    assert _workers("-3") == -3  # refused by the command, as 0 is: "--workers must be 1 or more"


@pytest.mark.parametrize("rate", ["\u0661\u0660/min", "+10/min", "1.0/min", f"{THOUSANDS_OF_DIGITS}/min"])
def test_a_throttle_rate_counts_in_ascii_digits(monkeypatch, rate) -> None:
    monkeypatch.setenv("API_RATE_TEST", rate)
    with pytest.raises(ImproperlyConfigured, match="API_RATE_TEST must be a rate"):
        environment.rate("API_RATE_TEST", "10/min")


@pytest.mark.parametrize(
    "text", ["\u0666\u0660", "+60", "6_0", "60.0", "0x3c", "1" * 40, THOUSANDS_OF_DIGITS]
)
def test_an_integer_setting_is_ascii_digits_within_64_bits(monkeypatch, text) -> None:
    # int() read the first three as 60; whole_number would give the long ones as BEYOND_ANY_RANGE
    monkeypatch.setenv("INTEGER_TEST", text)
    with pytest.raises(ImproperlyConfigured, match="INTEGER_TEST must be a whole number"):
        environment.integer("INTEGER_TEST", 5)


@pytest.mark.parametrize(
    ("text", "number"), [(" 60\n", 60), ("060", 60), ("-5", -5), (str(2**63 - 1), 2**63 - 1)]
)
def test_an_integer_setting_in_ascii_digits_is_read(monkeypatch, text, number) -> None:
    monkeypatch.setenv("INTEGER_TEST", text)
    assert environment.integer("INTEGER_TEST", 5) == number
