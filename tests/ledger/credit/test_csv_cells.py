"""Credit CSV exports are safe to open in a spreadsheet: text that would run as a formula is neutralised,
numbers (negative amounts included) stay numbers; the exports are streamed text/csv attachments."""

from __future__ import annotations

import csv
import io

import pytest

from ledger.credit.statements import csv_cell
from tests.ledger.credit.statement_support import settled_epoch

API = "/api/v1/credit"


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://evil.example","x")', '\'=HYPERLINK("http://evil.example","x")'),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        # Text is text, even when int() would read it: a tab or CR in front was let through this way.
        ("\t1", "'\t1"),
        ("\r-5", "'\r-5"),
        ("-20000", "'-20000"),
        (-20000, -20000),
        (0, 0),
        ("request:12", "request:12"),
        (None, ""),
    ],
)
def test_a_cell_that_would_run_as_a_formula_is_neutralised(value, cell):
    assert csv_cell(value) == cell


@pytest.mark.django_db
def test_the_statement_csv_keeps_negative_amounts_as_numbers(
    client_for, data_steward, other_analyst, member, other_member
):
    epoch = settled_epoch(provider=data_steward, consumer=other_analyst, members=[member, other_member])
    response = client_for(other_analyst).get(f"{API}/statements/{epoch}/csv/")
    assert response.streaming and response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="credit-statement-{epoch}-member-{other_member.pk}.csv"'
    )
    header, *rows = csv.reader(io.StringIO(b"".join(response.streaming_content).decode()))
    amounts = [int(row[header.index("amount")]) for row in rows if row[header.index("code")] == "fee"]
    assert sorted(amounts) == [-18_000, -2_000]
