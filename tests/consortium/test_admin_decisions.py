"""The Django admin's bulk admit and suspend decide on what the officer saw: the action first shows each
selected member as it stands (nothing decided), and the confirmation carries each member's status time as
shown, so the service refuses a member whose status changed since, such as a declined firm that applied
again, while the others go through. A confirmation whose times are missing or malformed decides nothing."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from consortium.models import Member, MemberStatus
from ledger.models import LedgerEntry
from tests.consortium.test_member_lifecycle import _act, _apply
from tests.factories import ClusterFactory, MemberFactory, StaffFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/consortium/member/"


def _browser(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def _select(browser: Client, action: str, members: list[Member]):
    return browser.post(CHANGELIST, {"action": action, "_selected_action": [m.pk for m in members]})


def _shown(page) -> dict[str, str]:
    """The status times the confirmation page carries, by hidden field name."""
    assert page.status_code == 200, page.content.decode()[:2000]
    field = r'<input type="hidden" name="(status_since_\d+)" value="([^"]+)">'
    return dict(re.findall(field, page.content.decode()))


def _confirm(browser: Client, action: str, members: list[Member], shown: dict[str, str]) -> list[str]:
    """Post the confirmation; the messages shown on the change list it returns to."""
    body = {"action": action, "_selected_action": [m.pk for m in members], "post": "yes", **shown}
    response = browser.post(CHANGELIST, body, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0].startswith(CHANGELIST)
    return [str(message) for message in response.context["messages"]]


def _written() -> tuple[int, int]:
    return sum(m.status_changes.count() for m in Member.objects.all()), LedgerEntry.objects.count()


def _status(member: Member) -> str:
    return Member.objects.get(pk=member.pk).status


def test_the_action_first_shows_the_members_and_decides_nothing(officer) -> None:
    applied = MemberFactory(status="applied", contact_name="Wang Fang", contact_phone="0769-1")
    before = _written()
    page = _select(_browser(officer), "admit", [applied])
    text = page.content.decode()
    assert page.templates[0].name == "admin/consortium/member/decision_confirmation.html"
    assert "admin/base_site.html" in [template.name for template in page.templates]
    assert 'name="csrfmiddlewaretoken"' in text
    seen = (applied.legal_name, applied.credit_code, "Applied", "Wang Fang", applied.contact_email, "0769-1")
    assert all(shown in text for shown in seen), text
    assert "signed ledger" in text
    assert _shown(page) == {f"status_since_{applied.pk}": applied.status_changed_at.isoformat()}
    assert '<input type="hidden" name="post" value="yes">' in text
    assert _status(applied) == MemberStatus.APPLIED
    assert _written() == before


def test_confirming_admits_each_member_with_its_history_and_ledger_entry(officer) -> None:
    firms = [MemberFactory(status="applied"), MemberFactory(status="applied")]
    browser = _browser(officer)
    shown = _shown(_select(browser, "admit", firms))
    assert _confirm(browser, "admit", firms, shown) == ["Admit: 2 member(s)."]
    for firm in firms:
        assert _status(firm) == MemberStatus.ACTIVE
        change = Member.objects.get(pk=firm.pk).status_changes.get()
        assert (change.to_status, change.actor, change.reason) == ("active", officer, "Admitted in the admin")
        assert LedgerEntry.objects.filter(kind="member.admitted", subject_id=str(firm.pk)).count() == 1


def test_confirming_suspends_with_the_ledger_entry(officer) -> None:
    firm = MemberFactory(status="active")
    browser = _browser(officer)
    page = _select(browser, "suspend", [firm])
    assert "Applicant's contact" not in page.content.decode()
    assert _confirm(browser, "suspend", [firm], _shown(page)) == ["Suspend: 1 member(s)."]
    assert _status(firm) == MemberStatus.SUSPENDED
    assert LedgerEntry.objects.filter(kind="member.suspended", subject_id=str(firm.pk)).count() == 1


def test_an_application_made_again_after_the_page_was_shown_is_not_admitted(
    api_client, client_for, officer
) -> None:
    reapplying = Member.objects.get(pk=_apply(api_client).json()["id"])
    waiting = MemberFactory(status="applied")
    browser = _browser(officer)
    shown = _shown(_select(browser, "admit", [reapplying, waiting]))
    # Meanwhile another officer declines the firm and it applies again, with details nobody has read.
    assert _act(client_for(officer), reapplying.pk, "decline", "Not an industrial firm").status_code == 200
    assert _apply(api_client, legal_name="Someone Else Ltd.").status_code == 201
    assert _status(reapplying) == MemberStatus.APPLIED
    changes = Member.objects.get(pk=reapplying.pk).status_changes.count()

    said = _confirm(browser, "admit", [reapplying, waiting], shown)
    assert len(said) == 2
    assert said[0].startswith("Someone Else Ltd.: The member's status changed at ")
    assert "after you read it" in said[0]
    assert said[1] == "Admit: 1 member(s)."
    assert _status(reapplying) == MemberStatus.APPLIED
    assert Member.objects.get(pk=reapplying.pk).status_changes.count() == changes
    assert not LedgerEntry.objects.filter(kind="member.admitted", subject_id=str(reapplying.pk)).exists()
    assert _status(waiting) == MemberStatus.ACTIVE  # the others still go through


def test_a_member_that_left_the_filtered_list_is_named_not_dropped_unseen(officer, client_for) -> None:
    """On a change list filtered by status, Django's action sees only the members still in the filter; one
    that another officer declined meanwhile would vanish from the confirmation without a word."""
    declined, waiting = MemberFactory(status="applied"), MemberFactory(status="applied")
    browser = _browser(officer)
    filtered = f"{CHANGELIST}?status__exact=applied"
    chosen = {"action": "admit", "_selected_action": [declined.pk, waiting.pk]}
    shown = _shown(browser.post(filtered, chosen))
    assert _act(client_for(officer), declined.pk, "decline", "Not an industrial firm").status_code == 200

    said = browser.post(filtered, {**chosen, "post": "yes", **shown}, follow=True).context["messages"]
    assert [str(message) for message in said] == [
        f"Not decided: {declined.legal_name}. No longer in the filtered list the page was chosen from (their "
        "status changed since); open each member to see it as it stands.",
        "Admit: 1 member(s).",
    ]
    assert (_status(declined), _status(waiting)) == (MemberStatus.DECLINED, MemberStatus.ACTIVE)


def test_a_time_other_than_the_one_shown_is_refused_by_the_service(officer) -> None:
    firm = MemberFactory(status="applied")
    browser = _browser(officer)
    field = f"status_since_{firm.pk}"
    assert _shown(_select(browser, "admit", [firm])) == {field: firm.status_changed_at.isoformat()}
    said = _confirm(browser, "admit", [firm], {field: "2020-01-01T00:00:00+00:00"})
    assert len(said) == 1 and "after you read it" in said[0]
    assert _status(firm) == MemberStatus.APPLIED


@pytest.mark.parametrize(
    "tampered",
    [
        None,  # the field left out
        [""],
        ["yesterday"],
        ["2026-13-01T00:00:00+00:00"],
        ["2026-12-01T00:00:00"],  # no offset
        ["SHOWN_WITH_Z"],  # the same instant, but not as the page wrote it
        ["SHOWN", "SHOWN"],
    ],
    ids=["missing", "empty", "words", "month-13", "no-offset", "z-suffix", "twice"],
)
def test_a_missing_or_malformed_time_decides_nothing(officer, tampered) -> None:
    firms = [MemberFactory(status="applied"), MemberFactory(status="applied")]
    browser = _browser(officer)
    shown: dict = _shown(_select(browser, "admit", firms))
    field = f"status_since_{firms[1].pk}"
    if tampered is None:
        del shown[field]
    else:
        as_shown = shown[field]
        replace = {"SHOWN": as_shown, "SHOWN_WITH_Z": as_shown.replace("+00:00", "Z")}
        shown[field] = [replace.get(value, value) for value in tampered]
    before = _written()
    said = _confirm(browser, "admit", firms, shown)
    assert said == [
        "Nothing was decided: the confirmation did not carry the status time it showed for each member. "
        "Select the members and confirm again."
    ]
    assert [_status(firm) for firm in firms] == [MemberStatus.APPLIED, MemberStatus.APPLIED]
    assert _written() == before


def test_people_who_are_not_staff_cannot_run_it(member_admin) -> None:
    firm = MemberFactory(status="applied")
    browser = _browser(member_admin)
    shown = {f"status_since_{firm.pk}": firm.status_changed_at.isoformat()}
    for body in (
        {"action": "admit", "_selected_action": [firm.pk]},
        {"action": "admit", "_selected_action": [firm.pk], "post": "yes", **shown},
    ):
        response = browser.post(CHANGELIST, body)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert _status(firm) == MemberStatus.APPLIED


def test_staff_who_may_not_decide_get_no_confirmation_and_decide_nothing() -> None:
    auditor = StaffFactory(username="admin-auditor", consortium_role="auditor", is_staff=True)
    auditor.user_permissions.add(Permission.objects.get(codename="view_member"))
    firm = MemberFactory(status="applied")
    browser = _browser(auditor)
    page = browser.post(CHANGELIST, {"action": "admit", "_selected_action": [firm.pk]}, follow=True)
    assert page.templates[0].name == "admin/change_list.html"
    assert [str(m) for m in page.context["messages"]] == ["Only a consortium officer may admit a member."]
    shown = {f"status_since_{firm.pk}": firm.status_changed_at.isoformat()}
    said = _confirm(browser, "admit", [firm], shown)
    assert said == [f"{firm.legal_name}: Only a consortium officer may admit a member."]
    assert _status(firm) == MemberStatus.APPLIED


@pytest.mark.parametrize(
    "selected",
    [["abc"], ["PK", ""], ["1e3"], ["9" * 40], ["-1"], ["0PK"], [" PK"]],
    ids=["words", "empty", "exponent", "past-any-id", "negative", "leading-zero", "space"],
)
@pytest.mark.parametrize("stage", ["select", "select-across", "confirm", "confirm-across"])
def test_a_selection_that_is_not_member_ids_decides_nothing(officer, selected, stage) -> None:
    """Django filters the change list on the posted ids as given: one that is no number was a 500, and "07"
    decided member 7 while the page said it had left the list."""
    firm = MemberFactory(status="applied")
    body = {"action": "admit", "_selected_action": [text.replace("PK", str(firm.pk)) for text in selected]}
    if "across" in stage:
        body["select_across"] = "1"
    if stage.startswith("confirm"):
        body.update({"post": "yes", f"status_since_{firm.pk}": firm.status_changed_at.isoformat()})
    before = _written()
    response = _browser(officer).post(CHANGELIST, body, follow=True)
    assert response.status_code == 200
    assert response.templates[0].name == "admin/change_list.html"
    assert [str(message) for message in response.context["messages"]] == [
        "Nothing was done: the selection held something other than a member's id. Select the members again."
    ]
    assert _status(firm) == MemberStatus.APPLIED
    assert _written() == before


def test_select_all_across_pages_confirms_every_member_of_the_filtered_list(officer) -> None:
    firms = [MemberFactory(status="applied") for _ in range(3)]
    MemberFactory(status="active")  # not in the filtered list
    browser = _browser(officer)
    filtered = f"{CHANGELIST}?status__exact=applied"
    # Django's "select all 3" posts the page's ticked rows and select_across; the action gets the whole list.
    across = {"action": "admit", "_selected_action": [firms[0].pk], "select_across": "1"}
    page = browser.post(filtered, across)
    shown = _shown(page)
    assert set(shown) == {f"status_since_{firm.pk}" for firm in firms}
    chosen = re.findall(r'name="_selected_action" value="(\d+)"', page.content.decode())
    assert chosen == [str(firm.pk) for firm in firms]
    body = {"action": "admit", "_selected_action": chosen, "post": "yes", **shown}
    said = browser.post(filtered, body, follow=True).context["messages"]
    assert [str(message) for message in said] == ["Admit: 3 member(s)."]
    assert [_status(firm) for firm in firms] == [MemberStatus.ACTIVE] * 3


@pytest.mark.parametrize(
    "selected", [["abc"], ["1e3"], ["9" * 40], ["0PK"]], ids=["words", "exponent", "huge", "zero"]
)
@pytest.mark.parametrize("model", ["cluster", "user"])
def test_other_admins_refuse_a_selection_that_is_not_ids(selected, model) -> None:
    """The same guard on every admin with actions: Django's own delete_selected was a 500 on "abc"."""
    from consortium.models import Cluster, User

    superuser = StaffFactory(username="root", is_superuser=True)
    row = ClusterFactory() if model == "cluster" else StaffFactory(username="someone")
    rows = (Cluster if model == "cluster" else User).objects.count()
    body = {"action": "delete_selected", "_selected_action": [t.replace("PK", str(row.pk)) for t in selected]}
    response = _browser(superuser).post(f"/admin/consortium/{model}/", body, follow=True)
    assert response.status_code == 200
    said = [str(message) for message in response.context["messages"]]
    plural = "clusters" if model == "cluster" else "users"
    assert said == [
        f"Nothing was done: the selection held something other than a {model}'s id. "
        f"Select the {plural} again."
    ]
    assert (Cluster if model == "cluster" else User).objects.count() == rows
