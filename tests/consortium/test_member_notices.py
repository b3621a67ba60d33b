"""A member's contact is e-mailed each decision on its membership (consortium.notifications): admitted,
declined, suspended, reinstated, withdrawn, with the reason recorded and what happens next; only after the
decision commits, never for a refused or rolled-back one, and a broker that is down does not turn the
committed decision into an error.

Celery runs eagerly here and pytest-django's locmem backend fills `mailoutbox`. Callbacks queued with
transaction.on_commit run when `django_capture_on_commit_callbacks(execute=True)` exits, as they would after
the real commit.
"""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError

from consortium import services, tasks
from consortium.models import Member, MemberStatus, MemberStatusChange
from consortium.text import FSI, PDI
from tests.consortium.test_portal_bidi_isolation import _unisolated
from tests.exchange.support import as_user
from tests.factories import MemberFactory, UserFactory, make_credit_code
from tests.failure_injection import nothing_left, nothing_left_at_commit
from tests.ledger.credit.support import activate

pytestmark = pytest.mark.django_db

SITE = django_settings.SITE_URL.rstrip("/")


def _decide(officer, member, action, reason, capture) -> None:
    """An officer's decision on the member's page of the portal, committed."""
    with capture(execute=True):
        response = as_user(officer).post(
            reverse("portal:member-detail", args=[member.pk]), {"action": action, "reason": reason}
        )
    assert response.status_code == 302, response.content.decode()


@pytest.fixture
def applicant(db) -> Member:
    return MemberFactory(
        legal_name="杭州示例智能制造有限公司",
        status=MemberStatus.APPLIED,
        contact_name="王小明",
        contact_email="wang@applicant.example.cn",
    )


def test_the_application_pages_promise_the_mail_the_decision_sends(client) -> None:
    form = client.get(reverse("portal:apply")).content.decode()
    assert "the decision is e-mailed to the contact e-mail you give" in form
    response = client.post(
        reverse("portal:apply"),
        {
            "legal_name": "Initech Software Co., Ltd.",
            "credit_code": make_credit_code(77),
            "size_class": "small",
            "sector": "I",
            "region": "Jiangsu",
            "contact_name": "Zhang Min",
            "contact_email": "zhang.min@initech.example",
        },
        follow=True,
    )
    page = " ".join(response.content.decode().split())
    assert "write to the contact you gave" not in page
    assert (
        "The decision, admitted or declined (with the reason), is e-mailed to "
        "<strong><bdi>zhang.min@initech.example</bdi></strong>; "
        "an admission also says how your firm's first member admin gets a login."
    ) in page


def test_an_admission_tells_the_contact_how_the_first_admin_gets_a_login(
    officer, applicant, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    _decide(officer, applicant, "admit", "", django_capture_on_commit_callbacks)
    (message,) = mailoutbox
    assert message.to == ["wang@applicant.example.cn"]
    assert (
        message.subject == f"Consortium Exchange membership of {FSI}杭州示例智能制造有限公司{PDI}: admitted"
    )
    body = message.body
    assert body.startswith(f"Hello {FSI}王小明{PDI},\n")
    assert "(unified social credit code " + applicant.credit_code + ") is accepted" in body
    assert "Reason:" not in body  # none was given
    assert (
        f"Nobody can act for {FSI}杭州示例智能制造有限公司{PDI} in the portal yet: "
        "it needs its first member admin." in body
    )
    assert "A consortium officer adds that person to the portal and has the portal e-mail them a link" in body
    days = django_settings.PASSWORD_RESET_TIMEOUT // 86400  # Django's default: 3
    assert f"(the link works once and for {days} days;" in body
    assert f"ask for a new one at {SITE}/password/forgot/)" in body
    assert f"They then log in at {SITE}/login/ and add your firm's other people" in body
    assert "&" not in body and "&#" not in body  # plain text: nothing HTML-escaped


def test_an_admission_of_a_firm_that_already_has_its_admin_says_so(
    officer, applicant, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    UserFactory(username="early-admin", member=applicant, member_role="member_admin")
    _decide(officer, applicant, "admit", "Welcome.", django_capture_on_commit_callbacks)
    body = mailoutbox[0].body
    assert f"Reason: {FSI}Welcome.{PDI}\n" in body
    assert f"Your member admin can log in to the portal at {SITE}/login/" in body
    assert "Nobody can act" not in body


def test_a_declined_application_gives_the_reason_and_closes_it(
    officer, applicant, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    _decide(officer, applicant, "decline", "Not a manufacturer.", django_capture_on_commit_callbacks)
    (message,) = mailoutbox
    assert message.to == [applicant.contact_email]
    assert message.subject.endswith(": application declined")
    assert "is declined: a consortium officer decided so on" in message.body
    assert f"Reason: {FSI}Not a manufacturer.{PDI}\n" in message.body
    assert (
        f"The firm may apply again at {SITE}/apply/ under the same unified social credit code" in message.body
    )
    assert "this decision stays in the membership's history" in message.body


def test_suspension_reinstatement_and_withdrawal_each_tell_the_contact(
    officer, member, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    _decide(officer, member, "suspend", "Annual dues overdue.", django_capture_on_commit_callbacks)
    _decide(officer, member, "reinstate", "Dues paid.", django_capture_on_commit_callbacks)
    _decide(officer, member, "withdraw", "Left the cluster.", django_capture_on_commit_callbacks)
    assert [m.to for m in mailoutbox] == [[member.contact_email]] * 3
    suspended, reinstated, withdrawn = mailoutbox
    assert suspended.subject == f"Consortium Exchange membership of {FSI}Own Firm Co., Ltd.{PDI}: suspended"
    assert f"Reason: {FSI}Annual dues overdue.{PDI}\n" in suspended.body
    assert "its API keys are refused, downloads under grants it holds stop" in suspended.body
    assert "A consortium officer may reinstate it." in suspended.body
    assert reinstated.subject.endswith(": reinstated")
    assert f"Reason: {FSI}Dues paid.{PDI}\n" in reinstated.body
    assert (
        f"work again, and its datasets take new requests again. The portal: {SITE}/login/" in reinstated.body
    )
    assert withdrawn.subject.endswith(": withdrawn")
    assert "a consortium officer withdrew it from the consortium on" in withdrawn.body
    assert f"Reason: {FSI}Left the cluster.{PDI}\n" in withdrawn.body
    assert "This is final: a withdrawn member cannot be reinstated." in withdrawn.body


@pytest.mark.parametrize(
    ("first_name", "last_name", "full_name"),
    [("小红", "李", "李小红"), ("سارة", "أحمد", "سارة أحمد")],  # the second right-to-left
)
def test_a_withdrawal_by_the_members_own_admin_names_them(
    first_name, last_name, full_name, member_admin, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    member_admin.first_name, member_admin.last_name = first_name, last_name
    member_admin.save(update_fields=["first_name", "last_name"])
    with django_capture_on_commit_callbacks(execute=True):
        services.member_withdraw(member=member_admin.member, actor=member_admin, reason="Closing down.")
    assert (
        f"The membership of {FSI}Own Firm Co., Ltd.{PDI} is withdrawn: "
        f"your member admin {FSI}{full_name}{PDI} withdrew it from the consortium on "
    ) in mailoutbox[0].body


# A right-to-left legal name, contact name or reason sits inside the notice's sentences between U+2068 FIRST
# STRONG ISOLATE and U+2069 POP DIRECTIONAL ISOLATE (consortium.text), so that its direction cannot reorder
# them in a mail client. Names refuse bidi controls at entry (test_hidden_characters_in_names.py); a reason is
# free text, which refuses overrides and isolates (test_hidden_characters_in_text.py) but keeps the marks
# right-to-left prose needs, whose direction the isolate keeps in.
RTL_NAME = "شركة المثال"
RTL_CONTACT = "سارة أحمد"
RTL_REASON = "راجعنا الطلب \u200f(ref 42)\nسطر ثان"  # two lines, and a RIGHT-TO-LEFT MARK


@pytest.mark.parametrize(
    ("status", "action", "outcome", "sentence"),
    [
        (
            MemberStatus.APPLIED,
            "admit",
            "admitted",
            "The application of {name} (unified social credit code {code}) is accepted: a consortium officer "
            "admitted it to the consortium on ",
        ),
        (
            MemberStatus.APPLIED,
            "decline",
            "application declined",
            "The application of {name} (unified social credit code {code}) is declined: a consortium officer "
            "decided so on ",
        ),
        (
            MemberStatus.ACTIVE,
            "suspend",
            "suspended",
            "The membership of {name} is suspended: a consortium officer suspended it on ",
        ),
        (
            MemberStatus.SUSPENDED,
            "reinstate",
            "reinstated",
            "The membership of {name} is reinstated: a consortium officer ended its suspension on ",
        ),
        (
            MemberStatus.ACTIVE,
            "withdraw",
            "withdrawn",
            "The membership of {name} is withdrawn: a consortium officer withdrew it from the consortium on ",
        ),
    ],
)
def test_a_right_to_left_name_and_reason_are_isolated_in_the_sentences_they_are_in(
    officer, status, action, outcome, sentence, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    firm = MemberFactory(legal_name=RTL_NAME, status=status, contact_name=RTL_CONTACT)
    _decide(officer, firm, action, RTL_REASON, django_capture_on_commit_callbacks)
    (message,) = mailoutbox
    name = f"{FSI}{RTL_NAME}{PDI}"
    assert message.subject == f"Consortium Exchange membership of {name}: {outcome}"
    assert message.body.startswith(f"Hello {FSI}{RTL_CONTACT}{PDI},\n\n")
    assert "\n" + sentence.format(name=name, code=firm.credit_code) in message.body
    assert f"\nReason: {FSI}{RTL_REASON}{PDI}\n" in message.body
    if outcome == "admitted":
        assert (
            f"\nNobody can act for {name} in the portal yet: it needs its first member admin." in message.body
        )
    if outcome == "suspended":
        assert f"\nWhile suspended, {name} takes no part in the exchange: " in message.body
    assert _unisolated(message.subject) == [] and _unisolated(message.body) == []


def test_a_refused_decision_sends_nothing(
    officer, member, member_admin, applicant, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    client = as_user(officer)
    with django_capture_on_commit_callbacks(execute=True):
        illegal = client.post(
            reverse("portal:member-detail", args=[member.pk]), {"action": "admit", "reason": ""}
        )
        no_reason = client.post(
            reverse("portal:member-detail", args=[applicant.pk]), {"action": "decline", "reason": ""}
        )
        not_an_officer = as_user(member_admin).post(
            reverse("portal:member-detail", args=[member.pk]), {"action": "suspend", "reason": "Dues."}
        )
    assert (illegal.status_code, no_reason.status_code, not_an_officer.status_code) == (400, 400, 403)
    assert mailoutbox == []


def test_the_application_itself_is_no_decision(mailoutbox) -> None:
    change = MemberStatusChange.objects.create(
        member=MemberFactory(status=MemberStatus.APPLIED),
        from_status="",
        to_status=MemberStatus.APPLIED,
        at=timezone.now(),
    )
    assert tasks.send_member_status_notice_task(change.pk) == 0
    assert tasks.send_member_status_notice_task(change.pk + 1000) == 0
    assert mailoutbox == []


DECISIONS = pytest.mark.parametrize(
    ("status", "action", "kind"),
    [
        (MemberStatus.APPLIED, "admit", "member.admitted"),
        (MemberStatus.APPLIED, "decline", "member.declined"),
        (MemberStatus.ACTIVE, "suspend", "member.suspended"),
        (MemberStatus.SUSPENDED, "reinstate", "member.reinstated"),
        (MemberStatus.ACTIVE, "withdraw", "member.withdrawn"),
    ],
)


@DECISIONS
def test_a_decision_rolled_back_sends_nothing(
    officer, status, action, kind, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    activate()  # credit in force: an admission posts its allowance before the failure
    member = MemberFactory(status=status)
    decide = getattr(services, f"member_{action}")
    nothing_left(
        lambda: decide(member=member, actor=officer, reason="Recorded."),
        kind,
        capture=django_capture_on_commit_callbacks,
    )


@pytest.mark.django_db(transaction=True)
@DECISIONS
def test_a_decision_whose_commit_fails_sends_nothing(officer, status, action, kind, mailoutbox) -> None:
    member = MemberFactory(status=status)
    decide = getattr(services, f"member_{action}")
    nothing_left_at_commit(lambda: decide(member=member, actor=officer, reason="Recorded."))


@pytest.mark.django_db(transaction=True)
def test_a_decision_is_committed_when_its_notice_cannot_be_queued(officer, monkeypatch) -> None:
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OperationalError("[Errno 111] Connection refused")

    monkeypatch.setattr(tasks.send_member_status_notice_task, "delay", refuse)
    member = MemberFactory(status=MemberStatus.ACTIVE)
    response = as_user(officer).post(
        reverse("portal:member-detail", args=[member.pk]), {"action": "suspend", "reason": "Dues."}
    )
    assert response.status_code == 302
    assert len(attempts) == 1  # after the commit
    member.refresh_from_db()
    assert member.status == MemberStatus.SUSPENDED
