"""Membership: the public application form, the member directory, a member's page (where officers decide
on it) and its contact details."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.html import format_html
from django.views.decorators.http import require_http_methods

from consortium import selectors, services
from consortium.actors import request_actor
from consortium.errors import NotFound, ServiceError
from consortium.forms import (
    MemberApplicationForm,
    MemberContactForm,
    MemberDecisionForm,
    MemberFilterForm,
    submitted,
)
from consortium.models import MemberStatus
from consortium.paging import page_of, query_without_page
from consortium.roles import Capability, can, capabilities
from consortium.text import bdi
from consortium.views._common import ApplicationThrottle, _refused, _render, _throttled

APPLICATION_SESSION_KEY = "portal_application"

# Which decision buttons to offer in each status. Only a convenience for the page: the service decides, and
# refuses (Conflict) anything that does not fit the member's state.
OFFERED_DECISIONS: dict[str, tuple[str, ...]] = {
    MemberStatus.APPLIED: ("admit", "decline"),
    MemberStatus.ACTIVE: ("suspend", "withdraw"),
    MemberStatus.SUSPENDED: ("reinstate", "withdraw"),
}


# --- Membership application -----------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def apply(request: HttpRequest) -> HttpResponse:
    """The public application form; on success, redirect to the thank-you page (post/redirect/get)."""
    form = MemberApplicationForm(submitted(request))
    if request.method == "POST" and _throttled(request, ApplicationThrottle(), form, what="applications"):
        return _render(request, "apply.html", {"form": form}, status=429)
    if request.method == "POST" and form.is_valid():
        applicant = request.user if request.user.is_authenticated else None
        try:
            member = services.member_apply(**form.service_kwargs(), applicant=applicant)
        except ServiceError as error:
            _refused(form, error)
        else:
            request.session[APPLICATION_SESSION_KEY] = {
                "legal_name": member.legal_name,
                "credit_code": member.credit_code,
                "contact_email": member.contact_email,
                "status": member.status,
                "status_display": member.get_status_display(),
            }
            return redirect("portal:apply-thanks")
    return _render(request, "apply.html", {"form": form}, status=400 if form.errors else 200)


def apply_thanks(request: HttpRequest) -> HttpResponse:
    """Shows the application just made in this session, once."""
    application = request.session.pop(APPLICATION_SESSION_KEY, None)
    if application is None:
        return redirect("portal:apply")
    return _render(request, "apply_thanks.html", {"application": application})


# --- Members --------------------------------------------------------------------------------------------


@login_required
def member_list(request: HttpRequest) -> HttpResponse:
    """The members the user may see, filtered by status (staff), sector and size class, and searched. A
    filter that cannot be applied lists none, with a 400 as the API's, rather than every member."""
    caps = capabilities(request.user)
    if not caps & {Capability.VIEW_OWN_MEMBER, Capability.VIEW_ALL_MEMBERS}:
        raise Http404
    form = MemberFilterForm(request.GET or None, show_status=Capability.VIEW_ALL_MEMBERS in caps)
    members = selectors.member_list_for(user=request.user)
    if form.is_valid():
        filters = {key: value for key, value in form.cleaned_data.items() if value and key != "q"}
        members = members.filter(**filters)
        members = selectors.member_search(members=members, text=form.cleaned_data["q"])
    elif form.is_bound:
        members = members.none()
    page = page_of(request, members.prefetch_related("clusters"))
    return _render(
        request,
        "member_list.html",
        {"form": form, "page": page, "query": query_without_page(request)},
        status=400 if form.errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def member_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A member's record and lifecycle history; officers decide on it from here."""
    try:
        member = selectors.member_get_for(user=request.user, pk=pk)
    except NotFound as error:
        raise Http404(error.detail) from error
    may_decide = can(request.user, Capability.DECIDE_MEMBERSHIP)
    form = MemberDecisionForm(
        submitted(request), initial={"status_since": member.status_changed_at.isoformat()}
    )
    if request.method == "POST":
        if not may_decide:
            raise PermissionDenied
        if form.is_valid():
            action = form.cleaned_data["action"]
            decide = getattr(services, f"member_{action}")
            try:
                decided = decide(
                    member=member,
                    actor=request_actor(request),
                    reason=form.cleaned_data["reason"],
                    status_since=form.cleaned_data["status_since"],
                )
            except ServiceError as error:
                _refused(form, error)
            else:
                done = MemberDecisionForm.DONE[action]
                status = decided.get_status_display()
                messages.success(
                    request,
                    format_html("{} is {}; its status is now {}.", bdi(decided.legal_name), done, status),
                )
                return redirect("portal:member-detail", pk=member.pk)
        # The page shown again is the member as read now: a decision from it is one on what it shows (after a
        # status_changed refusal, the new status), not on the time the refused form carried.
        shown = {name: form.data[name] for name in form.data}
        shown["status_since"] = member.status_changed_at.isoformat()
        form.data = shown
    try:
        history = selectors.member_history_for(user=request.user, pk=member.pk)
    except NotFound:
        history = None  # another firm's reasons are not shown
    may_add_person = _may_add_from_member_page(request_actor(request), member)
    return _render(
        request,
        "member_detail.html",
        {
            "member": member,
            "history": history,
            "form": form if may_decide else None,
            "decisions": OFFERED_DECISIONS.get(member.status, ()) if may_decide else (),
            "may_add_person": may_add_person,
            # Someone must be able to act for an admitted member: its first admin is added from here.
            "needs_admin": may_add_person
            and selectors.member_lacks_admin_for(user=request_actor(request), member=member),
            "may_change_contact": services.member_may_change_contact(
                actor=request_actor(request), member=member
            ),
        },
        status=400 if form.errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def member_contact_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Changes a member's contact details: its admin's own, an officer's for any member. Who may is the
    service's rule alone (services.member_contact_change, whose refusal is shown on the form;
    services.member_may_change_contact offers the page); a member the actor may not see, or whose details
    they may not change, has no such page (404)."""
    actor = request_actor(request)
    try:
        member = selectors.member_get_for(user=actor, pk=pk)
    except NotFound as error:
        raise Http404(error.detail) from error
    if not services.member_may_change_contact(actor=actor, member=member):
        raise Http404
    current = {field: getattr(member, field) for field in services.MEMBER_CONTACT_FIELDS}
    form = MemberContactForm(submitted(request), initial=current)
    if request.method == "POST" and form.is_valid():
        try:
            changed = services.member_contact_change(actor=actor, member=member, **form.cleaned_data)
        except ServiceError as error:
            _refused(form, error)
        else:
            messages.success(
                request, format_html("The contact details of {} are saved.", bdi(changed.legal_name))
            )
            return redirect("portal:member-detail", pk=member.pk)
    context = {"form": form, "member": member}
    return _render(request, "member_contact_form.html", context, status=400 if form.errors else 200)


def _may_add_from_member_page(actor: Any, member: Any) -> bool:
    # A member's own people are added from People (people/new/), as before; its page offers adding one to
    # the others who may (officers).
    return member.pk != actor.member_id and services.user_may_create(actor=actor, member=member)
