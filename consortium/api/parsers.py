"""The API's JSON parser: DRF's, plus refusing the bodies it lets through as crashes or reads ambiguously.

A body DRF's parser accepts or fails on in a way its handler never sees:

- nesting deep enough to exhaust the interpreter's recursion limit: `json` raises RecursionError, not the
  ValueError DRF maps to a parse error, so the request became a 500;
- a string with a lone UTF-16 surrogate (`"\\ud800"`): valid JSON text, but no Unicode string. It cannot be
  encoded as UTF-8, so it fails wherever it is next written: in the database, in the ledger's canonical
  bytes, or in the JSON renderer echoing it back inside an error message. I-JSON (RFC 7493, which the
  ledger's RFC 8785 encoding builds on) forbids such strings, so we refuse them at the door.

Both become ParseError: a 400 problem body with the code `malformed_request`.

- an object that names a key twice (`{"reason": "", "reason": "Fraud"}`): JSON leaves its meaning open (RFC
  8259 section 4) and I-JSON forbids it (RFC 7493 section 2.3). Python's parser kept the last value without
  a word, while other parsers (a proxy's, a log's, the client's own) may keep the first or refuse, so one
  body could be read two ways. A ParseError with the code `duplicate_key`, naming the key.
"""

from __future__ import annotations

import codecs
import json
import re
from typing import IO, Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.settings import api_settings
from rest_framework.utils.json import strict_constant

# A lone surrogate can only arrive as a \u escape: the body is decoded as UTF-8 first, which rejects
# surrogates written as bytes. Only a body with such an escape is checked further.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class JSONParser(parsers.JSONParser):
    """DRF's JSONParser that answers every malformed body, however malformed, with ParseError."""

    def parse(self, stream: IO[Any], media_type: str | None = None, parser_context: Any = None) -> Any:
        # DRF 3.18 get_encoding refuses non-text codecs (bz2_codec, ...); drf-stubs do not declare it yet.
        encoding = parsers.get_encoding(parser_context or {})  # type: ignore[attr-defined]
        try:
            text = codecs.getreader(encoding)(stream).read()
            data = json.loads(
                text,
                parse_constant=strict_constant if api_settings.STRICT_JSON else None,
                object_pairs_hook=_object_naming_each_key_once,
            )
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            raise ParseError(f"JSON parse error - {exc}") from exc
        except RecursionError as exc:
            raise ParseError("JSON parse error - the body is nested too deeply.") from exc
        if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(data):
            raise ParseError(
                "JSON parse error - a string contains a lone surrogate (\\ud800-\\udfff), "
                "which is not a Unicode character."
            )
        return data


def _object_naming_each_key_once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """The JSON object of `pairs` (json.loads' object_pairs_hook), or ParseError(duplicate_key) naming the
    first key it holds twice."""
    parsed = dict(pairs)
    if len(parsed) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ParseError(
                    f"JSON parse error - an object names the key {json.dumps(key)} more than once; name each "
                    "key once (I-JSON, RFC 7493).",
                    code="duplicate_key",
                )
            seen.add(key)
    return parsed


def _has_lone_surrogate(data: Any) -> bool:
    """Whether any string or object key in parsed JSON holds a surrogate code point (json.loads joins
    escaped pairs into one character, so what remains is lone). Iterative: the body may be deep."""
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return True
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False
