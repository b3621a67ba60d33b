"""Notices (who is told what, only after commit) and expiry (of undecided requests and of grants).

Celery runs eagerly here and pytest-django's locmem backend fills `mailoutbox`. Callbacks queued with
transaction.on_commit run when `django_capture_on_commit_callbacks(execute=True)` exits, as they would after
the real commit; a rolled-back transaction leaves none.
"""

from __future__ import annotations

import json
import smtplib
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from consortium.celery import app
from consortium.models import Member
from consortium.text import FSI, PDI
from exchange import notifications, services, tasks
from exchange.models import AccessRequest, Grant
from ledger.models import LedgerEntry
from tests.api.test_problems import assert_problem
from tests.consortium.test_portal_bidi_isolation import _unisolated
from tests.exchange.support import add_version, post_request, published, register, request_access, set_policy
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db

OWNER = "own-steward@firm.example"
REQUESTER = "other-analyst@firm.example"


@pytest.fixture
def restricted(data_steward):
    return published(data_steward, tier="restricted", download_quota=2)


def _submit(client, dataset, **extra):
    response = post_request(client, dataset, **extra)
    assert response.status_code == 201, response.content
    return AccessRequest.objects.get(pk=response.json()["request"]["id"])


def _granted(client_for, data_steward, other_analyst, dataset, capture) -> Grant:
    """A granted request of `other_analyst`'s member; the notices so far are delivered and cleared."""
    with capture(execute=True):
        request = _submit(client_for(other_analyst), dataset)
        response = client_for(data_steward).post(f"/api/v1/access-requests/{request.pk}/approve/")
        assert response.status_code == 200, response.content
    return Grant.objects.get(request=request)


def _entries(kind: str, subject_type: str) -> list[LedgerEntry]:
    return list(LedgerEntry.objects.filter(kind=kind, subject_type=subject_type).order_by("id"))


# --- Who is told what -------------------------------------------------------------------------------------


def test_a_new_request_tells_the_owners_stewards(
    client_for,
    data_steward,
    other_analyst,
    member,
    restricted,
    mailoutbox,
    django_capture_on_commit_callbacks,
) -> None:
    UserFactory(username="own-steward-2", member=member, member_role="data_steward")
    UserFactory(username="own-analyst-x", member=member, member_role="analyst")  # not a steward: not told
    with django_capture_on_commit_callbacks(execute=True):
        request = _submit(client_for(other_analyst), restricted)
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert sorted(message.to) == sorted([OWNER, "own-steward-2@firm.example"])
    assert message.from_email == django_settings.DEFAULT_FROM_EMAIL
    assert "Spindle vibration 2025" in message.subject
    assert other_analyst.member.legal_name in message.subject
    assert f"#{request.pk}" in message.body
    assert "Research" in message.body and "Benchmark our bearings" in message.body
    assert "30 days" in message.body
    site = django_settings.SITE_URL.rstrip("/")
    assert f"Decide it at:    {site}/requests/{request.pk}/\n" in message.body  # absolute: a mail has no host
    assert f"Ledger receipts: {site}/api/v1/access-requests/{request.pk}/receipts/\n" in message.body


def test_a_late_request_notice_tells_the_request_as_submitted(
    client_for, data_steward, other_analyst, restricted, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    # The steward approves before the notice of the new request goes out (a busy worker; the demo's seed).
    with django_capture_on_commit_callbacks(execute=True):
        request = _submit(client_for(other_analyst), restricted)
        approved = client_for(data_steward).post(f"/api/v1/access-requests/{request.pk}/approve/")
        assert approved.status_code == 200, approved.content
    (notice,) = [message for message in mailoutbox if message.to == [OWNER]]
    assert "State:         Pending (owner's steward decides)\n" in notice.body
    assert f"Decide it at:    {django_settings.SITE_URL.rstrip('/')}/requests/{request.pk}/" in notice.body
    assert "tier is open" not in notice.body  # the tier is restricted: it was not granted at once


def test_an_owner_without_stewards_is_told_at_its_contact_address(
    member, other_analyst, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    # Only the owner's steward can publish; afterwards the steward leaves (is deactivated).
    steward = UserFactory(username="leaving-steward", member=member, member_role="data_steward")
    dataset = published(steward, tier="restricted")
    steward.is_active = False
    steward.save(update_fields=["is_active"])
    with django_capture_on_commit_callbacks(execute=True):
        request_access(other_analyst, dataset, duration_days=10)
    assert [m.to for m in mailoutbox] == [[member.contact_email]]


def test_decisions_tell_the_requester(
    client_for, data_steward, other_analyst, restricted, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    grant = _granted(client_for, data_steward, other_analyst, restricted, django_capture_on_commit_callbacks)
    request_notice, decision = mailoutbox
    assert request_notice.to == [OWNER]
    assert decision.to == [REQUESTER]
    assert decision.subject == f'Your request for "{FSI}Spindle vibration 2025{PDI}": granted'
    assert f"Grant:           #{grant.pk}" in decision.body
    assert grant.valid_until.strftime("%Y-%m-%d") in decision.body
    assert "Downloads:       2" in decision.body
    site = django_settings.SITE_URL.rstrip("/")
    assert f"The request:     {site}/requests/{grant.request_id}/\n" in decision.body
    assert f"The grant:       {site}/grants/{grant.pk}/\n" in decision.body

    second = published(data_steward, tier="restricted")
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        request = _submit(client_for(other_analyst), second)
        response = client_for(data_steward).post(
            f"/api/v1/access-requests/{request.pk}/reject/", {"reason": "Not for competitors."}, format="json"
        )
        assert response.status_code == 200, response.content
    assert [m.to for m in mailoutbox] == [[OWNER], [REQUESTER]]
    assert mailoutbox[1].subject.endswith(": rejected")
    assert f"Reason: {FSI}Not for competitors.{PDI}\n" in mailoutbox[1].body


def test_confidential_steward_approval_tells_the_requester_the_officer_decides_next(
    client_for, data_steward, other_analyst, security_officer, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    dataset = published(data_steward, tier="confidential")
    with django_capture_on_commit_callbacks(execute=True):
        request = _submit(client_for(other_analyst), dataset)
        client_for(data_steward).post(f"/api/v1/access-requests/{request.pk}/approve/")
    assert mailoutbox[-1].to == [REQUESTER]
    assert mailoutbox[-1].subject.endswith(": approved by the owner")
    assert "a security officer decides next" in mailoutbox[-1].body  # the role that decides: security officer
    assert "consortium security officer" not in mailoutbox[-1].body
    with django_capture_on_commit_callbacks(execute=True):
        client_for(security_officer).post(f"/api/v1/access-requests/{request.pk}/approve/")
    assert [m.subject.rsplit(": ", 1)[-1] for m in mailoutbox[1:]] == ["approved by the owner", "granted"]


def test_open_tier_tells_the_owner_and_the_requester_at_once(
    client_for, data_steward, other_analyst, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    dataset = published(data_steward, tier="open")
    with django_capture_on_commit_callbacks(execute=True):
        _submit(client_for(other_analyst), dataset)
    assert sorted(m.to[0] for m in mailoutbox) == sorted([OWNER, REQUESTER])
    assert any(m.subject.endswith(": granted") and m.to == [REQUESTER] for m in mailoutbox)


def test_revocation_tells_both_members_separately(
    client_for, data_steward, other_analyst, restricted, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    grant = _granted(client_for, data_steward, other_analyst, restricted, django_capture_on_commit_callbacks)
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(data_steward).post(
            f"/api/v1/grants/{grant.pk}/revoke/", {"reason": "Breach of terms."}, format="json"
        )
        assert response.status_code == 200, response.content
    # One message per side: neither member sees the other's addresses.
    assert [m.to for m in mailoutbox] == [[OWNER], [REQUESTER]]
    for message in mailoutbox:
        assert message.subject == f'Grant #{grant.pk} for "{FSI}Spindle vibration 2025{PDI}" is revoked'
        assert f"Reason: {FSI}Breach of terms.{PDI}\n" in message.body
        assert message.cc == [] and message.bcc == []
        assert f"The grant:       {django_settings.SITE_URL.rstrip('/')}/grants/{grant.pk}/\n" in message.body


# --- Only after commit --------------------------------------------------------------------------------------


def test_nothing_is_sent_when_the_transaction_rolls_back(
    data_steward, other_analyst, restricted, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        request = request_access(other_analyst, restricted, duration_days=10)
        services.access_request_approve(actor=data_steward, request=request)
        raise RuntimeError("the caller's transaction fails after the services returned")
    assert callbacks == []
    assert mailoutbox == []
    assert not AccessRequest.objects.exists() and not Grant.objects.exists()


def test_a_refused_transition_sends_nothing(
    client_for, data_steward, other_analyst, restricted, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    grant = _granted(client_for, data_steward, other_analyst, restricted, django_capture_on_commit_callbacks)
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        again = client_for(data_steward).post(f"/api/v1/access-requests/{grant.request_id}/approve/")
        assert_problem(again, 409, "illegal_transition")
    assert mailoutbox == []


def test_a_transient_smtp_error_is_retried(
    monkeypatch, data_steward, other_analyst, restricted, mailoutbox
) -> None:
    request = request_access(other_analyst, restricted, duration_days=10)
    real_send_mail = notifications.send_mail
    failures = []

    def flaky(*args, **kwargs):
        if not failures:
            failures.append(1)
            raise smtplib.SMTPServerDisconnected("connection unexpectedly closed")
        return real_send_mail(*args, **kwargs)

    monkeypatch.setattr(notifications, "send_mail", flaky)
    # apply() without propagation runs the retry in-process, as a worker would after the backoff.
    result = tasks.send_request_notice_task.apply(args=[request.pk], throw=False)
    assert result.get() == 1
    assert failures == [1]
    assert [m.to for m in mailoutbox] == [[OWNER]]


@pytest.mark.parametrize(
    "lost",
    [
        OperationalError("server closed the connection unexpectedly"),
        InterfaceError("connection already closed"),
    ],
)
def test_a_notice_whose_database_is_lost_is_retried_not_dropped(
    monkeypatch, data_steward, other_analyst, restricted, mailoutbox, lost
) -> None:
    request = request_access(other_analyst, restricted, duration_days=10)
    real_request = tasks._request
    failures = []

    def database_lost_once(request_id):
        if not failures:
            failures.append(1)
            raise lost
        return real_request(request_id)

    monkeypatch.setattr(tasks, "_request", database_lost_once)
    result = tasks.send_request_notice_task.apply(args=[request.pk], throw=False)
    assert result.get() == 1
    assert failures == [1]
    assert [m.to for m in mailoutbox] == [[OWNER]]


def test_a_permanent_error_is_not_retried_and_never_undoes_the_change(
    monkeypatch, client_for, other_analyst, restricted, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise ValueError("template bug")

    monkeypatch.setattr(notifications, "send_mail", broken)
    with django_capture_on_commit_callbacks(execute=True):
        request = _submit(client_for(other_analyst), restricted)
    assert calls == [1]
    assert AccessRequest.objects.get(pk=request.pk).state == "pending"
    assert mailoutbox == []


# --- Expiry of undecided requests ---------------------------------------------------------------------------


def test_undecided_requests_expire_once_with_one_entry_each(
    settings,
    client_for,
    data_steward,
    other_analyst,
    restricted,
    mailoutbox,
    django_capture_on_commit_callbacks,
) -> None:
    settings.EXCHANGE = {**django_settings.EXCHANGE, "REQUEST_EXPIRY_DAYS": 14}
    old = _submit(client_for(other_analyst), restricted)
    AccessRequest.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=15))
    fresh = _submit(client_for(other_analyst), published(data_steward, tier="restricted"))
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.expire_requests_task.delay().get() == 1
    assert AccessRequest.objects.get(pk=old.pk).state == "expired"
    assert AccessRequest.objects.get(pk=fresh.pk).state == "pending"
    entries = _entries("access.expired", "access_request")
    assert [e.subject_id for e in entries] == [str(old.pk)]
    assert entries[0].actor_user_id is None
    assert [m.to for m in mailoutbox] == [[REQUESTER]]
    assert mailoutbox[0].subject.endswith(": expired undecided")
    assert "within 14 days" in mailoutbox[0].body

    before = LedgerEntry.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.expire_requests_task.delay().get() == 0
    assert LedgerEntry.objects.count() == before
    assert len(mailoutbox) == 1
    # Expired is final: no decision any more.
    response = client_for(data_steward).post(f"/api/v1/access-requests/{old.pk}/approve/")
    assert assert_problem(response, 409, "illegal_transition")["current_state"] == "expired"


# --- Expiry of grants ---------------------------------------------------------------------------------------


def _age(grant: Grant, *, ends_in: timedelta) -> None:
    now = timezone.now()
    Grant.objects.filter(pk=grant.pk).update(valid_from=now - timedelta(days=40), valid_until=now + ends_in)


def test_grants_expire_once_with_one_entry_and_refuse_downloads(
    client_for, data_steward, other_analyst, restricted, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    grant = _granted(client_for, data_steward, other_analyst, restricted, django_capture_on_commit_callbacks)
    live = _granted(
        client_for,
        data_steward,
        other_analyst,
        published(data_steward, tier="restricted"),
        django_capture_on_commit_callbacks,
    )
    _age(grant, ends_in=-timedelta(minutes=1))
    assert services.grant_expire_due() == 1
    grant.refresh_from_db()
    assert grant.expired_at is not None and grant.downloads_remaining == 2
    assert Grant.objects.get(pk=live.pk).expired_at is None
    (entry,) = _entries("access.expired", "grant")
    assert entry.subject_id == str(grant.pk) and entry.actor_user_id is None
    payload = json.loads(bytes(entry.canonical))["payload"]
    assert (payload["grant"], payload["downloads_remaining"]) == (grant.pk, 2)
    assert entry.member_refs == f"|{data_steward.member_id}|{other_analyst.member_id}|"

    before = LedgerEntry.objects.count()
    assert tasks.expire_grants_task.delay().get() == 0
    assert LedgerEntry.objects.count() == before

    consumer = client_for(other_analyst)
    response = consumer.post(f"/api/v1/grants/{grant.pk}/download/")
    assert assert_problem(response, 409, "grant_expired")["current_state"] == "expired"
    assert Grant.objects.get(pk=grant.pk).downloads_remaining == 2
    assert not LedgerEntry.objects.filter(kind="data.downloaded").exists()
    assert consumer.get(f"/api/v1/grants/{grant.pk}/").json()["state"] == "expired"
    # A recorded expiry is final even if the window were moved again; revoking it is an illegal transition.
    Grant.objects.filter(pk=grant.pk).update(valid_until=timezone.now() + timedelta(days=5))
    assert_problem(consumer.post(f"/api/v1/grants/{grant.pk}/download/"), 409, "grant_expired")
    revoke = client_for(data_steward).post(
        f"/api/v1/grants/{grant.pk}/revoke/", {"reason": "x"}, format="json"
    )
    assert_problem(revoke, 409, "illegal_transition")
    assert LedgerEntry.objects.count() == before
    assert consumer.post(f"/api/v1/grants/{live.pk}/download/").status_code == 200


def test_a_grant_past_its_window_is_refused_before_the_beat_task_runs(
    client_for, data_steward, other_analyst, restricted, django_capture_on_commit_callbacks
) -> None:
    grant = _granted(client_for, data_steward, other_analyst, restricted, django_capture_on_commit_callbacks)
    _age(grant, ends_in=-timedelta(seconds=1))
    assert_problem(
        client_for(other_analyst).post(f"/api/v1/grants/{grant.pk}/download/"), 409, "grant_expired"
    )
    assert Grant.objects.get(pk=grant.pk).expired_at is None


def test_revoked_grants_do_not_expire(
    client_for, data_steward, other_analyst, restricted, django_capture_on_commit_callbacks
) -> None:
    grant = _granted(client_for, data_steward, other_analyst, restricted, django_capture_on_commit_callbacks)
    services.grant_revoke(actor=data_steward, grant=grant, reason="Breach of terms.")
    _age(grant, ends_in=-timedelta(days=1))
    assert services.grant_expire_due() == 0
    assert _entries("access.expired", "grant") == []


def test_the_notice_before_expiry_goes_to_both_members_once(
    settings,
    client_for,
    data_steward,
    other_analyst,
    restricted,
    mailoutbox,
    django_capture_on_commit_callbacks,
) -> None:
    settings.EXCHANGE = {**django_settings.EXCHANGE, "GRANT_EXPIRY_NOTICE_DAYS": 7}
    soon = _granted(client_for, data_steward, other_analyst, restricted, django_capture_on_commit_callbacks)
    later = _granted(
        client_for,
        data_steward,
        other_analyst,
        published(data_steward, tier="restricted"),
        django_capture_on_commit_callbacks,
    )
    revoked = _granted(
        client_for,
        data_steward,
        other_analyst,
        published(data_steward, tier="restricted"),
        django_capture_on_commit_callbacks,
    )
    services.grant_revoke(actor=data_steward, grant=revoked, reason="Breach of terms.")
    _age(soon, ends_in=timedelta(days=3))
    _age(later, ends_in=timedelta(days=8))
    _age(revoked, ends_in=timedelta(days=3))
    mailoutbox.clear()
    entries = LedgerEntry.objects.count()

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.expire_grants_task.delay().get() == 0
    soon.refresh_from_db()
    assert soon.expiry_notice_sent_at is not None
    assert [m.to for m in mailoutbox] == [[OWNER], [REQUESTER]]
    for message in mailoutbox:
        assert message.subject == (
            f'Grant #{soon.pk} for "{FSI}Spindle vibration 2025{PDI}" expires on {soon.valid_until:%Y-%m-%d}'
        )
        assert "Downloads remaining: 2 of 2" in message.body
    assert LedgerEntry.objects.count() == entries  # a reminder changes no right: no entry

    with django_capture_on_commit_callbacks(execute=True):
        assert services.grant_expiry_notices_due() == 0
        tasks.expire_grants_task.delay()
    assert len(mailoutbox) == 2
    assert Grant.objects.get(pk=later.pk).expiry_notice_sent_at is None


def test_a_late_expiry_notice_for_a_grant_revoked_meanwhile_sends_nothing(
    client_for, data_steward, other_analyst, restricted, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    grant = _granted(client_for, data_steward, other_analyst, restricted, django_capture_on_commit_callbacks)
    _age(grant, ends_in=timedelta(days=1))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert services.grant_expiry_notices_due() == 1
    services.grant_revoke(actor=data_steward, grant=grant, reason="Breach of terms.")
    mailoutbox.clear()
    for callback in callbacks:
        callback()
    assert mailoutbox == []


# --- Task hygiene -------------------------------------------------------------------------------------------


def test_beat_schedules_registered_tasks_and_tasks_are_bounded() -> None:
    from ledger.credit import tasks as credit_tasks

    app.loader.import_default_modules()  # what a worker does at start: every app's tasks module
    schedule = django_settings.CELERY_BEAT_SCHEDULE
    assert {"expire-requests", "expire-grants", "sequence-ledger", "issue-checkpoint"} <= set(schedule)
    assert {"release-credit", "roll-epoch"} <= set(schedule)
    for entry in schedule.values():
        assert entry["task"] in app.tasks
    for task in (
        tasks.send_request_notice_task,
        tasks.send_decision_notice_task,
        tasks.send_revocation_notice_task,
        tasks.send_expiry_notice_task,
        tasks.expire_requests_task,
        tasks.expire_grants_task,
        credit_tasks.release_credit_task,
        credit_tasks.roll_epoch_task,
    ):
        assert task.name.endswith("_task") and task.serializer == "json"
        assert task.soft_time_limit and task.time_limit and task.soft_time_limit < task.time_limit
    assert tasks.send_request_notice_task.autoretry_for == (
        smtplib.SMTPException,
        ConnectionError,
        OperationalError,
        InterfaceError,
    )
    assert not getattr(tasks.expire_grants_task, "autoretry_for", ())


def test_notice_tasks_for_missing_rows_send_nothing(mailoutbox) -> None:
    assert tasks.send_request_notice_task.delay(999999).get() == 0
    assert tasks.send_decision_notice_task.delay(999999, "granted").get() == 0
    assert tasks.send_revocation_notice_task.delay(999999).get() == 0
    assert tasks.send_expiry_notice_task.delay(999999).get() == 0
    assert mailoutbox == []


def _expire(grant: Grant) -> None:
    Grant.objects.filter(pk=grant.pk).update(expired_at=timezone.now())


def _suspend_grantee(grant: Grant) -> None:
    from consortium.models import Member, MemberStatus

    Member.objects.filter(pk=grant.grantee_id).update(status=MemberStatus.SUSPENDED)


@pytest.mark.parametrize("stop", [_expire, _suspend_grantee], ids=["recorded expiry", "grantee suspended"])
def test_a_stream_in_progress_stops(
    stop, client_for, data_steward, other_analyst, restricted, django_capture_on_commit_callbacks
) -> None:
    """What ends a grant's use mid-download ends the stream at its next check, as a revocation does."""
    from exchange.selectors import version_stream

    grant = _granted(client_for, data_steward, other_analyst, restricted, django_capture_on_commit_callbacks)
    version = restricted.versions.get()
    handle = version.file.storage.open(version.file.name, "rb")
    stream = version_stream(grant_id=grant.pk, handle=handle, chunk_bytes=1024, check_every=1)
    first = next(stream)
    stop(grant)
    assert len(first) + sum(len(chunk) for chunk in stream) < version.size
    assert handle.closed


def test_withdrawing_a_dataset_closes_its_undecided_requests(
    client_for, data_steward, other_analyst, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    dataset = published(data_steward, tier="confidential")
    third = UserFactory(member=MemberFactory(), member_role="analyst", email="third@firm.example")
    fourth = UserFactory(member=MemberFactory(), member_role="analyst", email="fourth@firm.example")
    owner = client_for(data_steward)
    with django_capture_on_commit_callbacks(execute=True):
        approved = _submit(client_for(other_analyst), dataset)
        assert owner.post(f"/api/v1/access-requests/{approved.pk}/approve/").status_code == 200
        pending = _submit(client_for(third), dataset)
        rejected = _submit(client_for(fourth), dataset)
        response = owner.post(
            f"/api/v1/access-requests/{rejected.pk}/reject/", {"reason": "No."}, format="json"
        )
        assert response.status_code == 200, response.content
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(
            f"/api/v1/datasets/{dataset.pk}/withdraw/", {"reason": "Retired."}, format="json"
        )
        assert response.status_code == 200, response.content
        assert not mailoutbox  # notices go out after commit only
    states = {r.pk: r.state for r in AccessRequest.objects.filter(dataset=dataset)}
    assert states == {approved.pk: "withdrawn", pending.pk: "withdrawn", rejected.pk: "rejected"}
    entries = _entries("access.withdrawn", "access_request")
    assert [e.subject_id for e in entries] == [str(approved.pk), str(pending.pk)]
    payloads = [json.loads(bytes(e.canonical))["payload"] for e in entries]
    assert [p["stage"] for p in payloads] == ["steward_approved", "pending"]
    assert {p["cause"] for p in payloads} == {"dataset_withdrawn"}
    assert [p["approvers"] for p in payloads] == [[data_steward.pk], []]
    assert {p["decided_by"] for p in payloads} == {data_steward.pk}
    assert all(e.actor_user_id == data_steward.pk for e in entries)
    assert sorted(m.to[0] for m in mailoutbox) == sorted([REQUESTER, "third@firm.example"])
    assert all(m.subject.endswith(": withdrawn") and "Retired." in m.body for m in mailoutbox)
    # Nothing is left undecided on a withdrawn dataset.
    assert not AccessRequest.objects.filter(
        dataset=dataset, state__in=["pending", "steward_approved"]
    ).exists()


# --- Right-to-left names and titles -------------------------------------------------------------------------
# A name, title or reason sits inside the notice's sentences between U+2068 FIRST STRONG ISOLATE and U+2069
# POP DIRECTIONAL ISOLATE (consortium.text), so that its direction cannot reorder them in a mail client.
# Names and titles refuse bidi controls at entry (tests/consortium/test_hidden_characters_in_names.py);
# reasons and justifications are free text, which refuses overrides and isolates
# (tests/consortium/test_hidden_characters_in_text.py) but keeps the marks right-to-left prose needs, whose
# direction the isolate keeps in.

OWNER_NAME = "شركة المثال"
REQUESTER_NAME = "מעבדת הדוגמה בע״מ"
RTL_TITLE = "بيانات الاهتزاز 2025"
RLM = "\u200f"  # RIGHT-TO-LEFT MARK
JUSTIFICATION = f"لقياس المحامل {RLM}(ref 7)"
NOTE = "موافق"
REVOKED = f"خرق الشروط {RLM}3.1"


@pytest.fixture
def rtl(member, other_member, data_steward):
    """Right-to-left legal names for the owner and the requester, and a right-to-left title for the
    owner's restricted dataset, given through the service."""
    for firm, name in ((member, OWNER_NAME), (other_member, REQUESTER_NAME)):
        Member.objects.filter(pk=firm.pk).update(legal_name=name)
        firm.legal_name = name
    dataset = register(data_steward, title=RTL_TITLE)
    set_policy(data_steward, dataset, tier="restricted", download_quota=2)
    add_version(data_steward, dataset)
    return dataset


def test_a_request_and_its_grant_notices_isolate_names_titles_and_the_justification(
    client_for, data_steward, other_analyst, rtl, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        request = _submit(client_for(other_analyst), rtl, justification=JUSTIFICATION)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(data_steward).post(
            f"/api/v1/access-requests/{request.pk}/approve/", {"reason": NOTE}, format="json"
        )
        assert response.status_code == 200, response.content
    asked, decided = mailoutbox
    title, owner, requester = (f"{FSI}{v}{PDI}" for v in (RTL_TITLE, OWNER_NAME, REQUESTER_NAME))
    assert asked.subject == f'New access request for "{title}" from {requester}'
    assert asked.body.startswith(
        f'{requester} asks to use your dataset "{title}" (Level 1, restricted tier).\n\n'
    )
    assert f"\nJustification: {FSI}{JUSTIFICATION}{PDI}\n" in asked.body
    assert f"\nA data steward of {owner} approves or rejects it. Undecided, it expires on " in asked.body
    assert decided.subject == f'Your request for "{title}": granted'
    assert decided.body.startswith(
        f'Your member\'s request #{request.pk} to use "{title}" of {owner} for research is granted.\n'
    )
    assert f"\nNote from the decider: {FSI}{NOTE}{PDI}\n" in decided.body
    for message in mailoutbox:
        assert _unisolated(message.subject) == []
        assert _unisolated(message.body) == []
        assert "\n" not in message.subject

    grant = Grant.objects.get(request=request)
    _age(grant, ends_in=timedelta(days=1))
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.grant_expiry_notices_due() == 1
    grant.refresh_from_db()
    for message in mailoutbox:
        assert message.subject == f'Grant #{grant.pk} for "{title}" expires on {grant.valid_until:%Y-%m-%d}'
        assert message.body.startswith(
            f'Grant #{grant.pk}, which lets {requester} use "{title}" of {owner} for research, expires on '
            f"{grant.valid_until:%Y-%m-%d %H:%M} UTC.\n"
        )

    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(data_steward).post(
            f"/api/v1/grants/{grant.pk}/revoke/", {"reason": REVOKED}, format="json"
        )
        assert response.status_code == 200, response.content
    grant.refresh_from_db()
    assert len(mailoutbox) == 2
    for message in mailoutbox:
        assert message.subject == f'Grant #{grant.pk} for "{title}" is revoked'
        assert message.body.startswith(
            f'Grant #{grant.pk}, which lets {requester} use "{title}" of {owner}, was revoked on '
            f"{grant.revoked_at:%Y-%m-%d %H:%M} UTC. It allows no further use or download, effective at "
            "once.\n"
        )
        assert f"\n\nReason: {FSI}{REVOKED}{PDI}\n\n" in message.body
    for message in mailoutbox:
        assert _unisolated(message.subject) == []
        assert _unisolated(message.body) == []


def test_a_rejection_isolates_the_title_the_owners_name_and_the_reason(
    client_for, data_steward, other_analyst, rtl, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    reason = f"غير مناسب\n{RLM}للمنافسين"  # two lines, and a mark
    with django_capture_on_commit_callbacks(execute=True):
        request = _submit(client_for(other_analyst), rtl)
        response = client_for(data_steward).post(
            f"/api/v1/access-requests/{request.pk}/reject/", {"reason": reason}, format="json"
        )
        assert response.status_code == 200, response.content
    rejected = mailoutbox[-1]
    assert rejected.subject == f'Your request for "{FSI}{RTL_TITLE}{PDI}": rejected'
    assert rejected.body.startswith(
        f'Your member\'s request #{request.pk} to use "{FSI}{RTL_TITLE}{PDI}" of {FSI}{OWNER_NAME}{PDI} '
        "for research is rejected.\n"
    )
    assert f"\nReason: {FSI}{reason}{PDI}\n" in rejected.body
    assert _unisolated(rejected.subject) == []
    assert _unisolated(rejected.body) == []
