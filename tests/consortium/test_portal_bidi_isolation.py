"""The portal's pages isolate user-supplied text (names, titles, file names, keywords, reasons) from the text
around it, so that a right-to-left value, or one holding a bidi control, cannot reorder a sentence, a cell or
a title: in the page's content it is in a <bdi> (or is the whole content of a p, dd or td with dir="auto"),
in the <title> and in aria-label and title attributes between U+2068 FSI and U+2069 POP DIRECTIONAL ISOLATE.

Checked on every page of the demo (tests/portal_pages.py) after its records were given Arabic and Hebrew
names holding bidi controls, written past the services (which now refuse the controls, as records stored
before them may still hold them). Every right-to-left character or bidi control on a page must be isolated,
and an inline isolate (<bdi>, FSI...PDI) must hold a value that closes what it opens and closes nothing it did
not open.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from consortium.models import Cluster, Member, MemberAPIKey, MemberStatusChange, User
from consortium.text import BIDI_CONTROLS, FSI, PDI, balanced, isolated
from exchange import services as exchange_services
from exchange.models import AccessPolicy, AccessRequest, Dataset, DatasetVersion, Grant
from exchange.services import datasets as datasets_service
from ledger.credit import services as credit_services
from ledger.credit.models import CreditEpoch
from tests.exchange.support import (
    REGISTRATION_FORM,
    add_version,
    as_user,
    register,
    request_access,
    set_policy,
)
from tests.factories import UserFactory
from tests.ledger.credit.support import activate, admit
from tests.portal_pages import demo_client, pages_answering_get

pytestmark = pytest.mark.django_db

NO_END_TAG = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}
INITIATORS = "\u2066\u2067\u2068"
# Attributes a person reads or hears as text.
READ_ATTRIBUTES = ("aria-label", "title", "alt", "placeholder")
# A form control's own text, each option a line of its own: the control isolates it. So does a choice's
# label around its checkbox or radio button, alone in its block.
CONTROLS = {"option", "textarea", "select"}
WRAPS_A_CONTROL = "\0wraps a control"
NOT_CHECKED = {"script", "style"} | CONTROLS

# The demo's records get these (written directly: the services refuse the bidi controls some hold).
MEMBER = "\u202eمصنع هواشين 7"  # an override the name never closes
REQUESTER = "\u2069مختبر جينغلان\u2067"  # a stray PDI, and an isolate it never closes
REGION = "חיפה"
CLUSTER = "עמק הייצור"
CONTACT = "أحمد الحسن"
FIRST, LAST = "سارة", "\u200fكريم"
RTL_USERNAME = "مستخدم"
TITLE = "נתוני רטט \u2067.exe"
KEYWORD = "ارتجاج"
FILENAME = "تقرير\u202egpj.exe"
KEY_NAME = "مزامنة ليلية"
REASON = "مرفوض \u202eلسبب"
JUSTIFICATION = "نحتاجها للبحث"
TERMS = "استخدم للغرض المعلن فقط"


def _rtl_or_control(character: str) -> bool:
    return character in BIDI_CONTROLS or unicodedata.bidirectional(character) in ("R", "AL", "AN")


def _unisolated(text: str) -> list[str]:
    """The right-to-left characters and bidi controls of `text` outside any FSI/LRI/RLI...PDI isolate, and
    any PDI that closes none."""
    found: list[str] = []
    depth = 0
    for character in text:
        if character in INITIATORS:
            depth += 1
        elif character == PDI:
            if depth == 0:
                found.append(character)
            depth = max(depth - 1, 0)
        elif depth == 0 and _rtl_or_control(character):
            found.append(character)
    return found


def _isolates(tag: str, attrs: dict[str, str]) -> bool:
    return tag == "bdi" or ("dir" in attrs and tag in ("p", "dd", "td"))


class _Isolation(HTMLParser):
    """Reads a page: `problems` lists user text that is not isolated; `isolated` the text of each isolating
    element (tag, text) and `titled` the <title>'s text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[tuple[str, dict[str, str], list[str] | None]] = []
        self.problems: list[str] = []
        self.isolated: list[tuple[str, str]] = []
        self.titled = ""

    def _tags(self) -> Iterator[str]:
        return (tag for tag, _attrs, _text in self.open)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        for name in READ_ATTRIBUTES:
            if _unisolated(attributes.get(name, "")):
                self.problems.append(f"<{tag} {name}={attributes[name]!r}> is not isolated")
        if tag == "input" and self.open and self.open[-1][0] == "label":
            self.open[-1][1][WRAPS_A_CONTROL] = ""
        if tag not in NO_END_TAG:
            self.open.append((tag, attributes, [] if _isolates(tag, attributes) else None))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in NO_END_TAG:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag not in self._tags():
            return
        while self.open:
            open_tag, _attrs, text = self.open.pop()
            if text is not None:
                self._closed(open_tag, "".join(text))
            if open_tag == tag:
                return

    def _closed(self, tag: str, text: str) -> None:
        self.isolated.append((tag, text))
        # A block with dir="auto" ends the paragraph, and whatever its value leaves open with it.
        if tag == "bdi" and text != balanced(text):
            self.problems.append(f"<{tag}> holds unbalanced isolates: {text!r}")

    def handle_data(self, data: str) -> None:
        tags = set(self._tags())
        if "title" in tags:
            self.titled += data
            if _unisolated(data):
                self.problems.append(f"<title> {data!r} is not isolated")
            return
        if tags & NOT_CHECKED or any(WRAPS_A_CONTROL in attrs for _tag, attrs, _text in self.open):
            return
        texts = [text for _tag, _attrs, text in self.open if text is not None]
        for text in texts:
            text.append(data)
        if not texts and any(map(_rtl_or_control, data)):
            self.problems.append(f"{' > '.join(self._tags())}: {data.strip()!r} is not isolated")


def _read(html: str) -> _Isolation:
    page = _Isolation()
    page.feed(html)
    page.close()
    return page


@pytest.fixture
def rtl_demo(demo) -> None:
    """The demo, with right-to-left names, titles and texts on Huaxin's records and its requester's."""
    huaxin = User.objects.get(username="huaxin-admin").member
    requester = User.objects.get(username="jinglan-analyst").member
    Member.objects.filter(pk=huaxin.pk).update(
        legal_name=MEMBER, region=REGION, contact_name=CONTACT, contact_phone=CONTACT
    )
    Member.objects.filter(pk=requester.pk).update(legal_name=REQUESTER)
    Cluster.objects.filter(members=huaxin).update(name=CLUSTER)
    User.objects.filter(member__in=[huaxin, requester]).update(first_name=FIRST, last_name=LAST)
    UserFactory(member=huaxin, username=RTL_USERNAME, member_role="analyst")
    MemberStatusChange.objects.filter(member=huaxin).update(reason=REASON)
    datasets = Dataset.objects.filter(owner=huaxin)
    datasets.update(
        title=TITLE,
        keywords=[KEYWORD, "cnc"],
        description=JUSTIFICATION,
        spatial_coverage=REGION,
        licence=KEY_NAME,
        contact_name=CONTACT,
    )
    DatasetVersion.objects.filter(dataset__in=datasets).update(filename=FILENAME)
    AccessPolicy.objects.filter(dataset__in=datasets).update(terms=TERMS)
    AccessRequest.objects.filter(dataset__in=datasets).update(
        justification=JUSTIFICATION, decision_reason=REASON
    )
    MemberAPIKey.objects.filter(member=huaxin).update(name=KEY_NAME)


def _visits() -> Iterator[tuple[str, str | None, str]]:
    for name, visits in pages_answering_get().items():
        for username, url in visits:
            yield name, username, url
    member = User.objects.get(username="huaxin-admin").member
    grant = Grant.objects.filter(dataset__owner=member).first()
    assert grant is not None
    # The pages that show Huaxin's records to other people than pages_answering_get opens them as.
    yield "people-list", "officer", reverse("portal:people-list")
    yield "member-detail", "huaxin-admin", reverse("portal:member-detail", args=[member.pk])
    yield "grant-detail", "huaxin-admin", reverse("portal:grant-detail", args=[grant.pk])
    yield "grant-list", "jinglan-admin", reverse("portal:grant-list")
    yield "catalog", "jinglan-analyst", reverse("portal:catalog")
    yield "my-requests", "jinglan-analyst", reverse("portal:my-requests")
    yield "credit-statement", "auditor", f"{reverse('portal:credit-statement')}?member={member.pk}"


def test_every_portal_page_isolates_right_to_left_names_and_bidi_controls(rtl_demo) -> None:
    problems: dict[str, list[str]] = {}
    isolated: set[str] = set()
    for name, username, url in _visits():
        response = demo_client(username).get(url, follow=True)  # "requests" leads on to the user's list
        assert response.status_code == 200, (name, username)
        page = _read(response.content.decode())
        if page.problems:
            problems[f"{name} as {username}"] = page.problems
        isolated |= {text for _tag, text in page.isolated}
    assert problems == {}
    # Not vacuous: each value was on some page, isolated whole.
    shown = [MEMBER, REQUESTER, REGION, CLUSTER, CONTACT, f"{FIRST} {LAST}", RTL_USERNAME, TITLE, KEYWORD]
    shown += [FILENAME, KEY_NAME, REASON, JUSTIFICATION, TERMS]
    assert [value for value in shown if balanced(value) not in isolated] == []


def test_a_member_page_shows_its_right_to_left_name_in_bdi_and_its_title_isolated(rtl_demo) -> None:
    member = Member.objects.get(legal_name=MEMBER)
    page = _read(
        demo_client("officer").get(reverse("portal:member-detail", args=[member.pk])).content.decode()
    )
    assert ("bdi", MEMBER) in page.isolated
    assert page.titled.startswith(f"{FSI}{MEMBER}{PDI} · ")
    assert page.problems == []


def test_a_value_that_opens_or_closes_an_isolate_is_balanced_inside_its_own(rtl_demo) -> None:
    # REQUESTER closes an isolate it never opened and opens one it never closes: shown as is, its PDI would
    # end the <bdi>'s isolate early, and the isolate it opens would take in the text after the <bdi>.
    request = AccessRequest.objects.filter(
        requester_member__legal_name=REQUESTER, dataset__owner__legal_name=MEMBER
    ).first()
    assert request is not None
    html = demo_client("huaxin-steward").get(reverse("portal:request-detail", args=[request.pk])).content
    page = _read(html.decode())
    assert (
        "bdi",
        "\u0645\u062e\u062a\u0628\u0631 \u062c\u064a\u0646\u063a\u0644\u0627\u0646\u2067\u2069",
    ) in (page.isolated)
    assert page.problems == []


def test_a_dataset_page_isolates_its_title_file_names_and_keywords(rtl_demo) -> None:
    dataset = Dataset.objects.filter(title=TITLE).exclude(policy=None).exclude(versions=None).first()
    assert dataset is not None
    page = _read(
        demo_client("huaxin-steward")
        .get(reverse("portal:dataset-detail", args=[dataset.pk]))
        .content.decode()
    )
    assert page.titled.startswith(f"{FSI}{balanced(TITLE)}{PDI} · ")
    assert {("bdi", balanced(TITLE)), ("bdi", FILENAME), ("bdi", KEYWORD), ("dd", TERMS)} <= set(
        page.isolated
    )
    assert page.problems == []


def test_the_checks_find_what_they_look_for() -> None:
    """Each check refuses the page it is there for, so that a passing page means something."""
    assert _read("<main><p>Request from شركة for x</p></main>").problems
    assert _read("<main><p>Request from <bdi>شركة</bdi> for x</p></main>").problems == []
    assert _read("<main><p>Key \u202e</p></main>").problems  # a control alone, no RTL letter
    assert _read("<main><div dir='auto'><p>شركة</p></div></main>").problems  # only p, dd, td count
    assert _read("<main><p dir='auto'>شركة</p></main>").problems == []
    assert _read("<main><bdi>\u2069شركة</bdi></main>").problems  # a PDI that ends the isolate early
    assert _read("<main><bdi>\u2067شركة</bdi></main>").problems  # an isolate the value never closes
    assert _read("<title>شركة · Consortium Exchange</title>").problems
    assert _read(f"<title>{FSI}شركة{PDI} · Consortium Exchange</title>").problems == []
    assert _read(f"<title>{FSI}\u2069شركة{PDI}</title>").problems
    assert _read("<button aria-label='Revoke key شركة'>Revoke</button>").problems
    assert _read(f"<button aria-label='Revoke key {FSI}شركة{PDI}'>Revoke</button>").problems == []
    assert _read("<header><span>شركة</span></header>").problems  # the header names the user and member
    assert _read("<select><option>شركة</option></select>").problems == []
    assert _read("<div><label><input type='checkbox'> شركة</label></div>").problems == []
    assert _read("<div><label>شركة <input></label></div>").problems


def test_a_right_to_left_key_name_is_isolated_where_it_is_created_and_in_the_revoke_message(
    member_admin,
) -> None:
    client = as_user(member_admin)
    created = client.post(reverse("portal:api-key-create"), {"name": KEY_NAME, "scopes": ["read"]})
    page = _read(created.content.decode())
    assert ("bdi", KEY_NAME) in page.isolated and page.problems == []

    key = MemberAPIKey.objects.get(name=KEY_NAME)
    listing = client.post(reverse("portal:api-key-revoke", args=[key.prefix]), follow=True)
    (message,) = (str(message) for message in listing.context["messages"])
    assert message == f"The key '<bdi>{KEY_NAME}</bdi>' ({key.prefix}) is revoked."
    assert message in listing.content.decode()  # as markup, not escaped
    assert _read(listing.content.decode()).problems == []


def _message_after(client, url: str, data: dict[str, str]) -> tuple[str, _Isolation]:
    """Post `data` to `url`, follow the redirect: the one message shown, and the page read."""
    response = client.post(url, data, follow=True)
    assert response.status_code == 200, (url, response.status_code)
    (message,) = (str(message) for message in response.context["messages"])
    html = response.content.decode()
    page = _read(html)
    if message not in html:
        page.problems.append(f"the message {message!r} is not on the page as markup")
    return message, page


def test_the_messages_after_an_action_isolate_the_names_and_titles_they_hold(rtl_demo) -> None:
    huaxin = User.objects.get(username="huaxin-admin").member
    person = User.objects.get(username=RTL_USERNAME)
    User.objects.filter(pk=person.pk).update(email="sara@\u0645\u062b\u0627\u0644.example")
    person.refresh_from_db()
    withdrawn = Dataset.objects.filter(owner=huaxin, title=TITLE).first()
    assert withdrawn is not None
    new_person = "\u0646\u0627\u062f\u064a\u0629"  # written through the services: no bidi control
    new_title = "\u05e0\u05ea\u05d5\u05e0\u05d9 \u05e7\u05d9\u05e8\u05d5\u05e8"
    admin, steward = demo_client("huaxin-admin"), demo_client("huaxin-steward")
    person_form = {"email": "nadia@huaxin.example", "role": "analyst"}
    actions = [
        (admin, reverse("portal:person-create"), {**person_form, "username": new_person}, new_person),
        (
            admin,
            reverse("portal:person-create"),
            {**person_form, "username": f"{new_person}2", "password": "a long unguessable phrase 7"},
            f"{new_person}2",
        ),
        (admin, reverse("portal:person-detail", args=[person.pk]), {"role": "data_steward"}, RTL_USERNAME),
        (admin, reverse("portal:person-password-link", args=[person.pk]), {}, person.email),
        (admin, reverse("portal:person-deactivate", args=[person.pk]), {}, RTL_USERNAME),
        (steward, reverse("portal:my-datasets"), {**REGISTRATION_FORM, "title": new_title}, new_title),
        (steward, reverse("portal:dataset-withdraw", args=[withdrawn.pk]), {"reason": "superseded"}, TITLE),
        (
            demo_client("officer"),
            reverse("portal:member-detail", args=[huaxin.pk]),
            {"action": "suspend", "reason": "audit"},
            MEMBER,
        ),
    ]
    problems: dict[str, list[str]] = {}
    for client, url, data, value in actions:
        message, page = _message_after(client, url, data)
        if f"<bdi>{balanced(value)}</bdi>" not in message:
            page.problems.append(f"the message {message!r} does not isolate {value!r}")
        if page.problems:
            problems[f"{url} ({value})"] = page.problems
    assert problems == {}


def test_the_credit_pages_isolate_dataset_titles_member_and_consumer_names(
    monkeypatch, member, other_member, data_steward, other_analyst, auditor
) -> None:
    # A statement names a dataset by the title its ledger registration states: registered here holding a
    # bidi control, as one registered before the services refused them may (the ledger is append-only).
    monkeypatch.setattr(datasets_service, "refuse_hidden_characters", lambda **values: None)
    activate()
    admit(member, other_member)
    dataset = register(data_steward, title=TITLE)
    set_policy(data_steward, dataset, tier="open")
    add_version(data_steward, dataset)
    grant = Grant.objects.get(request=request_access(other_analyst, dataset))
    handle = exchange_services.grant_download(actor=other_analyst, grant=grant)[-1]
    handle.close()
    epoch = CreditEpoch.objects.get().epoch
    credit_services.credit_epoch_settle(epoch=epoch, early=True)
    Member.objects.filter(pk=member.pk).update(legal_name=MEMBER)
    Member.objects.filter(pk=other_member.pk).update(legal_name=REQUESTER)

    statement = reverse("portal:credit-statement")
    pages = {
        "own statement": as_user(data_steward).get(statement),
        "auditor's statement": as_user(auditor).get(statement, {"member": member.pk}),
        "leaderboard": as_user(auditor).get(reverse("portal:credit-leaderboard")),
    }
    read = {name: _read(page.content.decode()) for name, page in pages.items()}
    assert {name: page.problems for name, page in read.items() if page.problems} == {}
    for name in ("own statement", "auditor's statement"):
        html = pages[name].content.decode()
        assert f'aria-label="Points earned by {isolated(TITLE)} (#{dataset.pk})"' in html
        assert {("bdi", balanced(TITLE)), ("bdi", MEMBER), ("bdi", balanced(REQUESTER))} <= set(
            read[name].isolated
        )
    assert ("bdi", MEMBER) in read["leaderboard"].isolated  # the consumer mints nothing: not on it
