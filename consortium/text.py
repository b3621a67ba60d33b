"""User-supplied names and titles as text: the characters they may not hold, and how one is isolated when it
is shown inside other text, so that its direction cannot reorder that text.

Unicode's bidirectional algorithm lays out a right-to-left name (Arabic, Hebrew) and the text around it as
one run, so "Request from <name> for <title>" can read in the wrong order; a bidi control in the name (a
RIGHT-TO-LEFT OVERRIDE, an isolate it never closes) reaches past its end. Shown inside other text, a value
goes between FIRST STRONG ISOLATE (U+2068) and POP DIRECTIONAL ISOLATE (U+2069), or in an HTML <bdi>,
which browsers lay out the same way: its direction is its own first strong character's, and nothing in it
reaches out. `balanced` makes sure the value closes what it opens and closes nothing it did not open, since
an isolate is what the isolating characters match, not what the markup meant.

Free text that runs over lines (a dataset's description, a policy's terms, a request's justification, the
reason for a decision) is checked in its own mode (`hidden_characters(..., multiline=True)`,
`refuse_hidden_characters_in_text`): it keeps tab, line feed and carriage return, and the three marks
LEFT-TO-RIGHT MARK, RIGHT-TO-LEFT MARK and ARABIC LETTER MARK. The marks stay because right-to-left prose
needs them and they cannot hide anything: each is an invisible letter of one direction with no scope,
which settles only the direction of the punctuation and digits next to it (the full stop after a Latin
word ending a Hebrew sentence, a number range in Arabic) and never reorders letters or reaches past its
neighbours, where an override, embedding or isolate rules everything up to its end or the paragraph's.
Unicode recommends the marks for such plain text (UAX #9, "Explicit Directional Marks"), and checks for
hidden text leave them out for the same reason (rustc's text_direction_codepoint_in_literal lint flags
U+202A-U+202E and U+2066-U+2069 only). A name or title keeps none of them: it is shown inside other text,
where `isolated` and `bdi` give it its direction.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from django.utils.html import format_html
from django.utils.safestring import SafeString

from consortium.errors import ValidationFailed

FSI = "\u2068"  # FIRST STRONG ISOLATE
PDI = "\u2069"  # POP DIRECTIONAL ISOLATE
NUL = "\x00"
_ISOLATE_INITIATORS = frozenset("\u2066\u2067\u2068")  # LRI, RLI, FSI
# Unicode's Bidi_Control characters (PropList.txt): the marks ALM, LRM and RLM, the embeddings and overrides
# LRE, RLE, PDF, LRO, RLO, and the isolates LRI, RLI, FSI, PDI.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
BIDI_MARKS = frozenset("\u061c\u200e\u200f")  # ALM, LRM, RLM: kept in free text (module docstring)
LINE_CONTROLS = frozenset("\t\n\r")  # the controls free text over several lines keeps
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cs"})


def balanced(value: str) -> str:
    """`value` with every isolate it opens (LRI, RLI, FSI) closed at its end and every PDI that closes none
    of them dropped: put between FSI and PDI, or in a <bdi>, it then ends where its isolate ends. Any
    embedding or override it leaves open ends there too (a PDI closes those), so they stay."""
    kept: list[str] = []
    open_isolates = 0
    for character in value:
        if character in _ISOLATE_INITIATORS:
            open_isolates += 1
        elif character == PDI:
            if not open_isolates:
                continue
            open_isolates -= 1
        kept.append(character)
    return "".join(kept) + PDI * open_isolates


def isolated(value: Any) -> str:
    """`value` as text between FSI and PDI, `balanced`, where no markup can isolate it (a page's <title>, an
    attribute, a plain-text line); "" for "" or None."""
    text = "" if value is None else str(value)
    return f"{FSI}{balanced(text)}{PDI}" if text else ""


def bdi(value: Any) -> SafeString:
    """`value` as HTML in a <bdi> element, escaped and `balanced`; "" for "" or None."""
    text = "" if value is None else str(value)
    return format_html("<bdi>{}</bdi>", balanced(text)) if text else SafeString("")


def hidden_characters(value: str, *, multiline: bool = False) -> list[str]:
    """The characters of `value`, once each in order of appearance, that a name or title may not hold: the
    controls (Cc: line breaks, tabs, escapes, NUL), lone surrogates (Cs) and BIDI_CONTROLS, which change
    unseen how the text around them reads. Other format characters stay allowed: the zero-width joiner and
    non-joiner, which Persian, Indic scripts and emoji need, and the Mongolian vowel separator among them.

    `multiline`: those that free text over several lines may not hold, the same but for LINE_CONTROLS
    (tab, line feed, carriage return) and BIDI_MARKS, which it keeps (the module docstring says why)."""
    allowed = LINE_CONTROLS | BIDI_MARKS if multiline else frozenset()
    found = dict.fromkeys(
        character
        for character in value
        if character not in allowed
        and (character in BIDI_CONTROLS or unicodedata.category(character) in _HIDDEN_CATEGORIES)
    )
    return list(found)


def _described(character: str) -> str:
    what = "a control character" if unicodedata.category(character) == "Cc" else "a lone surrogate"
    return f"U+{ord(character):04X} {unicodedata.name(character, f'({what})')}"


def refuse_hidden_characters(**values: str | list[str]) -> None:
    """Raise ValidationFailed (code `hidden_character`, `errors` naming each field) if any of `values` (a
    field's text, or a list of texts such as keywords) holds `hidden_characters`; the message names them.
    Services call it on the names and titles they store, so the portal and the API refuse them alike."""
    _refuse(
        values,
        multiline=False,
        rule="names and titles may not hold control or bidirectional formatting characters, which change "
        "unseen how the text around them reads.",
    )


def refuse_hidden_characters_in_text(**values: str) -> None:
    """As refuse_hidden_characters, for free text over several lines (descriptions, terms, justifications,
    reasons): raise ValidationFailed (`hidden_character`, `errors` naming each field, the message each
    character) if any of `values` holds `hidden_characters(..., multiline=True)`: a control other than tab
    and line breaks (NUL, which PostgreSQL cannot store, an escape), a lone surrogate, or a bidirectional
    override, embedding or isolate. Services call it before they write, so the portal, the API and the admin
    refuse such text alike and nothing is written."""
    _refuse(
        values,
        multiline=True,
        rule="text may hold tabs and line breaks but no other control character, and no bidirectional "
        "override, embedding or isolate, which change unseen how the text around them reads.",
    )


def refuse_nul(**values: str) -> None:
    """Raise ValidationFailed (`hidden_character`, `errors` naming each field) if any of `values` holds NUL
    (U+0000), which PostgreSQL's text can neither hold nor be compared with: for text that is only looked up
    (a query string's filters and searches), where no other character does harm."""
    found_in = [field for field, value in values.items() if NUL in field or NUL in value]
    if found_in:
        why = f"{_described(NUL)}: no text holds it, so nothing can match it."
        raise ValidationFailed(
            f"{found_in[0]}: remove {why}",
            code="hidden_character",
            errors={field: [f"Remove {why}"] for field in found_in},
        )


def _refuse(values: Mapping[str, str | list[str]], *, multiline: bool, rule: str) -> None:
    found_in: dict[str, str] = {}
    for field, value in values.items():
        texts = [value] if isinstance(value, str) else list(value)
        found = dict.fromkeys(
            c for text in texts for c in hidden_characters(str(text or ""), multiline=multiline)
        )
        if found:
            found_in[field] = f"{', '.join(map(_described, found))}: {rule}"
    if found_in:
        field, why = next(iter(found_in.items()))
        raise ValidationFailed(
            f"{field.replace('_', ' ').capitalize()}: remove {why}",
            code="hidden_character",
            errors={field: [f"Remove {why}"] for field, why in found_in.items()},
        )
