"""Epochs through the services: open, release, settle (mints, held mints, points closed), audit, refusals."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from consortium.errors import Conflict, NotPermitted, ValidationFailed
from consortium.models import MemberStatus
from exchange import services as exchange
from exchange.models import AccessRequest
from ledger.canonical import format_time
from ledger.credit import engine, rules, services
from ledger.credit.audit import credit_audit
from ledger.credit.models import (
    CreditAccount,
    CreditAdjustment,
    CreditEpoch,
    CreditRules,
    CreditTransfer,
    CreditUse,
)
from ledger.models import LedgerEntry
from ledger.services import ledger_append, ledger_sequence
from tests.exchange.support import published, request_access
from tests.factories import MemberFactory
from tests.ledger.credit.statement_support import settled_with_held_mint
from tests.ledger.credit.support import TRUSTED_RULES, admit, balance, clock, days, pending, utc
from tests.ledger_support import ledger_triggers_dropped

pytestmark = pytest.mark.django_db


def _grant(steward, analyst, dataset, *, days_=30):
    request = request_access(
        analyst, dataset, duration_days=days_, accepted_terms_version=dataset.policy.terms_version
    )
    if dataset.policy.tier != "open":
        exchange.access_request_approve(actor=steward, request=request)
    return AccessRequest.objects.get(pk=request.pk).grant


def _download(analyst, grant, times=1):
    for _ in range(times):
        _, _, _, handle = exchange.grant_download(actor=analyst, grant=grant)
        handle.close()


@pytest.fixture
def october(member, other_member):
    with clock(utc(2026, 10, 5, 9)) as now:
        services.credit_rules_publish(actor=None, params=TRUSTED_RULES)
        services.credit_epoch_open(epoch="2026-10")
        admit(member, other_member)
        yield now


def test_an_epoch_settles_into_mints_closes_points_and_audits_clean(
    october, data_steward, member, other_member, other_analyst
):
    dataset = published(data_steward, tier="restricted", download_quota=3)
    grant = _grant(data_steward, other_analyst, dataset)
    _download(other_analyst, grant, 3)  # 10 + 5 + 2.5 CR of points
    october[0] = utc(2026, 11, 1, 0, 10)
    written = services.credit_epoch_roll()
    assert [entry.kind for entry in written] == ["epoch.settled", "epoch.opened"]
    assert balance(engine.member_available(member.pk)) == 17_500  # rate 1: mint = damped points
    assert balance(engine.member_points(member.pk)) == 0
    settled = CreditEpoch.objects.get(epoch="2026-10")
    assert settled.settlement["minted"] == 17_500
    assert CreditEpoch.objects.get(epoch="2026-11").settled_order == -1
    with pytest.raises(Conflict) as twice:
        services.credit_epoch_settle(epoch="2026-10")
    assert twice.value.code == "epoch_not_open"
    # the grant's provider leg is weeks past its dispute window: without the daily release it is overdue (I7)
    assert [leg.ref for leg in credit_audit().overdue] == [f"request:{grant.request_id}"]
    services.credit_release()
    assert credit_audit().ok


def test_the_daily_release_posts_provider_legs_after_the_dispute_window(
    october, data_steward, member, other_analyst
):
    dataset = published(data_steward, tier="restricted")
    _grant(data_steward, other_analyst, dataset)
    october[0] += days(6)
    services.credit_release()
    assert pending(engine.member_available(member.pk)) == (0, 18_000)
    october[0] += days(1)
    assert services.credit_release() is not None
    assert services.credit_release() is None  # once a day
    assert pending(engine.member_available(member.pk)) == (0, 0)
    assert balance(engine.member_available(member.pk)) == 18_000


def test_credit_audit_names_a_provider_leg_left_pending_past_its_window(
    october, data_steward, other_analyst, capsys
):
    # I7 against the latest ledger entry's time: a leg pending within its window, or within a day after it
    # (the daily release's cadence), is fine; later the audit fails naming the leg until a release runs
    dataset = published(data_steward, tier="restricted")
    granted_at = october[0]
    grant = _grant(data_steward, other_analyst, dataset)
    october[0] = granted_at + days(8) - timedelta(minutes=1)
    published(data_steward, tier="open")  # any entry moves the audit's clock
    ledger_sequence()
    assert credit_audit().ok
    call_command("credit_audit")
    october[0] = granted_at + days(8) + timedelta(minutes=1)
    published(data_steward, tier="open")
    ledger_sequence()
    report = credit_audit()
    assert not report.ok and report.divergence is None
    leg = CreditTransfer.objects.get(ref=f"request:{grant.request_id}", role="provider", flag="pending")
    made_by = LedgerEntry.objects.get(kind="access.granted", subject_id=str(grant.request_id)).leaf.seq
    assert [(each.transfer, each.seq) for each in report.overdue] == [(leg.id, made_by)]
    with pytest.raises(CommandError) as failed:
        call_command("credit_audit")
    assert f"provider leg {leg.id} (request:{grant.request_id}, made by seq {made_by})" in str(failed.value)
    window_end = format_time(granted_at + days(7))
    assert f"window ended {window_end}" in str(failed.value)
    services.credit_release()
    assert credit_audit().ok


def test_grants_after_an_early_settlement_are_checked_by_the_next_settlement(
    october, data_steward, member, other_analyst
):
    # a restricted request approved at once is a rubber stamp; made after October's early settlement (still
    # in October), it belongs to the next settlement's period, which must check it
    services.credit_epoch_settle(epoch="2026-10", now=utc(2026, 10, 20), early=True)
    october[0] = utc(2026, 10, 22, 9)
    grant = _grant(data_steward, other_analyst, published(data_steward, tier="restricted"))
    granted = CreditTransfer.objects.filter(ref=f"request:{grant.request_id}").order_by("order").first()
    october[0] = utc(2026, 11, 1, 0, 10)
    assert [entry.kind for entry in services.credit_epoch_roll()] == ["epoch.opened"]
    services.credit_epoch_settle(epoch="2026-11", now=utc(2026, 11, 5), early=True)
    flags = CreditEpoch.objects.get(epoch="2026-11").settlement["flags"]
    assert [(flag["rule"], flag["evidence"]) for flag in flags] == [("rubber_stamp", [granted.order])]
    assert [flag["covers"] for flag in flags] == [[engine.default_group(member.pk)]]
    assert CreditEpoch.objects.get(epoch="2026-10").settlement["flags"] == []
    services.credit_release()
    assert credit_audit().ok


def test_settling_an_unfinished_epoch_needs_early(october):
    with pytest.raises(Conflict) as refused:
        services.credit_epoch_settle(epoch="2026-10", now=utc(2026, 10, 20))
    assert refused.value.code == "epoch_not_ended"
    services.credit_epoch_settle(epoch="2026-10", now=utc(2026, 10, 20), early=True)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({**rules.RULES_V1, "pair_cap_mcr": 300.0}, "pair_cap_mcr must be an integer"),
        (
            {k: v for k, v in rules.RULES_V1.items() if k != "base_use_mcr"},
            "Missing rules parameter: base_use_mcr",
        ),
        ({**rules.RULES_V1, "bonus": 1}, "Unknown rules parameter: bonus"),
    ],
)
def test_a_bad_rules_document_is_refused_before_anything_is_written(params, message):
    with pytest.raises(ValidationFailed) as refused:
        services.credit_rules_publish(actor=None, params=params)
    assert refused.value.code == "bad_rules"
    assert message in str(refused.value)
    assert not CreditTransfer.objects.exists()


def test_an_adjustment_needs_a_second_approver(october, auditor, officer, member):
    adjustment = services.credit_adjustment_propose(
        actor=auditor, member=member, amount_mcr=5_000, reason="Missed download credit, ticket 42."
    )
    with pytest.raises(NotPermitted):
        services.credit_adjustment_approve(actor=auditor, adjustment=adjustment)
    assert not CreditTransfer.objects.filter(code="adjustment").exists()
    services.credit_adjustment_approve(actor=officer, adjustment=adjustment)
    assert balance(engine.member_available(member.pk)) == 5_000
    with pytest.raises(Conflict):
        services.credit_adjustment_approve(actor=officer, adjustment=CreditAdjustment.objects.get())


def test_a_negative_adjustment_beyond_the_balance_is_refused(october, auditor, officer, member):
    adjustment = services.credit_adjustment_propose(
        actor=auditor, member=member, amount_mcr=-1, reason="Claw back."
    )
    with pytest.raises(Conflict) as refused:
        services.credit_adjustment_approve(actor=officer, adjustment=adjustment)
    assert refused.value.code == "insufficient_credit"
    assert CreditAdjustment.objects.get().approved_by is None


def test_a_positive_adjustment_beyond_the_pool_is_refused(october, auditor, officer, member):
    pool = balance(engine.POOL)
    adjustment = services.credit_adjustment_propose(
        actor=auditor, member=member, amount_mcr=pool + 1, reason="More than the pool holds."
    )
    with pytest.raises(Conflict) as refused:
        services.credit_adjustment_approve(actor=officer, adjustment=adjustment)
    assert refused.value.code == "insufficient_credit"
    assert balance(engine.POOL) == pool
    assert balance(engine.member_available(member.pk)) == 0


def test_trust_ramp_scales_points_by_consumer_group_age(member, other_member, data_steward, other_analyst):
    with clock(utc(2026, 8, 1)) as now:
        services.credit_rules_publish(actor=None)  # v1: 90-day ramp
        admit(member, other_member)
        now[0] = utc(2026, 9, 15)  # the consumer is 45 days old
        services.credit_epoch_open(epoch="2026-09")
        grant = _grant(data_steward, other_analyst, published(data_steward, tier="open"))
        _download(other_analyst, grant)
    assert balance(engine.member_points(member.pk)) == 2_500  # 10 x 1.0 x 0.5 x 1 x 45/90 CR


def test_credit_audit_names_a_transfer_changed_behind_its_back(october, data_steward, other_analyst):
    grant = _grant(data_steward, other_analyst, published(data_steward, tier="restricted"))
    _download(other_analyst, grant)
    ledger_sequence()
    call_command("credit_audit")
    use = CreditTransfer.objects.get(code="use")
    with ledger_triggers_dropped(), connection.cursor() as cursor:
        cursor.execute("UPDATE credit_credittransfer SET amount = amount + 1 WHERE id = %s", [use.id])
    seq = use.entry.leaf.seq
    with pytest.raises(
        CommandError, match=rf"at seq {seq} .*transfer {use.id} has amount 10001; the rules give 10000"
    ):
        call_command("credit_audit")


def test_credit_audit_names_a_transfer_deleted_or_added_behind_its_back(october, data_steward, other_analyst):
    _download(other_analyst, _grant(data_steward, other_analyst, published(data_steward, tier="restricted")))
    ledger_sequence()
    use = CreditTransfer.objects.get(code="use")
    seq = use.entry.leaf.seq
    with ledger_triggers_dropped():  # as a superuser could
        CreditTransfer.objects.filter(pk=use.pk).delete()
    with pytest.raises(CommandError, match=rf"^DIVERGES at seq {seq} .*transfer {use.id} \(use\) is missing"):
        call_command("credit_audit")
    use.save(force_insert=True)
    assert credit_audit().ok
    extra = CreditTransfer.objects.get(pk=use.pk)
    extra.id, extra.leg = "ff" * 16, "use:again"  # a second payment for the same download
    extra.save(force_insert=True)
    with pytest.raises(CommandError, match=rf"^DIVERGES at seq {seq} .*transfer {'ff' * 16} is not one the"):
        call_command("credit_audit")


@pytest.mark.parametrize("column", ["credits_posted", "debits_pending"])
def test_credit_audit_names_an_account_balance_changed_behind_its_back(
    october, data_steward, other_analyst, member, column
):
    """Balances are a cache of the transfers kept in the same transaction, and not append-only: the audit
    diffs them too (I8: replay gives exactly the stored transfers and balances)."""
    _download(other_analyst, _grant(data_steward, other_analyst, published(data_steward, tier="restricted")))
    ledger_sequence()
    assert credit_audit().ok
    account = engine.member_allowance(member.pk)
    CreditAccount.objects.filter(account=account).update(**{column: F(column) + 1})
    assert credit_audit().divergence.reason.startswith(f"account {account} holds ")
    with pytest.raises(CommandError, match=rf"^DIVERGES: account {account} holds "):
        call_command("credit_audit")


def test_credit_audit_names_a_transfer_moved_to_another_entry(october, data_steward, other_analyst):
    grant = _grant(data_steward, other_analyst, published(data_steward, tier="restricted"))
    _download(other_analyst, grant)
    ledger_sequence()
    use = CreditTransfer.objects.get(code="use")
    other = LedgerEntry.objects.exclude(pk=use.entry_id).filter(kind="access.granted").get()
    with ledger_triggers_dropped(), connection.cursor() as cursor:
        cursor.execute("UPDATE credit_credittransfer SET entry_id = %s WHERE id = %s", [other.pk, use.id])
    with pytest.raises(
        CommandError,
        match=rf"at seq {use.entry.leaf.seq} .*transfer {use.id} has entry '{bytes(other.leaf_hash).hex()}'; "
        rf"the rules give '{bytes(use.entry.leaf_hash).hex()}'",
    ):
        call_command("credit_audit")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"points": 10001}, "points"),
        ({"consumer_member": 999, "consumer_group": "m999"}, "consumer_member"),
        ({"k": 3}, "k"),
    ],
)
def test_credit_audit_names_a_use_changed_behind_its_back(
    october, data_steward, other_analyst, change, field
):
    """A statement prints each use's point chain, consumer and points from the stored uses, not from the
    transfers: the audit replays those too, so a statement cannot disagree with the ledger unnoticed."""
    grant = _grant(data_steward, other_analyst, published(data_steward, tier="restricted"))
    _download(other_analyst, grant)
    ledger_sequence()
    assert credit_audit().ok
    use = CreditUse.objects.get()
    with ledger_triggers_dropped():  # as a superuser could
        CreditUse.objects.filter(pk=use.pk).update(**change)
    seq = LedgerEntry.objects.get(kind="data.downloaded").leaf.seq
    with pytest.raises(
        CommandError, match=rf"at seq {seq} \(credit order {use.order}\): use {use.order} has {field} "
    ):
        call_command("credit_audit")


def test_credit_audit_names_a_missing_or_an_extra_use(october, data_steward, other_analyst):
    grant = _grant(data_steward, other_analyst, published(data_steward, tier="restricted"))
    _download(other_analyst, grant)
    use = CreditUse.objects.get()
    with ledger_triggers_dropped():  # as a superuser could
        CreditUse.objects.filter(pk=use.pk).delete()
    assert credit_audit().divergence.reason == f"use {use.order} is missing"
    use.save(force_insert=True)
    assert credit_audit().ok
    use.order += 1000
    use.save(force_insert=True)
    extra = credit_audit().divergence
    assert extra.reason == f"use {use.order} is not one the rules make"
    # no credit entry has that order: the line says so instead of 'at an unsequenced entry'
    assert str(extra).startswith(f"DIVERGES at credit order {use.order}, which no credit entry has: ")
    with pytest.raises(CommandError, match="which no credit entry has"):
        call_command("credit_audit")


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE credit_credittransfer SET amount = 1",
        "DELETE FROM credit_credittransfer",
        pytest.param("TRUNCATE credit_credittransfer", marks=pytest.mark.postgres),
    ],
)
def test_transfers_are_append_only(october, data_steward, other_analyst, sql):
    _grant(data_steward, other_analyst, published(data_steward, tier="restricted"))
    transfers = CreditTransfer.objects.count()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # else TRUNCATE is refused for the test's deferred FK checks
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with pytest.raises(Exception, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    assert CreditTransfer.objects.count() == transfers > 0


@pytest.mark.parametrize(
    "sql", ["UPDATE credit_credituse SET points = points + 1", "DELETE FROM credit_credituse"]
)
def test_uses_are_append_only(october, data_steward, other_analyst, sql):
    # statements print each use's point chain from this table: like the transfers, no one edits it
    _download(other_analyst, _grant(data_steward, other_analyst, published(data_steward, tier="restricted")))
    with pytest.raises(Exception, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    assert CreditUse.objects.count() == 1


def test_a_rules_change_takes_effect_from_the_next_epoch(october, member, other_member):
    doubled = {**TRUSTED_RULES, "epoch_budget_mcr": 2 * TRUSTED_RULES["epoch_budget_mcr"]}
    services.credit_rules_publish(actor=None, params=doubled)
    october[0] = utc(2026, 11, 1, 0, 10)
    services.credit_epoch_roll()  # settles October under the rules it opened with, opens November
    budgets = dict(CreditEpoch.objects.values_list("epoch", "budget"))
    assert budgets == {"2026-10": TRUSTED_RULES["epoch_budget_mcr"], "2026-11": doubled["epoch_budget_mcr"]}
    assert CreditEpoch.objects.get(epoch="2026-10").rules != CreditEpoch.objects.get(epoch="2026-11").rules
    assert credit_audit().ok


def test_the_command_publishes_rules_from_a_file_and_refuses_a_bad_one(tmp_path):
    good, bad = tmp_path / "rules.json", tmp_path / "bad.json"
    good.write_text(json.dumps(TRUSTED_RULES))
    bad.write_text(json.dumps({**TRUSTED_RULES, "base_use_mcr": 10.5}))
    call_command("credit_epoch", "publish-rules", "--file", str(good))
    with pytest.raises(CommandError, match="bad_rules: Rules parameter base_use_mcr must be an integer"):
        call_command("credit_epoch", "publish-rules", "--file", str(bad))
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("credit_epoch", "publish-rules", "--file", str(tmp_path / "missing.json"))


def _written() -> tuple[int, int]:
    return LedgerEntry.objects.count(), CreditTransfer.objects.count()


def test_the_command_refuses_to_settle_an_epoch_twice_and_writes_nothing(
    october, data_steward, other_analyst
):
    _download(other_analyst, _grant(data_steward, other_analyst, published(data_steward, tier="restricted")))
    call_command("credit_epoch", "settle", "--epoch", "2026-10", "--early")
    settled = _written()
    with pytest.raises(CommandError) as twice:
        call_command("credit_epoch", "settle", "--epoch", "2026-10", "--early")
    assert str(twice.value) == "epoch_not_open: Epoch 2026-10 is not open (settled)."
    with pytest.raises(Conflict) as by_service:
        services.credit_epoch_settle(epoch="2026-10", early=True)
    assert by_service.value.code == "epoch_not_open"
    assert _written() == settled
    assert credit_audit().ok


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {k: v for k, v in TRUSTED_RULES.items() if k != "pair_cap_mcr"},
            "bad_rules: Missing rules parameter: pair_cap_mcr.",
        ),
        (
            {**TRUSTED_RULES, "pair_cap_mcr": 300.0},
            "bad_rules: Rules parameter pair_cap_mcr must be an integer",
        ),
    ],
)
def test_the_command_refuses_a_rules_file_with_a_float_or_a_missing_parameter_and_writes_nothing(
    october, tmp_path, params, message
):
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(params))
    before = _written()
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("credit_epoch", "publish-rules", "--file", str(path))
    assert _written() == before
    assert CreditRules.objects.count() == 1


@pytest.mark.parametrize("name", ["2026-13", "2026-00", "2026-24", "+026-05", "2026-1x", "202611", "9999-12"])
def test_an_epoch_that_is_no_calendar_month_is_refused_before_anything_is_written(name):
    """The engine's month arithmetic read 2026-13 as February 2027 (and 2026-00 as December 2025), so
    `credit_epoch open --epoch 2026-13` opened that epoch and wrote epoch.opened for it to the ledger."""
    services.credit_rules_publish(actor=None, params=TRUSTED_RULES)
    entries = LedgerEntry.objects.count()
    with pytest.raises(CommandError) as refused_by_command:
        call_command("credit_epoch", "open", "--epoch", name)
    assert str(refused_by_command.value) == f"bad_epoch: '{name}' is not an epoch; use YYYY-MM."
    with pytest.raises(ValidationFailed) as refused:
        services.credit_epoch_settle(epoch=name, early=True)
    assert refused.value.code == "bad_epoch"
    assert LedgerEntry.objects.count() == entries and not CreditEpoch.objects.exists()


def test_an_allowance_left_after_twelve_months_goes_back_to_the_pool(member, other_member):
    with clock(utc(2025, 10, 1, 9)) as now:
        services.credit_rules_publish(actor=None, params=TRUSTED_RULES)
        services.credit_epoch_open(epoch="2025-10")
        admit(member)
        now[0] = utc(2026, 9, 30, 9)  # 364 days later: still the member's
        services.credit_release()
        assert balance(engine.member_allowance(member.pk)) == 500_000
        now[0] = utc(2026, 10, 2, 9)
        pool_before = balance(engine.POOL)
        services.credit_release()
    assert balance(engine.member_allowance(member.pk)) == 0
    assert balance(engine.POOL) == pool_before + 500_000
    assert CreditTransfer.objects.filter(code="allowance_expired").count() == 1
    assert credit_audit().ok


def test_the_beat_tasks_open_release_and_settle(member, other_member, settings):
    from ledger.credit import tasks

    schedule = {entry["task"]: entry["schedule"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    release, roll = schedule["credit.release_credit_task"], schedule["credit.roll_epoch_task"]
    assert (release.hour, release.minute) == ({0}, {5})  # daily, just after midnight UTC
    assert len(roll.hour) == 24  # hourly: an ended month is settled within the hour
    with clock(utc(2026, 10, 5, 9)) as now:  # the services' `timezone` is the same module: one patch
        assert tasks.roll_epoch_task.delay().get() == 0  # no rules yet: nothing to open
        services.credit_rules_publish(actor=None, params=TRUSTED_RULES)
        assert tasks.roll_epoch_task.delay().get() == 1  # opens 2026-10
        assert tasks.release_credit_task.delay().get() == 1
        assert tasks.release_credit_task.delay().get() == 0  # once a day
        now[0] = utc(2026, 11, 1, 0, 10)
        assert tasks.roll_epoch_task.delay().get() == 2  # settles 2026-10, opens 2026-11
    assert dict(CreditEpoch.objects.values_list("epoch", "settled_order")).keys() == {"2026-10", "2026-11"}
    assert CreditEpoch.objects.get(epoch="2026-10").settled_order >= 0


def test_credit_audit_names_an_epoch_whose_stored_settlement_was_changed():
    """Statements and the leaderboard read the per-member results stored with the epoch: the audit
    recomputes them too."""
    epoch, _ = settled_with_held_mint()
    assert credit_audit().ok
    row = CreditEpoch.objects.get(epoch=epoch)
    members = row.settlement["members"]
    members[0] = {**members[0], "damped_points": members[0]["damped_points"] + 1}
    CreditEpoch.objects.filter(epoch=epoch).update(settlement={**row.settlement, "members": members})
    report = credit_audit()
    assert not report.ok
    assert report.divergence.reason == f"epoch {epoch} has another settlement than the rules give"
    assert report.divergence.seq == LedgerEntry.objects.get(kind="epoch.settled").leaf.seq


def test_an_adjustment_for_a_member_never_admitted_is_refused(october, auditor, officer, member):
    """Credit is for members: an applicant or a declined firm holds no account to adjust. The service
    refuses the proposal, and the approval of a proposal stored before proposals were checked."""
    applicant = MemberFactory(status=MemberStatus.APPLIED)
    with pytest.raises(Conflict) as refused:
        services.credit_adjustment_propose(
            actor=auditor, member=applicant, amount_mcr=5_000, reason="Goodwill before admission."
        )
    assert refused.value.code == "member_not_admitted"
    assert refused.value.extra["current_state"] == MemberStatus.APPLIED
    assert not CreditAdjustment.objects.exists()

    adjustment = CreditAdjustment.objects.create(
        member=applicant.pk, amount_mcr=5_000, reason="x", proposed_by=auditor, proposed_at=timezone.now()
    )
    with pytest.raises(Conflict) as at_approval:
        services.credit_adjustment_approve(actor=officer, adjustment=adjustment)
    assert at_approval.value.code == "member_not_admitted"
    assert not LedgerEntry.objects.filter(kind="credit.adjusted").exists()
    assert CreditAdjustment.objects.get().approved_by is None


def test_a_ledger_holding_an_adjustment_of_a_member_never_admitted_still_audits_clean(
    october, auditor, officer, member
):
    """The rules are not changed retroactively (CREDIT.md): an adjustment posted before the service
    checked admission replays as it was posted."""
    applicant = MemberFactory(status=MemberStatus.APPLIED)
    ledger_append(
        kind="credit.adjusted",
        actor=officer,
        subject_type="credit_adjustment",
        subject_id=1,
        members=[applicant.pk],
        payload={
            "adjustment": 1,
            "member": applicant.pk,
            "amount_mcr": 5_000,
            "reason": "Posted before proposals were checked.",
            "approvers": [auditor.pk, officer.pk],
        },
    )
    assert balance(engine.member_available(applicant.pk)) == 5_000
    ledger_sequence()
    assert credit_audit().ok


def test_credit_audit_says_what_it_compared(october, data_steward, other_analyst, capsys):
    _download(other_analyst, _grant(data_steward, other_analyst, published(data_steward, tier="restricted")))
    call_command("credit_audit")
    report = credit_audit()
    assert capsys.readouterr().out.strip() == (
        f"OK: {report.entries} credit entries replayed; all match: transfers {report.transfers}, "
        f"accounts {report.accounts}, epochs 1, uses 1."
    )


@pytest.mark.parametrize(
    ("args", "ignored"),
    [
        (["release", "--epoch", "2026-11"], "--epoch"),
        (["roll", "--epoch", "2026-11"], "--epoch"),
        (["open", "--early"], "--early"),
        (["settle", "--epoch", "2026-10", "--file", "rules.json"], "--file"),
        (["publish-rules", "--epoch", "2026-10"], "--epoch"),
    ],
)
def test_an_option_the_step_does_not_take_is_refused_before_anything_is_written(october, args, ignored):
    """`credit_epoch release --epoch 2026-11` ignored --epoch and answered "nothing to release today", so
    an operator believed November had been looked at; a step now refuses an option it would not use."""
    before = _written()
    with pytest.raises(CommandError) as refused:
        call_command("credit_epoch", *args)
    assert str(refused.value) == f"{args[0]} does not take {ignored}; see `manage.py credit_epoch --help`."
    assert _written() == before
