"""Portal views of credit: a member's contribution statement (the latest settled epoch by default) and the
auditors' leaderboard. Thin, like the API: the same selectors, so the page shows the JSON's numbers; what
the user may not see is a 404. Each page explains the flags with the parameters of the rules its epoch runs
under (`rules_params`), not those in force now."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from consortium.errors import NotFound, ValidationFailed
from consortium.selectors import member_list_for
from ledger.credit import selectors


@login_required
def statement(request: HttpRequest) -> HttpResponse:
    """Your member's statement for `?epoch=` (default: the latest settled epoch); auditors add `?member=`."""
    epoch = request.GET.get("epoch") or selectors.latest_settled_epoch()
    member_text = request.GET.get("member", "")
    # 0-9 only: str.isdigit also takes digits int() refuses (a 500) or reads in another script
    member = int(member_text) if member_text.isascii() and member_text.isdigit() else None
    context: dict[str, Any] = {"epochs": selectors.epoch_names(), "epoch": epoch, "statement": None}
    if selectors.is_auditor(request.user):  # auditors pick the member by name, not by its id
        context["members"] = member_list_for(user=request.user).order_by("legal_name")
        context["member"] = member
    if epoch is not None:
        try:
            context["statement"] = selectors.statement_for(user=request.user, epoch=epoch, member=member)
            context["rules_params"] = selectors.epoch_rules_params(epoch)  # its flags' words
        except ValidationFailed as refused:  # an auditor who has not named a member yet
            context["refused"] = refused.detail
        except NotFound as exc:
            raise Http404 from exc
    elif not selectors.is_auditor(request.user):
        try:
            selectors.own_member(request.user, None)  # no statement yet, but only for who may have one
        except NotFound as exc:
            raise Http404 from exc
    return render(request, "credit/statement.html", context)


@login_required
def leaderboard(request: HttpRequest) -> HttpResponse:
    """Auditors: the leaderboard of `?epoch=` (default: the latest settled) by member, sector or size."""
    try:
        selectors.require_auditor(request.user, None, "leaderboard")
    except NotFound as exc:
        raise Http404 from exc
    epoch = request.GET.get("epoch") or selectors.latest_settled_epoch()
    by = request.GET.get("by", "member")
    rows: list = []
    rules_params = None
    if epoch is not None:
        try:
            rows = selectors.leaderboard_for(user=request.user, epoch=epoch, by=by)
        except (NotFound, ValidationFailed) as exc:
            raise Http404 from exc
        rules_params = selectors.epoch_rules_params(epoch)  # the flags' words
    context = {
        "epochs": selectors.epoch_names(),
        "epoch": epoch,
        "by": by,
        "by_words": selectors.GROUPING_WORDS.get(by, by),
        "groupings": selectors.GROUPING_WORDS.items(),
        "rows": rows,
        "rules_params": rules_params,
    }
    return render(request, "credit/leaderboard.html", context)
