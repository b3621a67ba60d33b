"""Access requests: the member's own, the ones waiting for the user's decision, and one request with its
decisions."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from consortium.actors import request_actor
from consortium.errors import NotFound, ServiceError
from consortium.forms import submitted
from consortium.navigation import nav_sections
from consortium.paging import page_of, query_without_page
from consortium.roles import Capability, capabilities
from exchange import selectors, services
from exchange.forms import DecisionForm, RequestFilterForm
from exchange.models import UNDECIDED_STATES, AccessRequest, RequestState
from exchange.views._common import _get, _refused, _render, _require_reading

REQUEST_DECISIONS: dict[str, services.AccessRequestDecision] = {
    "approve": services.access_request_approve,
    "reject": services.access_request_reject,
    "withdraw": services.access_request_withdraw,
}


@login_required
def requests_home(request: HttpRequest) -> HttpResponse:
    """The nav's "Requests": the user's own requests, or the decisions waiting for them."""
    nav = nav_sections(request)
    for section, name in (
        ("my_requests", "portal:my-requests"),
        ("incoming", "portal:incoming-requests"),
        ("grants", "portal:grant-list"),
    ):
        if nav[section]:
            return redirect(name)
    raise Http404


def _filtered(
    request: HttpRequest, requests: QuerySet[AccessRequest], waiting: Any, default: str = ""
) -> tuple[Any, Any]:
    """The state filter's form and the requests it selects; "waiting" means the `waiting` states. A state
    it does not know selects no request (the page says why), not every one as if they were in it."""
    data = request.GET.copy()
    data.setdefault("state", default)
    form = RequestFilterForm(data)
    if not form.is_valid():
        return form, requests.none()
    state = form.cleaned_data["state"]
    if state == "waiting":
        requests = requests.filter(state__in=waiting)
    elif state:
        requests = requests.filter(state=state)
    return form, requests.order_by("-created_at", "-id")


@login_required
def my_requests(request: HttpRequest) -> HttpResponse:
    """The requests the user's member made, with withdraw for the undecided ones (read-only, no withdraw,
    while the member is not active)."""
    _require_reading(request, Capability.REQUEST_ACCESS)
    mine = selectors.access_request_mine_for(user=request_actor(request))
    form, mine = _filtered(request, mine, UNDECIDED_STATES)
    return _render(
        request,
        "request_list.html",
        {
            "heading": "My member's requests",
            "form": form,
            "page": page_of(request, mine),
            "query": query_without_page(request),
            "undecided": UNDECIDED_STATES,
            "mine": True,
            "may_withdraw": Capability.REQUEST_ACCESS in capabilities(request.user),
        },
        status=400 if form.errors else 200,
    )


@login_required
def incoming_requests(request: HttpRequest) -> HttpResponse:
    """Requests to decide: for the owner's data steward the member's datasets', for a security officer the
    confidential queue (steward-approved); officers and auditors see every one. Waiting ones by default.
    While its member is not active, a data steward reads its member's datasets' requests here, deciding
    none."""
    _require_reading(request, Capability.DECIDE_REQUESTS, Capability.DECIDE_CONFIDENTIAL, Capability.AUDIT)
    caps = capabilities(request.user)
    decided = selectors.access_request_decided_by(user=request_actor(request), reading=True)
    if decided is not None:  # the same queue the home page counts
        requests, waiting = decided
        heading = (
            "Confidential requests"
            if Capability.DECIDE_CONFIDENTIAL in caps
            else "Requests for my member's datasets"
        )
    else:
        requests = selectors.access_request_list_for(user=request.user)
        waiting = tuple(UNDECIDED_STATES)
        heading = "All access requests"
    form, requests = _filtered(request, requests, waiting, default="waiting")
    return _render(
        request,
        "request_list.html",
        {
            "heading": heading,
            "form": form,
            "page": page_of(request, requests),
            "query": query_without_page(request),
            "undecided": UNDECIDED_STATES,
            "mine": False,
        },
        status=400 if form.errors else 200,
    )


def _offered_decisions(request: HttpRequest, access_request: AccessRequest) -> list[str]:
    """Buttons worth showing; only a convenience: the service decides and refuses the rest."""
    user = request_actor(request)
    caps = capabilities(user)
    state = access_request.state
    offered: list[str] = []
    owner_steward = Capability.DECIDE_REQUESTS in caps and user.member_id == access_request.dataset.owner_id
    if (state == RequestState.PENDING and owner_steward) or (
        state == RequestState.STEWARD_APPROVED and Capability.DECIDE_CONFIDENTIAL in caps
    ):
        offered.append("approve")
    if (state in UNDECIDED_STATES and owner_steward) or (
        state == RequestState.STEWARD_APPROVED and Capability.DECIDE_CONFIDENTIAL in caps
    ):
        offered.append("reject")
    if (
        state in UNDECIDED_STATES
        and Capability.REQUEST_ACCESS in caps
        and user.member_id == access_request.requester_member_id
    ):
        offered.append("withdraw")
    return offered


@login_required
@require_http_methods(["GET", "POST"])
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One request, its decisions and receipts; deciders approve or reject, the requester withdraws."""
    access_request = _get(selectors.access_request_get_for, user=request.user, pk=pk)
    form = DecisionForm(submitted(request))
    if request.method == "POST" and form.is_valid():
        action = form.cleaned_data["action"]
        try:
            updated, _ = REQUEST_DECISIONS[action](
                actor=request_actor(request), request=access_request, reason=form.cleaned_data["reason"]
            )
        except ServiceError as error:
            access_request.refresh_from_db()
            if isinstance(error, NotFound) or action in _offered_decisions(request, access_request):
                _refused(form, error)
            else:  # decided meanwhile (another tab, another decider): the page as it is now, and why
                messages.error(request, error.detail)
                return redirect("portal:request-detail", pk=access_request.pk)
        else:
            messages.success(request, f"Request {updated.pk}: {updated.get_state_display().lower()}.")
            return redirect("portal:request-detail", pk=updated.pk)
    grant = selectors.grant_of_request_for(user=request.user, request=access_request)
    return _render(
        request,
        "request_detail.html",
        {
            "access_request": access_request,
            "grant": grant,
            "form": form,
            "decisions": _offered_decisions(request, access_request),
            "entries": selectors.request_entries_for(user=request.user, pk=access_request.pk),
        },
        status=400 if form.errors else 200,
    )
