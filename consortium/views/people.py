"""People: a member's people (every user for officers), adding a person, their role, deactivation and the
link to set a password."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.html import format_html
from django.views.decorators.http import require_http_methods, require_POST

from consortium import selectors, services
from consortium.actors import request_actor
from consortium.errors import NotFound, ServiceError
from consortium.forms import UserCreateForm, UserRoleForm, submitted
from consortium.models import User
from consortium.paging import page_of, query_without_page
from consortium.roles import Capability, can
from consortium.text import bdi
from consortium.views._common import _refused, _render, _role_help


def _require_people(request: HttpRequest) -> None:
    if not can(request.user, Capability.VIEW_OWN_USERS) and not can(request.user, Capability.VIEW_ALL_USERS):
        raise Http404


@login_required
def people_list(request: HttpRequest) -> HttpResponse:
    """A member admin's own people; every user for consortium officers."""
    _require_people(request)
    actor = request_actor(request)
    people = selectors.user_list_for(user=actor).select_related("member").order_by("member", "username")
    return _render(
        request,
        "people_list.html",
        {
            "page": page_of(request, people),
            "query": query_without_page(request),
            # people/new/ adds to the actor's own member; an officer adds from the member's page.
            "may_add": actor.member is not None
            and services.user_may_create(actor=actor, member=actor.member),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def person_create(request: HttpRequest, member_pk: int | None = None) -> HttpResponse:
    """Adds a person to a member: a member admin to their own (people/new/), a consortium officer to any
    (from the member's page). Who may is the service's rule alone (services.user_create, whose refusal is
    shown on the form; services.user_may_create offers the page); a member the actor may not see, or add
    people to, has no such page (404)."""
    actor = request_actor(request)
    try:
        member = selectors.member_for_new_person(user=actor, member_id=member_pk)
    except ServiceError as error:
        raise Http404(error.detail) from error
    if not services.user_may_create(actor=actor, member=member):
        raise Http404
    form = UserCreateForm(submitted(request))
    form.fields["role"].help_text = _role_help()
    if request.method == "POST" and form.is_valid():
        try:
            person = services.user_create(actor=actor, member=member, **form.service_kwargs())
        except ServiceError as error:
            _refused(form, error)
        else:
            if person.has_usable_password():
                messages.success(request, format_html("{} can now log in.", bdi(person.username)))
            else:
                messages.warning(
                    request,
                    format_html(
                        "{} has no password yet and cannot log in: "
                        "send them a link to set one (Send a link to set a password, below).",
                        bdi(person.username),
                    ),
                )
            return redirect("portal:person-detail", pk=person.pk)
    return _render(
        request, "person_form.html", {"form": form, "member": member}, status=400 if form.errors else 200
    )


def _person(request: HttpRequest, pk: int) -> Any:
    _require_people(request)
    try:
        return selectors.user_get_for(user=request.user, pk=pk)
    except NotFound as error:
        raise Http404(error.detail) from error


@login_required
@require_http_methods(["GET", "POST"])
def person_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A person's account; their member's admin or a consortium officer changes their role here. Who may is
    the service's rule alone (services.user_set_role; services.user_may_manage offers the controls); its
    refusal is shown on the form."""
    person = _person(request, pk)
    actor = request_actor(request)
    form = UserRoleForm(submitted(request), initial={"role": person.member_role})
    form.fields["role"].help_text = _role_help()
    if request.method == "POST" and form.is_valid():
        try:
            updated = services.user_set_role(actor=actor, user=person, role=form.cleaned_data["role"])
        except ServiceError as error:
            _refused(form, error)
        else:
            messages.success(
                request,
                format_html("{}'s role is now {}.", bdi(updated.username), updated.get_member_role_display()),
            )
            return redirect("portal:person-detail", pk=person.pk)
    may_manage = services.user_may_manage(actor=actor, user=person)
    return _render(
        request,
        "person_detail.html",
        {
            "person": person,
            # A refused change keeps its form, so the refusal shows even where no control is offered.
            "form": form if may_manage or form.errors else None,
            "may_manage": may_manage,
            "may_send_password_link": services.user_may_send_password_link(actor=actor, user=person),
        },
        status=400 if form.errors else 200,
    )


def _act_on_person(
    request: HttpRequest, pk: int, action: Callable[..., Any], done: Callable[[User], str]
) -> HttpResponse:
    """Run a people service on person `pk` as the request's actor and go back to their page: the service
    decides who may (NotFound is a 404; any other refusal is the message), `done` words the success."""
    person = _person(request, pk)
    try:
        action(actor=request_actor(request), user=person)
    except NotFound as error:
        raise Http404(error.detail) from error
    except ServiceError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, done(person))
    return redirect("portal:person-detail", pk=person.pk)


@login_required
@require_http_methods(["GET", "POST"])
def person_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    """Deactivates a person: they can no longer log in. Two steps, as the other destructive actions take a
    reason first: GET asks to confirm (to those services.user_may_manage offers it; 404 for anyone else,
    back to the person's page once they are deactivated), the POST it sends deactivates. Who may (their
    member's admin, a consortium officer) is the service's rule alone (services.user_deactivate)."""
    if request.method == "GET":
        person = _person(request, pk)
        if not services.user_may_manage(actor=request_actor(request), user=person):
            raise Http404
        if not person.is_active:
            return redirect("portal:person-detail", pk=person.pk)
        return _render(request, "person_deactivate.html", {"person": person})
    return _act_on_person(
        request,
        pk,
        services.user_deactivate,
        lambda person: format_html("{} is deactivated.", bdi(person.username)),
    )


@login_required
@require_POST
def person_send_password_link(request: HttpRequest, pk: int) -> HttpResponse:
    """A member admin (or a consortium officer) e-mails a person a one-time link to set their own password.
    Who may is the service's rule alone (services.user_send_password_link)."""
    return _act_on_person(
        request,
        pk,
        services.user_send_password_link,
        lambda person: format_html(
            "A link to set a password is on its way to {} at {}.", bdi(person.username), bdi(person.email)
        ),
    )
