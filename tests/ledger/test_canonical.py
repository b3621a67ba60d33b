"""Canonical entry bytes: the allowed value subset, RFC 8785 output, and the stdlib re-encoder's agreement."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.canonical import (
    MAX_SAFE_INTEGER,
    CanonicalError,
    _encode_fast,
    _parse_checked,
    canonical_bytes,
    encode_canonical_stdlib,
    format_time,
    is_canonical,
    leaf_hash,
    parse_canonical,
    parse_time,
)

# Text that exercises the UTF-16 ordering rule: astral characters sort by their surrogates (0xD800..),
# which is before U+E000..U+FFFF although their code points are larger.
_alphabet = st.one_of(
    st.characters(codec="utf-8"),
    st.sampled_from(
        ["\U0001f600", "\U00010000", "\ufb01", "\uffff", "\ue000", "\x7f", "\x00", "\u2028", "é"]
    ),
)
_text = st.text(alphabet=_alphabet, max_size=8)
# Keys drawn often from a tiny alphabet straddling the surrogate range, so orderings that differ between
# code points and UTF-16 code units come up in almost every run.
_tricky_key = st.text(
    st.sampled_from(["a", "\u00e9", "\ue000", "\uffff", "\U00010000", "\U0001f600"]), max_size=3
)
_key = st.one_of(_tricky_key, _text)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER),
    _text,
)
json_values = st.recursive(
    _scalars,
    lambda children: st.one_of(st.lists(children, max_size=5), st.dictionaries(_key, children, max_size=5)),
    max_leaves=25,
)


def test_known_encoding_sorts_by_utf16_code_units_and_escapes_minimally() -> None:
    obj = {"\ue000": 1, "\U0001f600": 2, "b": [True, None, -5], "a": 'x"\\\n\x01\x7f\u2028é'}
    expected = ('{"a":"x\\"\\\\\\n\\u0001\x7f\u2028é","b":[true,null,-5],"\U0001f600":2,"\ue000":1}').encode()
    assert canonical_bytes(obj) == expected
    assert encode_canonical_stdlib(obj) == expected
    assert is_canonical(expected)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_stdlib_encoder_agrees_with_rfc8785(value: object) -> None:
    expected = rfc8785.dumps(value)
    assert encode_canonical_stdlib(value) == expected
    assert canonical_bytes(value) == expected
    assert is_canonical(expected)


# Keys the fast encoder takes (no character in U+E000..U+FFFF), but still with astral characters, escapes
# and non-ASCII text, so its code-point sort and its string escaping are compared with rfc8785 every time.
_fast_key = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8").filter(lambda ch: not "\ue000" <= ch <= "\uffff"),
        st.sampled_from(["a", "\u00e9", "\U00010000", "\U0001f600", "\x00", "\x1f", '"', "\\", "\u2028"]),
    ),
    max_size=6,
)
fast_values = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(_fast_key, children, max_size=5)
    ),
    max_leaves=30,
)
entry_documents = st.fixed_dictionaries(
    {
        "v": st.just(1),
        "id": st.uuids().map(str),
        "kind": st.from_regex(r"[a-z][a-z_]{0,8}(\.[a-z][a-z_]{0,8}){1,2}", fullmatch=True),
        "time": st.datetimes(timezones=st.just(UTC)).map(format_time),
        "actor": st.fixed_dictionaries(
            {
                "user": st.none() | st.integers(1, 10**6),
                "member": st.none() | st.integers(1, 10**6),
                "api_key": st.none() | st.text(max_size=8),
            }
        ),
        "subject": st.fixed_dictionaries({"type": st.text(max_size=12), "id": st.text(max_size=12)}),
        "members": st.lists(st.integers(1, 10**6), max_size=4, unique=True).map(sorted),
        "payload": st.dictionaries(_fast_key, fast_values, max_size=6),
    }
)


@settings(max_examples=400, deadline=None)
@given(fast_values)
def test_fast_encoder_is_rfc8785_byte_for_byte(value: object) -> None:
    expected = rfc8785.dumps(value)
    assert _encode_fast(value) == expected
    assert canonical_bytes(value) == expected
    assert parse_canonical(expected) == value


@settings(max_examples=300, deadline=None)
@given(entry_documents)
def test_fast_encoder_on_entry_documents(document: dict) -> None:
    expected = rfc8785.dumps(document)
    assert _encode_fast(document) == expected
    assert canonical_bytes(document) == expected
    assert parse_canonical(expected) == document


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_fast_encoder_declines_or_agrees(value: object) -> None:
    """Any value (keys from the whole tricky alphabet): the fast path answers exactly or not at all."""
    fast = _encode_fast(value)
    assert fast is None or fast == rfc8785.dumps(value)


def test_fast_encoder_declines_what_it_must_not_encode() -> None:
    import enum

    class Level(enum.IntEnum):
        HIGH = 3

    class Name(str):
        pass

    for value in [
        {"\ue000": 1, "\U0001f600": 2},  # code point and UTF-16 orders differ
        {"a": "\ud800"},  # lone surrogate
        {"\udc00": 1},
        {"a": 1.0},
        {"a": 2**53},
        [-(2**53)],
        {"a": (1, 2)},
        {1: "x"},
        {"a": Level.HIGH},
        {"a": Name("x")},
        {Name("k"): 1},
    ]:
        assert _encode_fast(value) is None, value
    assert canonical_bytes({"a": Level.HIGH}) == rfc8785.dumps({"a": Level.HIGH})
    assert canonical_bytes({"\ue000": 1, "\U0001f600": 2}) == '{"\U0001f600":2,"\ue000":1}'.encode()


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_key, json_values, min_size=2, max_size=6))
def test_reordered_or_spaced_encodings_are_not_canonical(value: dict) -> None:
    canonical = canonical_bytes(value)
    spaced = b"{ " + canonical[1:]
    assert not is_canonical(spaced)
    keys = list(value)
    if sorted(keys, key=lambda k: k.encode("utf-16-be")) != keys[::-1]:
        reordered = (
            "{"
            + ",".join(
                encode_canonical_stdlib(k).decode() + ":" + encode_canonical_stdlib(value[k]).decode()
                for k in keys[::-1]
            )
            + "}"
        )
        assert not is_canonical(reordered.encode())


@pytest.mark.parametrize(
    ("obj", "path"),
    [
        ({"payload": {"amount": 1.5}}, "payload.amount"),
        ({"payload": {"amount": math.nan}}, "payload.amount"),
        ({"members": [1, 2, 2**53]}, "members[2]"),
        ({"members": [-(2**53)]}, "members[0]"),
        ({"payload": {1: "x"}}, "payload"),
        ({"payload": {"blob": b"x"}}, "payload.blob"),
        ({"payload": {"t": (1, 2)}}, "payload.t"),
        ({"payload": {"d": Decimal("1")}}, "payload.d"),
        ({"payload": {"odd key": [{"s": "\ud800"}]}}, 'payload["odd key"][0].s'),
        ({"payload": {"\udc00": 1}}, "payload"),
        (1.0, "(root)"),
    ],
)
def test_refused_values_name_their_path(obj: object, path: str) -> None:
    with pytest.raises(CanonicalError) as excinfo:
        canonical_bytes(obj)
    assert str(excinfo.value).startswith(path + ":")
    with pytest.raises(CanonicalError):
        encode_canonical_stdlib(obj)


def test_safe_integer_bounds_are_accepted() -> None:
    assert canonical_bytes([MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER]) == b"[9007199254740991,-9007199254740991]"


@pytest.mark.parametrize(
    "data",
    [
        b'{"a":1.0}',
        b'{"a":1e2}',
        b'{"a":NaN}',
        b'{"a":Infinity}',
        b'{"a":-0}',
        b'{"a":9007199254740992}',
        b'{"a":1,"a":1}',
        b'{"b":1,"a":2}',
        b'{"a":"\\u0041"}',
        b'{"a":"\\ud800"}',
        b'{"a":"\xff"}',
        b'\xef\xbb\xbf{"a":1}',
        b'{"a":1}\n',
        b" 1",
        b"",
        b"[" * 100_000,
    ],
)
def test_non_canonical_inputs(data: bytes) -> None:
    assert not is_canonical(data)


def test_leaf_hash_is_rfc9162_leaf() -> None:
    assert leaf_hash(b"{}") == hashlib.sha256(b"\x00{}").digest()
    assert leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"


def test_format_time_is_utc_with_microseconds() -> None:
    cet = timezone(timedelta(hours=1))
    assert format_time(datetime(2026, 11, 24, 7, 49, 3, 123456, tzinfo=cet)) == "2026-11-24T06:49:03.123456Z"
    assert format_time(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05.000000Z"
    assert format_time(datetime(999, 1, 1, tzinfo=UTC)) == "0999-01-01T00:00:00.000000Z"
    with pytest.raises(CanonicalError):
        format_time(datetime(2026, 1, 1))  # naive on purpose


def test_parse_time_round_trips_and_is_strict() -> None:
    dt = datetime(2026, 11, 24, 6, 49, 3, 123456, tzinfo=UTC)
    assert parse_time(format_time(dt)) == dt
    for bad in [
        "2026-11-24T06:49:03Z",
        "2026-11-24T06:49:03.123456+00:00",
        "2026-13-24T06:49:03.123456Z",
        "\u0662026-11-24T06:49:03.123456Z",  # another script's digit, which int() reads as 2
    ]:
        with pytest.raises(CanonicalError):
            parse_time(bad)


def test_canonical_module_imports_without_rfc8785() -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['rfc8785'] = None\n"
        "import ledger.canonical as c\n"
        "assert c.is_canonical(b'{\"v\":1}')\n"
        "assert c.canonical_bytes({'v': 1}) == b'{\"v\":1}'\n"  # the fast path is standard library only
        "try:\n    c.canonical_bytes({'\\ue000': 1})\nexcept ImportError:\n    print('lazy')\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == "lazy"


def _candidate_encodings(value: object) -> list[bytes]:
    """The canonical bytes of `value` and near misses: sorted by code point, spaced, ASCII-escaped."""
    candidates = []
    with contextlib.suppress(CanonicalError):  # floats, integers past 2**53, lone surrogates
        candidates.append(canonical_bytes(value))
    for options in ({"sort_keys": True}, {"sort_keys": True, "separators": (",", ":")}, {}):
        for ascii_only in (False, True):
            with contextlib.suppress(UnicodeEncodeError):  # a lone surrogate: only an escape can carry it
                candidates.append(json.dumps(value, ensure_ascii=ascii_only, **options).encode())
    return candidates


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        json_values,
        entry_documents,
        st.dictionaries(st.sampled_from(["\ue000", "\U0001f600", "a"]), st.integers(), min_size=2),
        st.lists(st.one_of(st.integers(), st.floats(allow_nan=False), st.text(st.characters()))),
    )
)
def test_parse_canonical_s_short_cut_answers_as_the_checked_parse(value: object) -> None:
    """Its short cut (the C encoder's re-encoding) may only say yes where the checked parse says yes:
    integers past 2**53, floats, keys that sort differently by UTF-16 code unit, lone surrogates, escapes."""
    for data in _candidate_encodings(value):
        assert parse_canonical(data) == _parse_checked(data), data


def test_parse_canonical_refuses_what_is_not_canonical() -> None:
    for data in [
        b'{"a":9007199254740992}',
        b'{"a":1.0}',
        b'{"a":NaN}',
        b'{"a":1,"a":1}',
        b'{"b":1,"a":2}',
        b'{"\xef\xbf\xbf":1,"\xf0\x9f\x98\x80":2}',  # U+FFFF before U+1F600: code point order, not JCS
        b'{"a":"\\u00e9"}',
        b'{"a":"\\ud800"}',
        b'{"a":1} ',
        b"\xff",
    ]:
        assert parse_canonical(data) is None, data
    assert parse_canonical(b'{"\xf0\x9f\x98\x80":2,"\xef\xbf\xbf":1}') == {
        "\U0001f600": 2,
        "\uffff": 1,
    }
    assert parse_canonical(b'{"a":-9007199254740991}') == {"a": -(2**53 - 1)}


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-24T06:49:0\u0663.123456Z",
        "2026-11-24T06:49:03.12345\u0666Z",
        "2026-1\u0661-24T06:49:03.123456Z",
    ],
)
def test_the_rules_fast_time_reading_refuses_other_scripts_digits_too(text) -> None:
    from ledger.credit.engine.state import time_us_of

    with pytest.raises(CanonicalError):
        time_us_of(text)
