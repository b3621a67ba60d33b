"""The portal's pages meet the WCAG 2.1 AA essentials a screen reader or keyboard user depends on, checked on
the HTML every page (each URL name, as the roles that use it) and every form sent back with errors produces:
a language, a title, a skip link to the one <main>, a labelled main navigation that marks where the reader
is, one <h1> and no skipped heading level, a label for every form control, unique ids and references that
resolve, data tables with a name and scoped headers, links whose names say where they go, and errors tied
to their fields, announced and named in the title. The stylesheet's colours are checked for contrast.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import get_resolver, reverse

from consortium.models import User
from exchange.models import AccessRequest, Dataset, Grant
from tests.portal_pages import POST_ONLY, demo_client, pages_answering_get

pytestmark = pytest.mark.django_db

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
UNLABELLED_INPUTS = {"hidden", "submit", "button", "reset", "image"}
LABELABLE = {"input", "select", "textarea", "button", "meter", "output", "progress"}
# Link names that say nothing without the sentence around them.
VAGUE_LINK_NAMES = {"here", "click here", "view", "more", "read more", "link", "details", "open", "this"}
# Pages seen by more roles than the CSP test opens them with: the main navigation differs by role.
MORE_VISITS = {
    "home": ["officer", "security", "auditor", "huaxin-steward", "huaxin-analyst", "qiaoneng-admin"],
    "catalog": ["officer", "huaxin-steward"],
    "grant-detail": ["huaxin-admin"],
    "credit-statement": ["officer", "auditor"],
    "people-list": ["officer"],
    "person-detail": ["officer"],
    "member-list": ["auditor"],
    "member-detail": ["huaxin-admin"],
}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    parent: Element | None
    children: list[Element | str] = field(default_factory=list)

    def get(self, name: str) -> str:
        return self.attrs.get(name) or ""

    def walk(self) -> Iterator[Element]:
        yield self
        for child in self.children:
            if isinstance(child, Element):
                yield from child.walk()

    def text(self) -> str:
        """The text a screen reader reads for the element (no CSS is applied: visually hidden text counts)."""
        parts = [child if isinstance(child, str) else child.name() for child in self.children]
        return " ".join(" ".join(parts).split())

    def name(self) -> str:
        """The accessible name as far as the portal needs it: aria-label, else the text content."""
        if "aria-hidden" in self.attrs:
            return ""
        return " ".join(self.get("aria-label").split()) or self.text()

    def ancestors(self) -> Iterator[Element]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent


class _Tree(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {}, None)
        self.open = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs}, self.open)
        self.open.children.append(element)
        if tag not in VOID:
            self.open = element

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        node: Element | None = self.open
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.open = node.parent

    def handle_data(self, data: str) -> None:
        self.open.children.append(data)


def parse(html: str) -> Element:
    tree = _Tree()
    tree.feed(html)
    tree.close()
    return tree.root


def _is_control(element: Element) -> bool:
    if element.tag in ("select", "textarea"):
        return "hidden" not in element.attrs
    return (
        element.tag == "input"
        and element.get("type").lower() not in UNLABELLED_INPUTS
        and "hidden" not in element.attrs
    )


def page_problems(html: str, path: str) -> list[str]:
    """What keeps a screen reader or keyboard user from using the page at `path`, in words."""
    root = parse(html)
    elements = list(root.walk())
    by_tag: dict[str, list[Element]] = {}
    for element in elements:
        by_tag.setdefault(element.tag, []).append(element)
    ids = Counter(element.get("id") for element in elements if element.get("id"))
    by_id = {element.get("id"): element for element in elements if element.get("id")}
    problems: list[str] = []

    (html_element,) = by_tag["html"]
    if not html_element.get("lang"):
        problems.append("<html> has no lang")
    titles = by_tag.get("title", [])
    if len(titles) != 1 or not titles[0].text():
        problems.append("no <title>")

    problems += [f"id {name!r} is used {count} times" for name, count in ids.items() if count > 1]
    for element in elements:
        for attribute in ("aria-describedby", "aria-labelledby"):
            problems += [
                f"<{element.tag} {attribute}> names {ref!r}, which is no element's id"
                for ref in element.get(attribute).split()
                if ref not in by_id
            ]

    # Landmarks and the skip link.
    mains = by_tag.get("main", [])
    if len(mains) != 1:
        problems.append(f"{len(mains)} <main> elements")
    (body,) = by_tag["body"]
    focusable = [
        e for e in body.walk() if (e.tag == "a" and "href" in e.attrs) or e.tag in ("button", "input")
    ]
    first = focusable[0] if focusable else None
    if (
        first is None
        or first.tag != "a"
        or not first.get("href").startswith("#")
        or "skip" not in first.text().lower()
    ):
        problems.append("the first thing to tab to is not a skip link")
    elif mains and by_id.get(first.get("href")[1:]) is not mains[0]:
        problems.append("the skip link does not lead to <main>")
    navs = [nav for nav in by_tag.get("nav", []) if any(a.tag == "header" for a in nav.ancestors())]
    if len(navs) != 1 or not navs[0].get("aria-label"):
        problems.append("the header has no single <nav> with an aria-label")
    nav_names = Counter(nav.get("aria-label") for nav in by_tag.get("nav", []))
    problems += [
        f"{count} <nav> elements are called {name!r}" for name, count in nav_names.items() if count > 1
    ]
    for nav in by_tag.get("nav", []):
        links = [a for a in nav.walk() if a.tag == "a" and "href" in a.attrs]
        for link in links:
            here = urlsplit(link.get("href")).path == path
            if here and link.get("aria-current") != "page":
                problems.append(
                    f"{nav.get('aria-label')} navigation: the link to this page is not aria-current=page"
                )
            if link.get("aria-current") == "page" and not here:
                problems.append(
                    f"{nav.get('aria-label')} navigation: {link.text()!r} is aria-current=page elsewhere"
                )

    # Headings.
    levels = [int(e.tag[1]) for e in elements if re.fullmatch(r"h[1-6]", e.tag)]
    if levels.count(1) != 1:
        problems.append(f"{levels.count(1)} <h1> elements")
    if levels and levels[0] != 1:
        problems.append(f"the first heading is an <h{levels[0]}>")
    problems += [f"<h{b}> follows <h{a}>" for a, b in itertools.pairwise(levels) if b > a + 1]
    problems += [f"empty <{e.tag}>" for e in elements if re.fullmatch(r"h[1-6]", e.tag) and not e.text()]

    # Form controls and labels.
    labelled_by_for = {label.get("for") for label in by_tag.get("label", []) if label.get("for")}
    for label in by_tag.get("label", []):
        target = by_id.get(label.get("for"))
        if label.get("for") and (target is None or target.tag not in LABELABLE):
            problems.append(f"<label for={label.get('for')!r}> labels no form control")
    for control in filter(_is_control, elements):
        has_label = (
            control.get("id") in labelled_by_for
            or any(a.tag == "label" for a in control.ancestors())
            or control.get("aria-label").strip()
            or control.get("aria-labelledby")
        )
        if not has_label:
            problems.append(f"<{control.tag} name={control.get('name')!r}> has no label")
    # Anything else a keyboard can reach must say what it is and be called something.
    problems += [
        f"<{e.tag} tabindex> without a role and a name"
        for e in elements
        if e.get("tabindex") not in ("", "-1")
        and e.tag not in ("a", "button", *LABELABLE)
        and not (e.get("role") and (e.get("aria-label").strip() or e.get("aria-labelledby")))
    ]
    for button in by_tag.get("button", []):
        if not button.name():
            problems.append("a <button> without a name")

    # Links.
    names_to_hrefs: dict[str, set[str]] = {}
    for link in by_tag.get("a", []):
        if "href" not in link.attrs:
            problems.append(f"<a> without href: {link.text()!r} (a button, or not a link)")
            continue
        name, href = link.name(), link.get("href")
        if href == "#" or href.startswith("javascript:"):
            problems.append(f"link {name!r} goes nowhere")
        if not re.search(r"[^\W\d_]", name):
            problems.append(f"link named {name!r} (to {href}) says nothing")
        elif name.lower().strip(" .:") in VAGUE_LINK_NAMES:
            problems.append(f"link named {name!r} (to {href})")
        names_to_hrefs.setdefault(name.lower(), set()).add(href.split("#")[0])
    problems += [
        f"{len(hrefs)} links named {name!r} go to different places"
        for name, hrefs in names_to_hrefs.items()
        if len(hrefs) > 1
    ]

    # Data tables.
    for table in by_tag.get("table", []):
        captions = [e for e in table.children if isinstance(e, Element) and e.tag == "caption"]
        if not (captions and captions[0].text()) and not table.get("aria-label"):
            problems.append("a table without a caption")
        headers = [e for e in table.walk() if e.tag == "th"]
        if not headers:
            problems.append("a table without <th>")
        problems += [
            f"<th> {th.text()!r} has no scope"
            for th in headers
            if th.get("scope") not in ("col", "row", "colgroup", "rowgroup")
        ]

    # Lists keep their semantics (a role on a <ul> hides its items from a screen reader's list navigation).
    problems += [
        f"<{e.tag} role={e.get('role')!r}>"
        for e in elements
        if e.tag in ("ul", "ol") and e.get("role") not in ("", "list")
    ]
    return problems


def error_problems(html: str) -> list[str]:
    """What keeps a screen reader user from hearing and finding the errors of a form sent back to them."""
    root = parse(html)
    elements = list(root.walk())
    by_id = {element.get("id"): element for element in elements if element.get("id")}
    problems: list[str] = []
    title = next(e for e in elements if e.tag == "title").text()
    if not title.startswith("Error"):
        problems.append(f"the title {title!r} does not say there is an error")
    alerts = [e for e in elements if e.get("role") == "alert"]
    error_lists = [e for e in elements if e.tag == "ul" and "errorlist" in e.get("class").split()]
    if not error_lists:
        problems.append("no error is shown")
    if not alerts:
        problems.append("nothing with role=alert announces the errors")
    described: set[str] = set()
    for element in elements:
        if element.get("aria-invalid") == "true":
            # A group of checkboxes or radio buttons is described on its fieldset, read on entering the group.
            group = next((a for a in element.ancestors() if a.tag == "fieldset"), None)
            refs = element.get("aria-describedby").split() + (
                group.get("aria-describedby").split() if group else []
            )
            if not any("errorlist" in by_id[ref].get("class").split() for ref in refs if ref in by_id):
                problems.append(
                    f"<{element.tag} name={element.get('name')!r}> is invalid, but not described by its error"
                )
        described.update(element.get("aria-describedby").split())
    for error_list in error_lists:
        in_alert = any(a.get("role") == "alert" for a in error_list.ancestors())
        if not in_alert and error_list.get("id") not in described:
            problems.append(f"the error {error_list.text()!r} is tied to no field")
    # Each field error is also listed where the reader lands, with a link to its field.
    summary = next((e for e in alerts if "error-summary" in e.get("class").split()), None)
    field_errors = [e for e in error_lists if e.get("id").endswith("_error")]
    if field_errors and summary is None:
        problems.append("no error summary lists the fields' errors")
    elif summary is not None:
        targets = {a.get("href") for a in summary.walk() if a.tag == "a"}
        for error_list in field_errors:
            field_id = error_list.get("id").removesuffix("_error")
            if f"#{field_id}" not in targets and not any(t.startswith(f"#{field_id}_") for t in targets):
                problems.append(f"the error summary has no link to {field_id}")
    return problems


# --- the portal's pages -----------------------------------------------------------------------------------


def _visits() -> list[tuple[str, str | None, str]]:
    pages = pages_answering_get()
    visits = [(name, username, url) for name, seen in pages.items() for username, url in seen]
    for name, usernames in MORE_VISITS.items():
        (_, url), *_ = pages[name]
        visits += [(name, username, url) for username in usernames]
    # A security officer decides confidential requests their steward approved; the requester follows theirs.
    approved = AccessRequest.objects.filter(state="steward_approved").first()
    own = AccessRequest.objects.filter(requester_member__users__username="huaxin-analyst").first()
    assert approved and own
    visits.append(("request-detail", "security", reverse("portal:request-detail", args=[approved.pk])))
    visits.append(("request-detail", "huaxin-analyst", reverse("portal:request-detail", args=[own.pk])))
    return visits


def _report(found: dict[str, list[str]]) -> str:
    return "\n".join(
        f"{where}:\n" + "".join(f"  - {problem}\n" for problem in problems)
        for where, problems in found.items()
    )


def test_the_checks_find_what_they_look_for() -> None:
    # Each check fails on a page that has the fault: a test that cannot fail would prove nothing.
    good = (
        '<!doctype html><html lang="en"><head><title>T</title></head><body><a href="#c">Skip to content</a>'
        '<header><nav aria-label="Main"><a href="/x/" aria-current="page">X</a></nav></header>'
        '<main id="c"><h1>T</h1><h2>S</h2><label for="q">Q</label><input id="q" name="q">'
        '<table><caption>C</caption><tr><th scope="col">A</th></tr></table></main></body></html>'
    )
    assert page_problems(good, "/x/") == []
    faults = [
        ('<html lang="en">', "<html>"),
        ('<a href="#c">Skip to content</a>', ""),
        ('aria-label="Main"', ""),
        (' aria-current="page"', ""),
        ("<h2>S</h2>", "<h1>S</h1>"),
        ("<h2>S</h2>", "<h3>S</h3>"),
        ('<label for="q">Q</label>', ""),
        ('<label for="q">', '<label for="c">'),
        ("<caption>C</caption>", ""),
        (' scope="col"', ""),
        ("</main>", '<a href="/1/">#1</a></main>'),
        ("</main>", '<a href="/1/">here</a></main>'),
        ("</main>", '<a href="/1/">Grant</a><a href="/2/">Grant</a></main>'),
        ("</main>", '<ul role="status"><li>Saved</li></ul></main>'),
        ("</main>", '<p id="q">twice</p></main>'),
        ("</main>", '<code tabindex="0">secret</code></main>'),
    ]
    for fault, replacement in faults:
        broken = good.replace(fault, replacement)
        assert broken != good and page_problems(broken, "/x/"), (fault, replacement)
    invalid = (
        '<html><head><title>Error: T</title></head><body><div class="error-summary" role="alert">'
        '<a href="#id_q">Q: required</a></div><ul class="errorlist" id="id_q_error"><li>required</li></ul>'
        '<input id="id_q" aria-invalid="true" aria-describedby="id_q_error"></body></html>'
    )
    assert error_problems(invalid) == []
    for fault, replacement in {
        "Error: T": "T",
        ' aria-describedby="id_q_error"': "",
        'role="alert"': "",
        'href="#id_q"': 'href="#id_x"',
    }.items():
        assert error_problems(invalid.replace(fault, replacement)), fault


@pytest.mark.usefixtures("demo")
def test_every_portal_page_as_each_role_that_uses_it() -> None:
    visits = _visits()
    _prefix, portal = get_resolver().namespace_dict["portal"]
    portal_names = {name for name in portal.reverse_dict if isinstance(name, str)}
    assert {name for name, _, _ in visits} | POST_ONLY == portal_names, (
        "a portal page this test does not open"
    )
    found: dict[str, list[str]] = {}
    for name, username, url in visits:
        response = demo_client(username).get(url, follow=True)
        assert response.status_code == 200, (name, username, url)
        path = response.request["PATH_INFO"]
        problems = page_problems(response.content.decode(), path)
        if problems:
            found[f"{name} as {username or 'a visitor'} ({path})"] = problems
    assert not found, _report(found)


@pytest.mark.usefixtures("demo")
def test_pages_that_answer_a_post_and_error_pages() -> None:
    huaxin = User.objects.get(username="huaxin-admin").member
    found = {}
    # Each with the status it is sent with: another page in its place would be checked instead of it.
    for (label, status), response in {
        ("404", 404): demo_client("officer").get("/no-such-page/"),
        ("403", 403): demo_client("auditor").post(
            reverse("portal:member-detail", args=[huaxin.pk]), {"action": "suspend"}
        ),
        ("403 csrf", 403): Client(enforce_csrf_checks=True).post(
            reverse("portal:login"), {"username": "officer"}
        ),
        ("api key created", 200): demo_client("huaxin-admin").post(
            reverse("portal:api-key-create"), {"name": "ERP sync", "scopes": ["read"]}
        ),
    }.items():
        assert response.status_code == status, (label, response.status_code)
        problems = page_problems(response.content.decode(), response.request["PATH_INFO"])
        if problems:
            found[label] = problems
    assert not found, _report(found)


def _forms_sent_back() -> Iterator[tuple[str, object]]:
    """(what, response) for every portal form sent with what its checks refuse."""
    huaxin = User.objects.get(username="huaxin-admin").member
    dataset = Dataset.objects.filter(owner=huaxin).exclude(policy=None).exclude(grade=3).first()
    incoming = AccessRequest.objects.filter(dataset__owner=huaxin, state="pending").first()
    grant = Grant.objects.filter(dataset__owner=huaxin, revoked_at=None).first()
    analyst = User.objects.get(username="huaxin-analyst")
    assert dataset and incoming and grant
    steward, admin, officer = (
        demo_client("huaxin-steward"),
        demo_client("huaxin-admin"),
        demo_client("officer"),
    )
    yield (
        "login",
        demo_client(None).post(reverse("portal:login"), {"username": "officer", "password": "wrong"}),
    )
    yield "login, empty", demo_client(None).post(reverse("portal:login"), {})
    yield "apply", demo_client(None).post(reverse("portal:apply"), {"credit_code": "123"})
    yield (
        "password-reset",
        demo_client(None).post(reverse("portal:password-reset"), {"email": "not an address"}),
    )
    yield "person-create", admin.post(reverse("portal:person-create"), {"email": "x"})
    yield (
        "member-person-create",
        officer.post(reverse("portal:member-person-create", args=[huaxin.pk]), {"email": "x"}),
    )
    yield "person-detail", admin.post(reverse("portal:person-detail", args=[analyst.pk]), {"role": "nobody"})
    yield "api-key-create", admin.post(reverse("portal:api-key-create"), {"expires": "someday"})
    yield (
        "member-detail",
        officer.post(reverse("portal:member-detail", args=[huaxin.pk]), {"action": "suspend"}),
    )
    yield "my-datasets", steward.post(reverse("portal:my-datasets"), {"title": ""})
    yield "catalog", demo_client("huaxin-analyst").get(reverse("portal:catalog"), {"grade": "9"})
    yield "member-list", officer.get(reverse("portal:member-list"), {"status": "nobody"})
    yield "incoming-requests", steward.get(reverse("portal:incoming-requests"), {"state": "nobody"})
    yield (
        "dataset-detail request",
        demo_client("jinglan-analyst").post(
            reverse("portal:dataset-detail", args=[dataset.pk]), {"duration_days": "0"}
        ),
    )
    yield "dataset-policy", steward.post(reverse("portal:dataset-policy", args=[dataset.pk]), {})
    upload = SimpleUploadedFile("x.csv", b"a,b\n", content_type="text/csv")
    yield (
        "dataset-version-upload",
        steward.post(
            reverse("portal:dataset-version-upload", args=[dataset.pk]),
            {"file": upload, "declared_sha256": "0" * 64},
        ),
    )
    yield (
        "dataset-withdraw",
        steward.post(reverse("portal:dataset-withdraw", args=[dataset.pk]), {"reason": ""}),
    )
    yield (
        "request-detail",
        steward.post(
            reverse("portal:request-detail", args=[incoming.pk]), {"action": "reject", "reason": ""}
        ),
    )
    yield "grant-revoke", steward.post(reverse("portal:grant-revoke", args=[grant.pk]), {"reason": ""})


@pytest.mark.usefixtures("demo")
def test_forms_sent_back_with_errors_announce_them_and_tie_them_to_their_fields() -> None:
    found = {}
    for what, response in _forms_sent_back():
        assert response.status_code in (200, 400), (what, response.status_code)
        path = response.request["PATH_INFO"]
        page = response.content.decode()
        problems = page_problems(page, path) + error_problems(page)
        if problems:
            found[what] = problems
    assert not found, _report(found)


@pytest.mark.parametrize(("path", "status"), [("/password/forgot/sent/", 200), ("/no-such-page/", 404)])
def test_the_error_title_looks_for_forms_without_computing_the_pages_other_values(
    client, path, status
) -> None:
    # The page's lazy values (the request's user, its CSRF token) are no forms: computing the CSRF token to
    # ask gave a page without a form, a 404 included, a CSRF cookie.
    response = client.get(path)
    assert response.status_code == status  # the page meant, not a redirect or an error in its place
    assert "<title>" in response.content.decode()
    assert "<title>Error: " not in response.content.decode()
    assert "csrftoken" not in response.cookies


# --- colour contrast ----------------------------------------------------------------------------------------

STYLE = re.compile(r"<style[^>]*>(.*?)</style>", re.S)
RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
COLOUR = re.compile(r"#(?:[0-9a-fA-F]{6}|[0-9a-fA-F]{3})\b")


def _luminance(colour: str) -> float:
    digits = colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(first: str, second: str) -> float:
    """WCAG 2.1's contrast ratio of two #rgb / #rrggbb colours, 1 to 21."""
    high, low = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _stylesheet_colours() -> dict[str, list[tuple[str, str]]]:
    """property -> (selector, colour) for every colour base.html's stylesheet sets, media queries included."""
    text = (Path(settings.BASE_DIR) / "consortium" / "templates" / "base.html").read_text(encoding="utf-8")
    (css,) = STYLE.findall(text)
    css = re.sub(r"@media[^{]*\{", "", css)
    found: dict[str, list[tuple[str, str]]] = {}
    for selectors, declarations in RULE.findall(css):
        for declaration in declarations.split(";"):
            name, _, value = declaration.partition(":")
            for colour in COLOUR.findall(value):
                for selector in selectors.split(","):
                    found.setdefault(name.strip(), []).append((" ".join(selector.split()), colour))
    return found


def _in_header(selector: str) -> bool:
    return selector.startswith("header") or selector.startswith(".skip")


def test_every_text_colour_has_4_5_to_1_on_every_background_of_the_other_lightness() -> None:
    # Text sits on the page, cards, tables, headers, badges, messages and the warning box: each text colour is
    # checked against every background it could meet (dark text on light ones, light text on dark ones), so a
    # new colour cannot pass by not being paired with the surface it is used on.
    colours = _stylesheet_colours()
    texts = {colour for _, colour in colours["color"]}
    backgrounds = {
        colour for name in ("background", "background-color") for _, colour in colours.get(name, [])
    }
    assert len(texts) >= 5 and len(backgrounds) >= 10
    weak = [
        (text, background, round(contrast(text, background), 2))
        for text in texts
        for background in backgrounds
        if (_luminance(text) < 0.18) != (_luminance(background) < 0.18) and contrast(text, background) < 4.5
    ]
    assert not weak, weak


def test_focus_outlines_have_3_to_1_against_what_they_are_drawn_on() -> None:
    # An outline is drawn around the focused element, on the surface beside it: the header's dark band for the
    # header's links and button, the light surfaces (page, cards, tables, messages) everywhere else.
    colours = _stylesheet_colours()
    outlines = colours["outline"] + colours.get("outline-color", [])
    assert outlines
    backgrounds = colours["background"]
    header_band = next(colour for selector, colour in backgrounds if selector == "header")
    light = {colour for _, colour in backgrounds if _luminance(colour) >= 0.18}
    assert light, "no light surface found: the outlines outside the header would be checked against none"
    weak = []
    for selector, outline in outlines:
        surfaces = {header_band} if _in_header(selector) else light
        weak += [
            (selector, outline, s, round(contrast(outline, s), 2))
            for s in surfaces
            if contrast(outline, s) < 3
        ]
    assert not weak, weak


def test_the_contrast_ratio_is_wcag_s() -> None:
    # The checks above pass whatever colours they meet if the ratio is wrong: WCAG's own reference points.
    assert contrast("#000", "#ffffff") == 21
    assert contrast("#fff", "#fff") == 1
    assert round(contrast("#767676", "#fff"), 2) == 4.54  # the lightest grey on white that passes 4.5:1
    assert round(contrast("#777777", "#fff"), 2) == 4.48
