"""Portal views of credit: a member's contribution statement (the latest settled epoch by default); for
auditors the leaderboard, the anti-gaming flags with their evidence, and the held mints with their
resolution (`audit.resolved`, through services.held_mint_resolve as the API's resolve action).

Thin, like the API: the same selectors, so the page shows the JSON's numbers; what the user may not see is
a 404. Each page explains the flags with the parameters of the rules its epoch runs under
(`rules_params`), not those in force now."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from consortium.actors import request_actor
from consortium.errors import NotFound, ServiceError, ValidationFailed
from consortium.forms import add_service_error
from consortium.numbers import path_number, whole_number
from consortium.paging import page_of, query_without_page
from consortium.roles import Capability, can
from consortium.selectors import member_list_for
from consortium.text import bdi
from ledger.credit import selectors, services
from ledger.credit.forms import HeldMintResolveForm


@login_required
def statement(request: HttpRequest) -> HttpResponse:
    """Your member's statement for `?epoch=` (default: the latest settled epoch); auditors add `?member=`."""
    epoch = request.GET.get("epoch") or selectors.latest_settled_epoch()
    member_text = request.GET.get("member", "")
    member = whole_number(member_text)
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


def _auditors_only(request: HttpRequest, what: str) -> None:
    """404 unless the user is an auditor or officer (the selectors' rule, as the API answers)."""
    try:
        selectors.require_auditor(request.user, None, what)
    except NotFound as exc:
        raise Http404 from exc


@login_required
def flags(request: HttpRequest) -> HttpResponse:
    """Auditors: the anti-gaming flags of settled epochs (`?epoch=`, default every one, oldest first, as the
    API lists them), each with its rule, the members of its groups and its evidence, a page at a time."""
    _auditors_only(request, "flags")
    epoch = request.GET.get("epoch", "")
    epochs = selectors.epoch_names()
    if epoch and epoch not in epochs:
        raise Http404(f"No credit epoch {epoch}.")
    page = page_of(request, selectors.flag_list_for(user=request.user, epoch=epoch or None))
    groups = {group for flag in page for group in (*flag["groups"], *flag["covers"])}
    members = selectors.group_members_for(user=request.user, groups=groups)
    # each flag is explained under the rules its epoch ran under (and the glossary under the chosen epoch's)
    glossary_epoch = epoch or (page[-1]["epoch"] if len(page) else "")
    rules = selectors.epochs_rules_params({flag["epoch"] for flag in page} | {glossary_epoch} - {""})
    rows = [
        {
            **flag,
            "rules_params": rules.get(flag["epoch"]),
            "members": [(group, members.get(group, [])) for group in flag["groups"]],
        }
        for flag in page
    ]
    context = {
        "epochs": epochs,
        "epoch": epoch,
        "page": page,
        "rows": rows,
        "query": query_without_page(request),
        "glossary_epoch": glossary_epoch,
        "rules_params": rules.get(glossary_epoch),
    }
    return render(request, "credit/flags.html", context)


def _held_mints_page(
    request: HttpRequest, failed: tuple[str, HeldMintResolveForm] | None = None, status: int = 200
) -> HttpResponse:
    """The held mints, each with its form (the one that came back refused, `failed`, keeps its values and
    errors), a page at a time."""
    page = page_of(request, selectors.held_mint_list_for(user=request.user))
    rows = []
    for transfer in page:
        _, epoch, member = transfer.ref.split(":")  # mint:<epoch>:<member>, as the API's id reads it
        mint = f"{epoch}:{member}"
        form = failed[1] if failed and failed[0] == mint else None
        rows.append(
            {
                "id": mint,
                "epoch": epoch,
                "member": int(member),
                "amount": transfer.amount,
                "seq": transfer.seq,
                "form": form or HeldMintResolveForm(auto_id=f"id_{epoch}_{member}_%s"),
            }
        )
    names = {
        member.pk: member.legal_name
        for member in member_list_for(user=request.user).filter(pk__in=[row["member"] for row in rows])
    }
    for row in rows:
        row["name"] = names.get(row["member"], "")
    # the refused form on its own too, so the page's title says it came back with errors, and its errors
    # at the top when its mint is not on this page (the list changed meanwhile)
    failed_mint = failed[0] if failed else None
    unshown = failed_mint is not None and all(row["id"] != failed_mint for row in rows)
    context = {
        "page": page,
        "rows": rows,
        "query": query_without_page(request),
        "form": failed and failed[1],
        "unshown": unshown,
        "may_resolve": can(request.user, Capability.RESOLVE_HELD_MINTS),
    }
    return render(request, "credit/held_mints.html", context, status=status)


@login_required
def held_mints(request: HttpRequest) -> HttpResponse:
    """Auditors and officers: mints held pending an audit, oldest first; for auditors, who alone may
    resolve them, each with a form to release or forfeit it."""
    _auditors_only(request, "held mints")
    return _held_mints_page(request)


@login_required
@require_POST
def held_mint_resolve(request: HttpRequest, mint: str) -> HttpResponse:
    """Release or forfeit the held mint `<epoch>:<member>` through services.held_mint_resolve; a refusal
    goes back beside its field on the held mints page (nothing is written), and so does a mint not held,
    with a 404 as in the API (resolved meanwhile, in another tab or by another auditor: the service says
    who and when); an officer, who sees the held mints but may not resolve them, gets a 403."""
    _auditors_only(request, "held mints")
    if not can(request.user, Capability.RESOLVE_HELD_MINTS):
        raise PermissionDenied("Only an auditor may resolve a held mint.")
    epoch, member = mint.rsplit(":", 1)
    member_id = path_number(member)  # int() raised past 4,300 digits, a 500
    form = HeldMintResolveForm(request.POST, auto_id=f"id_{epoch}_{member}_%s")
    if form.is_valid():
        try:
            entry = services.held_mint_resolve(
                actor=request_actor(request), epoch=epoch, member=member_id, **form.cleaned_data
            )
        except NotFound as error:
            add_service_error(form, error)
            return _held_mints_page(request, (mint, form), status=404)
        except ServiceError as error:
            add_service_error(form, error)
        else:
            decision = form.cleaned_data["decision"]
            name = member_list_for(user=request.user).filter(pk=member_id).first() or f"member {member}"
            messages.success(
                request,
                format_html(
                    "The mint of {} in epoch {} is {}: recorded in the ledger (audit.resolved, leaf {}).",
                    bdi(name),
                    epoch,
                    "released" if decision == "release" else "forfeited",
                    bytes(entry.leaf_hash).hex()[:16],
                ),
            )
            return redirect("portal:credit-held-mints")
    return _held_mints_page(request, (mint, form), status=400)
