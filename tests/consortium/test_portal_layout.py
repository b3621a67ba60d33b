"""The portal's stylesheet (base.html) keeps every page inside the window down to 320 CSS px (WCAG 1.4.10)
and its targets at 24 CSS px or spaced (2.5.8), checked on the CSS itself: form controls and grid tracks never
demand more width than their container has, long unbroken text (hashes, URLs, e-mail addresses) wraps, stacked
links are 24 px apart, wide tables show that they scroll, an invalid field is marked beyond its message, and
Chinese text gets a Simplified Chinese face. The browser measurements behind these (scripts/portal_audit.py)
need Chromium; these do not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from tests.consortium.test_portal_a11y import contrast

ROOT_PX = 16  # the browser's default font size: rem and em below are relative to it
MIN_TARGET_PX = 24
CONTROL = re.compile(r"(?:^|[\s>+~])(?:input|select|textarea)(?:[\[:.][^\s>+~]*)?$")
LENGTH = re.compile(r"^(-?[\d.]+)(rem|em|px)?$")
SIMPLIFIED_CHINESE_FACES = {"PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC"}


@dataclass(frozen=True)
class Rule:
    selectors: tuple[str, ...]
    declarations: dict[str, str]
    media: str  # "" outside any @media block


def _rules() -> list[Rule]:
    """Every rule of base.html's one <style> block, with the @media condition it sits in."""
    text = (Path(settings.BASE_DIR) / "consortium" / "templates" / "base.html").read_text(encoding="utf-8")
    (css,) = re.findall(r"<style[^>]*>(.*?)</style>", text, re.S)
    rules: list[Rule] = []

    def add(block: str, media: str) -> None:
        for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", block):
            declarations = {}
            for declaration in body.split(";"):
                name, _, value = declaration.partition(":")
                if name.strip():
                    declarations[name.strip()] = " ".join(value.split())
            names = tuple(" ".join(s.split()) for s in _split_top_level(selectors))
            rules.append(Rule(names, declarations, media))

    for condition, block in re.findall(r"@media([^{]*)\{((?:[^{}]*\{[^{}]*\})*)\s*\}", css):
        add(block, " ".join(condition.split()))
    add(re.sub(r"@media[^{]*\{(?:[^{}]*\{[^{}]*\})*\s*\}", "", css), "")
    return rules


def _split_top_level(text: str, separator: str = ",") -> list[str]:
    """`text` split at each `separator` outside parentheses: selector lists, function arguments."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == separator and depth == 0:
            parts.append(text[start:index].strip())
            start = index + 1
    parts.append(text[start:].strip())
    return parts


def _calls(value: str, name: str) -> list[list[str]]:
    """The argument lists of every `name(...)` call in a CSS value, nested calls included."""
    found = []
    for match in re.finditer(rf"\b{name}\(", value):
        depth, start = 1, match.end()
        for index in range(start, len(value)):
            depth += {"(": 1, ")": -1}.get(value[index], 0)
            if depth == 0:
                found.append(_split_top_level(value[start:index]))
                break
    return found


def _px(length: str) -> float:
    match = LENGTH.match(length.strip())
    assert match, f"not a length: {length!r}"
    number, unit = float(match.group(1)), match.group(2)
    return number if unit == "px" or number == 0 else number * ROOT_PX


def _declared(selector: str, name: str, media: str = "") -> str:
    """The value `name` gets in the last rule naming exactly `selector` (in `media`), as in the cascade."""
    values = [
        rule.declarations[name]
        for rule in _rules()
        if selector in rule.selectors and name in rule.declarations and rule.media == media
    ]
    assert values, f"no rule gives {selector} {name}"
    return values[-1]


def _line_px() -> float:
    return float(_declared("body", "line-height")) * ROOT_PX


def test_the_parser_reads_the_stylesheet() -> None:
    # The checks below pass on whatever they do not find: the parser must see the rules they look at.
    rules = _rules()
    assert len(rules) > 60
    assert any(rule.media for rule in rules)
    assert _split_top_level("repeat(auto-fit,minmax(min(20rem,100%),1fr))") == [
        "repeat(auto-fit,minmax(min(20rem,100%),1fr))"
    ]
    assert _calls("repeat(auto-fit,minmax(min(20rem,100%),1fr))", "minmax") == [["min(20rem,100%)", "1fr"]]
    assert _px(".25rem") == 4 and _px("3px") == 3 and _px("0") == 0


def test_form_controls_are_never_wider_than_their_container() -> None:
    # A fixed min-width beats max-width:100%: an 18rem field stuck out of a narrow card (the dataset page's
    # three cards at 1280 px) and out of the window at 320 px. And width:100% plus padding and border is wider
    # than 100% unless the box includes them: every text field stuck out of its card by 1.4 px at 640 px and
    # less, the padding of the card eaten.
    controls = [rule for rule in _rules() if any(CONTROL.search(s) for s in rule.selectors)]
    assert len(controls) >= 3
    fixed = [
        (rule.selectors, rule.declarations["min-width"])
        for rule in controls
        if "min-width" in rule.declarations
        and rule.declarations["min-width"] != "0"
        and not re.fullmatch(r"min\([^,]+,\s*100%\)", rule.declarations["min-width"])
    ]
    assert not fixed, fixed
    assert _declared("input", "box-sizing") == "border-box"
    assert _declared("select", "box-sizing") == "border-box"
    assert _declared("textarea", "box-sizing") == "border-box"


def test_grid_columns_shrink_to_their_container() -> None:
    # minmax(20rem,1fr) made every card 320 px wide in a 294 px column at 320 px (with the long description
    # below, 66 of 126 pages audited scrolled sideways), and a bare 1fr (minmax(auto,1fr)) let a long hash or
    # URL widen the facts' column.
    tracks = [
        (rule.selectors, rule.declarations["grid-template-columns"])
        for rule in _rules()
        if "grid-template-columns" in rule.declarations
    ]
    assert len(tracks) >= 3
    problems = []
    for selectors, value in tracks:
        outside_minmax = re.sub(r"minmax\((?:[^()]|\([^()]*\))*\)", "", value)
        if re.search(r"[\d.]+fr\b", outside_minmax):
            problems.append((selectors, value, "a bare fr track keeps its content's width"))
        for low, _high in _calls(value, "minmax"):
            if low != "0" and not re.fullmatch(r"min\([^,]+,\s*100%\)", low):
                problems.append((selectors, value, f"minimum {low} can be wider than the container"))
    assert not problems, problems


def test_long_unbroken_text_wraps_inside_the_page() -> None:
    # A dataset description holding a SHA-256 and a URL made the dataset page 1331 px wide at 1280 px and
    # 1254 px wide at 375 px.
    assert _declared("main", "overflow-wrap") in ("break-word", "anywhere")
    # The header's name of the person and their member is a flex item: its minimum width is its longest word
    # unless the name may break anywhere.
    assert _declared("header .who span", "overflow-wrap") == "anywhere"
    assert _declared("header .who", "min-width") == "0"


def test_links_are_24px_tall_or_24px_apart() -> None:
    line = _line_px()
    # The main navigation's links were 19 px tall text; padded blocks, they are 24 px at least.
    assert _declared("header a", "display") == "inline-block"
    padding_top = _declared("header a", "padding").split()[0]
    assert line + 2 * _px(padding_top) >= MIN_TARGET_PX
    # Links stacked in a list (the home page's "You may", the error summary) were 23.2 px apart: a 24 px
    # circle on one met the next.
    assert line + _px(_declared("main li+li", "margin-top")) >= MIN_TARGET_PX
    # The exchange's sub-navigation wraps on a phone: its lines are 24 px apart, and a link never breaks
    # across two of them (its box then spans both lines and meets its neighbours).
    assert float(_declared("nav.subnav", "line-height")) * ROOT_PX >= MIN_TARGET_PX
    assert _declared("nav.subnav a", "white-space") == "nowrap"


def test_text_fields_and_selects_are_one_height_of_24px_at_least() -> None:
    # A row of filters lines up (the keyword field was 4 px taller than the selects beside it, its label
    # higher).
    text_fields = _declared("input:not([type=checkbox],[type=radio],[type=file])", "min-height")
    assert text_fields == _declared("select:not([multiple])", "min-height")
    assert _px(text_fields) >= MIN_TARGET_PX
    # Checkboxes and radio buttons were the browser's 13 px; at 1.2rem, in rows 2.4 px apart, a 24 px circle
    # on one still meets no other.
    assert _px(_declared("input[type=checkbox]", "width")) >= 1.2 * ROOT_PX
    assert _px(_declared("input[type=checkbox]", "height")) >= 1.2 * ROOT_PX


def test_an_invalid_field_is_marked_on_the_field_itself() -> None:
    # The field's border, not only the message above it, says which field to fix: at 3:1 against the white
    # field and card (WCAG 1.4.11).
    border = _declared("[aria-invalid=true]", "border")
    (colour,) = re.findall(r"#[0-9a-fA-F]{3,6}\b", border)
    assert _px(border.split()[0]) >= 2
    assert contrast(colour, "#fff") >= 3


def test_a_table_wider_than_the_window_shows_it_scrolls() -> None:
    # At 375 px a table's last visible column was cut at the window's edge with nothing saying more lies
    # beyond: shadows at the scrolling edges (fixed "scroll" layers, uncovered as the white "local" layers
    # move away with the content).
    background = _declared(".table-scroll", "background")
    layers = _split_top_level(background)
    assert any(" local" in layer for layer in layers)
    assert any(" scroll" in layer for layer in layers)
    # An opaque table would paint over the shadows.
    assert _declared(".table-scroll table", "background") == "transparent"


def test_chinese_text_gets_a_simplified_chinese_face_before_the_generic_one() -> None:
    # Titles, names and keywords are mostly Chinese: with only system-ui and sans-serif, which face draws them
    # (and whether Han characters take Japanese forms) was left to the platform.
    families = [family.strip().strip('"') for family in _split_top_level(_declared("body", "font-family"))]
    assert families[-1] == "sans-serif"
    assert SIMPLIFIED_CHINESE_FACES & set(families[:-1])


def test_code_keeps_a_readable_size() -> None:
    # The bare generic monospace makes browsers draw code at 13 px (a hash, an account, a formula on the
    # credit statement): naming a face first keeps it at the size the stylesheet gives.
    families = _split_top_level(_declared("code", "font-family"))
    assert len(families) > 1 and families[-1] == "monospace"
    assert _px(_declared("code", "font-size")) >= 0.85 * ROOT_PX


def test_cards_and_form_parts_keep_their_edges() -> None:
    # A card's padding is the gap above its heading (the heading's own margin doubled it); a fieldset's
    # legend lines up with the labels (it was 2 px in); cards side by side keep their own height (a short one
    # was stretched into an empty box beside the long policy form); the catalog's filters take whole rows on a
    # phone (they were of four different widths); a list to choose several from is as wide as its card (its
    # options' names were cut at 18rem).
    assert _declared(".card>:first-child", "margin-top") == "0"
    assert _declared("legend", "padding") == "0"
    assert _declared(".grid", "align-items") == "start"
    assert _declared("form.filters>div", "flex", media="(max-width:40rem)") == "1 1 100%"
    assert _declared("select[multiple]", "width") == "100%"
