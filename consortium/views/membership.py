"""Portal views: home, membership application, member directory and decisions, people, API keys."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware import csrf
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html
from django.views.decorators.http import require_http_methods, require_POST
from rest_framework.throttling import SimpleRateThrottle

from consortium import navigation, selectors, services
from consortium.actors import request_actor
from consortium.errors import NotFound, ServiceError
from consortium.forms import (
    APIKeyCreateForm,
    MemberApplicationForm,
    MemberContactForm,
    MemberDecisionForm,
    MemberFilterForm,
    PortalPasswordResetForm,
    UserCreateForm,
    UserRoleForm,
    add_service_error,
    submitted,
)
from consortium.models import MemberAPIKey, MemberRole, MemberStatus, User
from consortium.paging import page_number, page_of, query_without_page
from consortium.passwords import clear_login_lockout, may_set_password
from consortium.roles import ROLE_CAPABILITIES, Capability, can, capabilities
from consortium.text import bdi

APPLICATION_SESSION_KEY = "portal_application"

CAPABILITY_LABELS: dict[Capability, str] = {
    Capability.VIEW_OWN_MEMBER: "See your member's record",
    Capability.EDIT_OWN_MEMBER: "Declare your member's parent or controlling entity",
    Capability.EDIT_OWN_CONTACT: "Edit your member's contact details",
    Capability.VIEW_OWN_USERS: "See your member's people",
    Capability.MANAGE_OWN_USERS: "Manage your member's people",
    Capability.MANAGE_API_KEYS: "Manage API keys",
    Capability.BROWSE_CATALOG: "Browse the dataset catalog",
    Capability.REQUEST_ACCESS: "Request access to datasets",
    Capability.MANAGE_DATASETS: "Register and manage datasets",
    Capability.DECIDE_REQUESTS: "Decide access requests",
    Capability.VIEW_ALL_MEMBERS: "See every member",
    Capability.VIEW_ALL_USERS: "See every user; manage every member's people",
    Capability.DECIDE_MEMBERSHIP: "Admit, suspend and withdraw members",
    Capability.DECIDE_CONFIDENTIAL: "Decide confidential-tier requests",
    Capability.AUDIT: "Audit the ledger and credit",
    Capability.REVOKE_ANY_GRANT: "Revoke any grant",
}


def _role_help() -> str:
    """What each role a member's person may hold allows, in the home page's words, read off
    roles.ROLE_CAPABILITIES: what every role may, then each role's own (analyst, steward, admin)."""
    order = [MemberRole.ANALYST, MemberRole.STEWARD, MemberRole.ADMIN]
    common = frozenset.intersection(*(ROLE_CAPABILITIES[role] for role in order))

    def words(caps: frozenset[Capability]) -> str:
        shown = sorted(caps - ({Capability.VIEW_OWN_USERS} if Capability.MANAGE_OWN_USERS in caps else set()))
        return "; ".join(CAPABILITY_LABELS[cap][0].lower() + CAPABILITY_LABELS[cap][1:] for cap in shown)

    own = [
        f"{MemberRole(role).label}, also: {words(ROLE_CAPABILITIES[role] - common)}."
        if ROLE_CAPABILITIES[role] - common
        else f"{MemberRole(role).label}: nothing more."
        for role in order
    ]
    return " ".join([f"Every role may {words(common)}.", *own])


# Which decision buttons to offer in each status. Only a convenience for the page: the service decides, and
# refuses (Conflict) anything that does not fit the member's state.
OFFERED_DECISIONS: dict[str, tuple[str, ...]] = {
    MemberStatus.APPLIED: ("admit", "decline"),
    MemberStatus.ACTIVE: ("suspend", "withdraw"),
    MemberStatus.SUSPENDED: ("reinstate", "withdraw"),
}


def _render(
    request: HttpRequest, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> HttpResponse:
    return render(request, f"consortium/{template}", context or {}, status=status)


def _refused(form: Any, error: ServiceError) -> None:
    """Put a service's refusal on the form; an invisible object is a 404, as in the API."""
    if isinstance(error, NotFound):
        raise Http404(error.detail) from error
    add_service_error(form, error)


# --- Home -----------------------------------------------------------------------------------------------


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The user's member and role, what they may do (each linked to its page), what waits for them (from
    the apps' registered sources) and the officer's queue of applications."""
    user = request_actor(request)
    caps = capabilities(user)
    pending = None
    if Capability.DECIDE_MEMBERSHIP in caps:
        pending = selectors.member_list_for(user=user).filter(status=MemberStatus.APPLIED).count()
    return _render(
        request,
        "home.html",
        {
            "member": user.member,
            "role": user.get_consortium_role_display() or user.get_member_role_display(),
            "capabilities": [
                (CAPABILITY_LABELS.get(cap, str(cap)), _page_of(cap, user)) for cap in sorted(caps)
            ],
            "waiting": navigation.waiting_for(user),
            "pending_applications": pending,
            "applied_status": MemberStatus.APPLIED,
        },
    )


def _page_of(capability: Capability, user: Any) -> str | None:
    """The URL of the page where `user` uses `capability`, None when it has none in the portal."""
    name = navigation.CAPABILITY_PAGES.get(capability)
    if name is None:
        return None
    if name in navigation.OWN_MEMBER_PAGES:
        return reverse(name, args=[user.member_id]) if user.member_id else None
    return reverse(name)


# --- Membership application -----------------------------------------------------------------------------


class ApplicationThrottle(SimpleRateThrottle):
    """The API's `member_apply` rate and budget, shared: the public form is no way around the API's limit."""

    scope = "member_apply"

    def get_cache_key(self, request: Any, view: Any) -> str:
        # The same key as DRF's ScopedRateThrottle on the API's apply endpoint.
        ident = request.user.pk if request.user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_portal_request(self, request: HttpRequest) -> bool:
        """`allow_request` for the portal's form, which has no DRF Request and no APIView."""
        # DRF types the request as its own Request, but the throttle reads only META and user, which a
        # plain HttpRequest has too; `view` is unused by SimpleRateThrottle.
        return self.allow_request(request, None)  # type: ignore[arg-type]


def _throttled(
    request: HttpRequest, throttle: ApplicationThrottle, form: Any, *, what: str, clear: bool = False
) -> bool:
    """Count `request` against `throttle` (a public form's budget per client). Over the budget: put on
    `form` the message saying how many seconds to wait (only that one, with `clear`) and return True; the
    caller answers with the form and status 429 (no Retry-After: the page says it)."""
    if throttle.allow_portal_request(request):
        return False
    wait = math.ceil(throttle.wait() or 1)
    if clear:
        form.errors.clear()
    form.add_error(None, f"Too many {what} from here. Please try again in {wait} seconds.")
    return True


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
    """The members the user may see, filtered by status (staff), sector and size class, and searched."""
    caps = capabilities(request.user)
    if not caps & {Capability.VIEW_OWN_MEMBER, Capability.VIEW_ALL_MEMBERS}:
        raise Http404
    form = MemberFilterForm(request.GET or None, show_status=Capability.VIEW_ALL_MEMBERS in caps)
    members = selectors.member_list_for(user=request.user)
    if form.is_valid():
        filters = {key: value for key, value in form.cleaned_data.items() if value and key != "q"}
        members = members.filter(**filters)
        if search := form.cleaned_data["q"]:
            members = members.filter(
                Q(legal_name__icontains=search)
                | Q(credit_code__icontains=search)
                | Q(region__icontains=search)
            )
    page = page_of(request, members.prefetch_related("clusters"))
    return _render(
        request,
        "member_list.html",
        {"form": form, "page": page, "query": query_without_page(request)},
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


# --- People ---------------------------------------------------------------------------------------------


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


# --- Setting one's own password (Django's password-reset views) -----------------------------------------


class PasswordResetThrottle(ApplicationThrottle):
    """`password_reset` requests from one client (the "Forgot your password?" form), like the apply form."""

    scope = "password_reset"


class PasswordResetView(auth_views.PasswordResetView):
    """ "Forgot your password?": the same answer whether or not anyone has the address; a link only for
    people who may set a password (consortium.passwords), and a bounded number per client and address."""

    form_class = PortalPasswordResetForm
    template_name = "consortium/password_reset_form.html"
    success_url = reverse_lazy("portal:password-reset-done")

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # A refused request's answer says nothing about the address typed: only the wait (clear).
        form = self.get_form()
        if _throttled(request, PasswordResetThrottle(), form, what="requests", clear=True):
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: Any) -> HttpResponse:
        services.password_links_request(email=form.cleaned_data["email"])
        return redirect(self.get_success_url())


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """The link's page: set a password. A link for someone who may no longer set one (deactivated since,
    their member suspended) is refused like a used or forged one."""

    template_name = "consortium/password_reset_confirm.html"
    success_url = reverse_lazy("portal:password-reset-complete")

    def get_user(self, uidb64: str) -> Any:
        user = super().get_user(uidb64)
        return user if user is not None and may_set_password(user) else None

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        clear_login_lockout(form.user)
        return response


# --- API keys -------------------------------------------------------------------------------------------


def _require_key_admin(request: HttpRequest) -> None:
    if not can(request.user, Capability.MANAGE_API_KEYS):
        raise Http404


def _api_keys(request: HttpRequest) -> QuerySet[MemberAPIKey]:
    return selectors.api_key_list_for(user=request.user).order_by("-created", "-pk")


@login_required
def api_key_list(request: HttpRequest) -> HttpResponse:
    """The member's API keys: names, prefixes, scopes and dates; never a secret."""
    _require_key_admin(request)
    return _render(
        request,
        "api_key_list.html",
        {"page": page_of(request, _api_keys(request)), "query": query_without_page(request)},
    )


def _api_key_list_at(request: HttpRequest) -> str:
    """The key list at the page the form was sent from (its `page` field), or at the last page if that one
    is gone by now (page_number); the first for a value that is no whole number. Only our own path and a
    number: no address from the request is followed."""
    number = page_number(_api_keys(request), request.POST.get("page"))
    listing = reverse("portal:api-key-list")
    return listing if number == 1 else f"{listing}?page={number}"


@login_required
@require_http_methods(["GET", "POST"])
def api_key_create(request: HttpRequest) -> HttpResponse:
    """Creates a key and shows its secret in this one response; it is stored only hashed."""
    _require_key_admin(request)
    form = APIKeyCreateForm(submitted(request))
    if request.method == "POST" and form.is_valid():
        try:
            key, raw_key = services.api_key_create(actor=request_actor(request), **form.service_kwargs())
        except ServiceError as error:
            _refused(form, error)
        else:
            # Rendered, not redirected: the secret is in no URL, session or cache, and gone after this page.
            response = _render(request, "api_key_created.html", {"key": key, "raw_key": raw_key})
            add_never_cache_headers(response)
            return response
    return _render(request, "api_key_form.html", {"form": form}, status=400 if form.errors else 200)


@login_required
@require_POST
def api_key_revoke(request: HttpRequest, prefix: str) -> HttpResponse:
    """Revokes a key at once: partners' requests with it are refused from now on. Back to the list's page
    the form was on."""
    _require_key_admin(request)
    try:
        key = selectors.api_key_get_for(user=request.user, prefix=prefix)
        services.api_key_revoke(actor=request_actor(request), key=key)
    except NotFound as error:
        raise Http404(error.detail) from error
    except ServiceError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, format_html("The key '{}' ({}) is revoked.", bdi(key.name), key.prefix))
    return redirect(_api_key_list_at(request))


# Refusals of where a form came from (the Origin or Referer header), which reloading the page does not mend.
_ADDRESS_REFUSALS = tuple(
    reason.split(" - ")[0] for reason in (csrf.REASON_BAD_ORIGIN, csrf.REASON_BAD_REFERER)
)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: the portal's page for a form Django's CSRF check refused. A missing or stale token
    (the page open too long, a sign-in in another tab, cookies off) asks for a reload; a form sent from an
    address the site does not trust says so, since a reload does not mend that. The check's own reason only
    with DEBUG, as on Django's page."""
    context = {
        "address_refused": reason.startswith(_ADDRESS_REFUSALS),
        "debug_reason": reason if settings.DEBUG else "",
    }
    return render(request, "403_csrf.html", context, status=403)
