"""Canonical bytes of a ledger entry (RFC 8785 JSON), its RFC 9162 leaf hash, and the ledger's time format.

The bytes produced here are what gets hashed and signed, so they are pinned exactly:

* Values allowed: ``dict`` with ``str`` keys, ``list``, ``str``, ``int`` (and ``bool``), ``None``.
  Floats, NaN, bytes, tuples, non-string keys, strings that are not valid Unicode scalar sequences
  (lone surrogates) and integers outside the I-JSON safe range ``-(2**53-1) .. 2**53-1`` are refused with
  :class:`CanonicalError`, whose message names the JSON path of the bad value (``payload.amount``,
  ``members[2]``).
* Encoding: RFC 8785 (JCS): object members sorted by the UTF-16 code units of their names, no
  insignificant whitespace, strings as UTF-8 with only ``"``, ``\\`` and U+0000..U+001F escaped
  (``\\b \\t \\n \\f \\r`` short forms, otherwise ``\\u00xx`` lowercase), integers in plain decimal.
* Leaf hash: ``SHA-256(0x00 || canonical bytes)`` (RFC 9162 section 2.1.1).
* Time: UTC, always six fractional digits, ``Z`` suffix: ``2026-11-24T06:49:03.123456Z``.

Only :func:`canonical_bytes` needs the ``rfc8785`` package, and it imports it lazily: everything else here
is standard library only, so the offline verifier can import this module without third-party packages.
"""

from __future__ import annotations

import hashlib
import json
import json.encoder
import re
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "MAX_SAFE_INTEGER",
    "CanonicalError",
    "canonical_bytes",
    "encode_canonical_stdlib",
    "format_time",
    "is_canonical",
    "leaf_hash",
    "parse_canonical",
    "parse_time",
]

MAX_SAFE_INTEGER = 2**53 - 1
"""Largest integer magnitude I-JSON (RFC 7493) guarantees to round-trip: ``2**53 - 1``."""

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# re.ASCII: \d alone also matches other scripts' digits, which int() reads
_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{6})Z\Z", re.ASCII)


class CanonicalError(ValueError):
    """A value cannot be part of a ledger entry; the message names its JSON path."""


def _child_path(path: str, key: str) -> str:
    if _IDENTIFIER.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


def _where(path: str) -> str:
    return path or "(root)"


def _check_str(value: str, path: str, what: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise CanonicalError(
            f"{_where(path)}: {what} contains a lone surrogate (not valid Unicode)"
        ) from None


def validate(obj: Any, path: str = "") -> None:
    """Check that ``obj`` is encodable as a ledger entry value.

    Raises :class:`CanonicalError` naming the JSON path of the first bad value found (depth first,
    keys in insertion order).
    """
    if obj is None or isinstance(obj, bool):
        return
    if isinstance(obj, int):
        if not -MAX_SAFE_INTEGER <= obj <= MAX_SAFE_INTEGER:
            raise CanonicalError(f"{_where(path)}: integer {obj} is outside the I-JSON range ±(2**53-1)")
        return
    if isinstance(obj, str):
        _check_str(obj, path, "string")
        return
    if isinstance(obj, float):
        raise CanonicalError(f"{_where(path)}: floats are not allowed (use integers), got {obj!r}")
    if isinstance(obj, list):
        for i, item in enumerate(obj):
            validate(item, f"{path}[{i}]")
        return
    if isinstance(obj, dict):
        for key, item in obj.items():
            if not isinstance(key, str):
                raise CanonicalError(f"{_where(path)}: object key {key!r} is not a string")
            _check_str(key, path, "object key")
            validate(item, _child_path(path, key))
        return
    raise CanonicalError(f"{_where(path)}: type {type(obj).__name__} is not allowed")


def canonical_bytes(obj: Any) -> bytes:
    """Return the RFC 8785 canonical JSON bytes of ``obj`` after :func:`validate`.

    Raises :class:`CanonicalError` for any value outside the allowed subset. Values of plain types whose
    object keys sort the same by code point as by UTF-16 code unit (every entry the services write) take
    :func:`_encode_fast`, equal byte for byte to ``rfc8785.dumps`` (property-tested); anything else goes
    through :func:`validate` and ``rfc8785.dumps``.
    """
    fast = _encode_fast(obj)
    if fast is not None:
        return fast
    import rfc8785  # lazily: the offline verifier must import this module without it

    validate(obj)
    return rfc8785.dumps(obj)


# RFC 8785 sorts object members by UTF-16 code units; json's sort_keys by code points. The two orders differ
# only between a character in U+E000..U+FFFF and an astral one (encoded as surrogates 0xD800..0xDFFF), so
# keys without the former sort the same either way.
_SORTS_DIFFERENTLY = re.compile("[\ue000-\uffff]")
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False)


def _plain(obj: Any) -> bool:
    """True if ``obj`` holds only exact dict/list/str/int/bool/None values that :func:`validate` accepts
    (lone surrogates aside: encoding to UTF-8 finds them) and keys that sort alike by code point and by
    UTF-16 code unit. Subclasses (enums, lazy strings...) are not plain: they take the checked path.

    Loops with the scalar cases inline rather than a call per value: every append checks its document."""
    kind = type(obj)
    if kind is dict:
        for key, value in obj.items():
            if type(key) is not str or (not key.isascii() and _SORTS_DIFFERENTLY.search(key)):
                return False
            if not _plain_member(value):
                return False
        return True
    if kind is list:
        return all(map(_plain_member, obj))
    return _plain_member(obj)


def _plain_member(value: Any) -> bool:
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return True
    if kind is int:
        return -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER
    return (kind is dict or kind is list) and _plain(value)


def _encode_fast(obj: Any) -> bytes | None:
    """The canonical bytes of a :func:`_plain` value through the C JSON encoder, or None (not plain, or a
    lone surrogate somewhere: the checked path encodes it or names the bad value).

    For such values the output is RFC 8785: members sorted (by code point, the same order here), no
    whitespace, strings escaped exactly as JCS does (``"``, ``\\`` and U+0000..U+001F only, short forms
    for ``\\b \\t \\n \\f \\r``, lowercase ``\\u00xx``), integers in plain decimal.
    """
    if not _plain(obj):
        return None
    try:
        return _JSON.encode(obj).encode("utf-8")
    except UnicodeEncodeError:
        return None


def leaf_hash(canonical: bytes) -> bytes:
    """Return the RFC 9162 leaf hash ``SHA-256(0x00 || canonical)`` (32 bytes)."""
    return hashlib.sha256(b"\x00" + canonical).digest()


def format_time(dt: datetime) -> str:
    """Format an aware datetime as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC (always microseconds).

    Raises :class:`CanonicalError` for a naive datetime.
    """
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise CanonicalError("naive datetime: ledger times must be timezone-aware")
    u = dt if dt.tzinfo is UTC else dt.astimezone(UTC)
    return (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}"
        f".{u.microsecond:06d}Z"
    )


def parse_time(text: object) -> datetime:
    """Parse exactly the :func:`format_time` format back to an aware UTC datetime.

    Raises :class:`CanonicalError` for anything else (other offsets, missing microseconds, ...).
    """
    m = _TIME.match(text) if isinstance(text, str) else None
    if m is None:
        raise CanonicalError(f"time {text!r} is not in the form YYYY-MM-DDTHH:MM:SS.ffffffZ")
    try:
        year, month, day, hour, minute, second, micro = (int(group) for group in m.groups())
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
    except ValueError as exc:
        raise CanonicalError(f"time {text!r}: {exc}") from None


def _utf16_key(name: str) -> bytes:
    # Big-endian UTF-16 bytes compare exactly like sequences of UTF-16 code units.
    return name.encode("utf-16-be")


def _encode(obj: Any, out: list[str]) -> None:
    if obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, int):
        out.append(str(int(obj)))
    elif isinstance(obj, str):
        out.append(json.dumps(obj, ensure_ascii=False))
    elif isinstance(obj, list):
        out.append("[")
        for i, item in enumerate(obj):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:  # dict, already validated
        out.append("{")
        for i, key in enumerate(sorted(obj, key=_utf16_key)):
            if i:
                out.append(",")
            out.append(json.dumps(key, ensure_ascii=False))
            out.append(":")
            _encode(obj[key], out)
        out.append("}")


def encode_canonical_stdlib(obj: Any) -> bytes:
    """Encode ``obj`` as RFC 8785 canonical JSON using only the standard library.

    Equal byte for byte to :func:`canonical_bytes` on every value :func:`validate` accepts (a property
    test holds them together). Raises :class:`CanonicalError` like :func:`canonical_bytes`.
    """
    fast = _encode_fast(obj)
    if fast is not None:
        return fast
    validate(obj)
    out: list[str] = []
    _encode(obj, out)
    return "".join(out).encode("utf-8")


def _float_refused(text: str) -> Any:
    raise ValueError(f"not an integer: {text}")


def _safe_int(text: str) -> int:
    if len(text) < 16:  # at most 15 digits: within the range
        return int(text)
    value = int(text)
    if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        raise ValueError(f"integer {text} is outside the I-JSON range")
    return value


# A decoder that refuses floats, NaN/Infinity and integers outside the I-JSON range while parsing; its
# scanner is what raw_decode calls (StopIteration: no JSON value at the start).
_scan = json.JSONDecoder(
    parse_float=_float_refused, parse_constant=_float_refused, parse_int=_safe_int
).scan_once  # type: ignore[attr-defined]
_make_encoder = getattr(json.encoder, "c_make_encoder", None)  # CPython's C encoder, if any
# The C encoder with _JSON's options (sorted keys, no whitespace, UTF-8 as is), made once: it returns text
# chunks, compared with the decoded bytes without encoding them again.
_encode_chunks = (
    _make_encoder(
        None,
        None,
        json.encoder.encode_basestring,
        _JSON.indent,
        _JSON.key_separator,
        _JSON.item_separator,
        _JSON.sort_keys,
        _JSON.skipkeys,
        _JSON.allow_nan,
    )
    if _make_encoder is not None
    else None
)


def parse_canonical(data: bytes) -> Any:
    """The value ``data`` encodes if ``data`` is exactly its canonical encoding; otherwise ``None``.

    Standard library only: strict UTF-8, ``json.loads``, then the value must be of the allowed subset and
    re-encode to ``data`` byte for byte. Duplicate member names, floats, NaN/Infinity, escapes JCS does not
    use, whitespace and any other deviation make the re-encoding differ. (``null`` itself parses to
    ``None``: use :func:`is_canonical` for a yes/no answer on arbitrary bytes.)

    The verifier's hot path: a short cut answers when the C JSON encoder re-encodes the parsed value to
    ``data`` exactly, for values whose encoding by it is RFC 8785: no floats or NaN (refused while
    parsing), integers in the I-JSON range (checked while parsing), no character of U+E000..U+FFFF (UTF-8
    lead bytes EE and EF absent; one written as an escape re-encodes as those bytes, so differs), where
    sorting by code point and by UTF-16 code unit can disagree. Anything else takes :func:`_parse_checked`.
    """
    if _encode_chunks is not None and b"\xee" not in data and b"\xef" not in data:
        try:
            text = data.decode()
            value, end = _scan(text, 0)
            if end == len(text) and "".join(_encode_chunks(value, 0)) == text:
                return value
        except (ValueError, TypeError, RecursionError, StopIteration):  # bad UTF-8 or JSON, a refused number
            pass
    return _parse_checked(data)


def _parse_checked(data: bytes) -> Any:
    """:func:`parse_canonical` without the short cut: parse, check the subset, re-encode, compare."""
    try:
        value = json.loads(data.decode("utf-8"))
        encoded = _encode_fast(value)
        if encoded is None:
            encoded = encode_canonical_stdlib(value)
    except (ValueError, RecursionError):  # UnicodeDecodeError, JSONDecodeError, CanonicalError
        return None
    return value if encoded == data else None


def is_canonical(data: bytes) -> bool:
    """Return True iff ``data`` is exactly the canonical encoding of some allowed value.

    Standard library only: strict UTF-8, ``json.loads``, then :func:`encode_canonical_stdlib` must
    reproduce ``data`` byte for byte (which also refuses duplicate member names, floats and NaN/Infinity:
    none of them survives the round trip).
    """
    return data == b"null" or parse_canonical(data) is not None
