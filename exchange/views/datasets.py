"""Portal views of the exchange: the catalog, a dataset's page (request it, or manage it as its owner),
requests and their decisions, grants with their downloads and revocation.

Thin, like the API: parse a form, call one selector or service, render. What the actor may not see is a
404 (the selectors raise NotFound); a service's refusal goes back on the form or into a message.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from consortium.actors import request_actor
from consortium.errors import NotFound, ServiceError
from consortium.forms import add_service_error, submitted
from consortium.navigation import nav_sections
from consortium.paging import page_of, query_without_page
from consortium.roles import Capability, capabilities, reads_grants
from consortium.text import bdi
from exchange import downloads, policies, selectors, services
from exchange.api.filters import DatasetFilter
from exchange.forms import (
    AccessRequestForm,
    CatalogFilterForm,
    DatasetRegisterForm,
    DecisionForm,
    PolicyForm,
    ReasonForm,
    RequestFilterForm,
    VersionUploadForm,
)
from exchange.models import UNDECIDED_STATES, AccessRequest, Dataset, Grant, RequestState, Tier
from exchange.uploads import limit_upload_size, refuse_several_files
from ledger.credit import selectors as credit_selectors

# Who decides a request of each approval tier, as the services enforce it: the owner's data steward
# (Capability.DECIDE_REQUESTS), then, for confidential data, a security officer (DECIDE_CONFIDENTIAL); a
# consortium officer decides none.
DECIDERS: dict[str, str] = {
    Tier.RESTRICTED: "the owner's data steward decides",
    Tier.CONFIDENTIAL: "the owner's data steward decides, then a security officer",
}

REQUEST_DECISIONS: dict[str, services.AccessRequestDecision] = {
    "approve": services.access_request_approve,
    "reject": services.access_request_reject,
    "withdraw": services.access_request_withdraw,
}


def _render(
    request: HttpRequest, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> HttpResponse:
    return render(request, f"exchange/{template}", context or {}, status=status)


def _require(request: HttpRequest, *wanted: Capability) -> frozenset[Capability]:
    """The user's capabilities; 404 unless they hold at least one of `wanted`."""
    caps = capabilities(request.user)
    if not caps & set(wanted):
        raise Http404
    return caps


def _refused(form: Any, error: ServiceError) -> None:
    """Put a service's refusal on `form`: the refusal and each of the engine's reasons beside the field
    the form's `refusal_fields` names for its code, the service's own field errors where it names them
    (unless the refusal's code has a field: its detail says more than "Must be 1."), the rest above."""
    if isinstance(error, NotFound):
        raise Http404(error.detail) from error
    on_field: dict[str, str] = getattr(form, "refusal_fields", {})
    said = [(reason["code"], reason["message"]) for reason in error.extra.get("reasons") or []]
    if error.detail not in {message for _, message in said}:
        said.insert(0, (error.code, error.detail))
    field_errors = error.extra.get("errors") or {}
    if field_errors and on_field.get(error.code) not in form.fields:
        add_service_error(form, error)
        placed = {text for texts in field_errors.values() for text in texts}
        said = [(code, message) for code, message in said if message not in placed]
    for code, message in said:
        field = on_field.get(code)
        form.add_error(field if field in form.fields else None, message)


def _get(getter: Any, **kwargs: Any) -> Any:
    try:
        return getter(**kwargs)
    except NotFound as error:
        raise Http404(error.detail) from error


# --- Catalog --------------------------------------------------------------------------------------------


@login_required
def catalog(request: HttpRequest) -> HttpResponse:
    """Listed datasets (and the member's own withdrawn ones), searched and filtered as in the API."""
    _require(request, Capability.BROWSE_CATALOG)
    visible = selectors.dataset_list_for(user=request.user)
    owners = selectors.dataset_owner_list_for(user=request.user)
    form = CatalogFilterForm(request.GET or None, owners=owners)
    datasets = visible.order_by("-created_at", "-id")
    if form.is_valid():
        datasets = DatasetFilter(form.filter_data(), queryset=datasets, request=request).qs
        datasets = datasets.order_by(*form.ordering())
    return _render(
        request,
        "catalog.html",
        {"form": form, "page": page_of(request, datasets), "query": query_without_page(request)},
    )


def _dataset_page(request: HttpRequest, dataset: Dataset, *, status: int = 200, **forms: Any) -> HttpResponse:
    """The dataset's page with whichever of its forms the user may use (bound ones passed in)."""
    user = request_actor(request)
    caps = capabilities(user)
    policy = getattr(dataset, "policy", None)
    owns = user.member_id is not None and user.member_id == dataset.owner_id
    manages = services.dataset_manageable_by(actor=user, dataset=dataset)
    metadata_only = policies.metadata_only(dataset.grade)
    may_request = (
        Capability.REQUEST_ACCESS in caps
        and not owns
        and dataset.is_listed
        and not metadata_only
        and policy is not None
    )
    # The policy's clusters are named on the page and decide the standing below: read once for both.
    cluster_names = selectors.cluster_name_map(slugs=policy.eligible_clusters) if policy else {}
    context: dict[str, Any] = {
        "dataset": dataset,
        "policy": policy,
        "versions": selectors.version_list_for(user=user, dataset_pk=dataset.pk),
        "derived": selectors.dataset_derived_list_for(user=user, dataset=dataset),
        "owns": owns,
        "may_withdraw_versions": services.dataset_versions_withdrawable_by(actor=user, dataset=dataset),
        "metadata_only": metadata_only,
        "eligible_clusters": (
            selectors.cluster_names_of(slugs=policy.eligible_clusters, names=cluster_names) if policy else []
        ),
    }
    if may_request and policy is not None and user.member_id is not None:
        # What the service would refuse a request for (a grant held, a request undecided, not eligible) is
        # said before the form, instead of after it is filled in; a form refused anyway stays to say why.
        standing = selectors.access_standing_for(
            user=user, dataset=dataset, policy=policy, cluster_names=cluster_names
        )
        context["standing"] = standing
        if standing.may_request or "request_form" in forms:
            context["request_form"] = forms.get("request_form") or AccessRequestForm(
                initial={"terms_version": policy.terms_version, "duration_days": policy.max_duration_days},
                purposes=policy.purposes,
            )
            # What the grant would cost: the credit rules' fee by tier, which is not the policy's price.
            fee = credit_selectors.grant_fee_terms(
                consumer_member_id=user.member_id, provider_member_id=dataset.owner_id, tier=policy.tier
            )
            if fee is not None:
                context["fee"], context["fee_at_most"] = fee, fee.fee_mcr(policy.max_duration_days)
    if services.dataset_version_addable_by(actor=user, dataset=dataset):
        # Never on core data: a Level 3 dataset is offered as metadata only and takes no file.
        context["upload_form"] = forms.get("upload_form") or VersionUploadForm()
    if manages and not metadata_only:
        initial = (
            {
                "tier": policy.tier,
                "purposes": policy.purposes,
                "max_duration_days": policy.max_duration_days,
                "download_quota": policy.download_quota,
                "eligible_size_classes": policy.eligible_size_classes,
                "eligible_sectors": policy.eligible_sectors,
                "eligible_clusters": policy.eligible_clusters,
                "allow_list": policy.allow_list,
                "deny_list": policy.deny_list,
                "price_credits": policy.price_credits,
                "terms": policy.terms,
            }
            if policy
            else {}
        )
        context["policy_form"] = forms.get("policy_form") or PolicyForm(
            initial=initial,
            members=selectors.policy_member_choices_for(user=user, dataset=dataset),
            grade=dataset.grade,
        )
    if manages:
        context["withdraw_form"] = forms.get("withdraw_form") or ReasonForm()
    for name, form in forms.items():
        if name not in context:  # refused on a form this user is not offered: say why anyway
            for errors in form.errors.values():
                for message in errors:
                    messages.error(request, message)
    return _render(request, "dataset_detail.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def dataset_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A dataset's metadata, policy, versions and lineage; members request it here (POST)."""
    _require(request, Capability.BROWSE_CATALOG)
    dataset = _get(selectors.dataset_get_for, user=request.user, pk=pk)
    if request.method == "GET":
        return _dataset_page(request, dataset)
    policy = getattr(dataset, "policy", None)
    form = AccessRequestForm(request.POST, purposes=policy.purposes if policy is not None else None)
    if form.is_valid():
        try:
            access_request, _ = services.access_request_submit(
                actor=request_actor(request), dataset=dataset, **form.service_kwargs()
            )
        except ServiceError as error:
            _refused(form, error)
        else:
            if access_request.state == RequestState.GRANTED:
                messages.success(request, "Granted: the dataset's tier is open.")
            else:
                deciders = DECIDERS.get(access_request.tier, DECIDERS[Tier.RESTRICTED])
                messages.success(request, f"Your request is submitted; {deciders}.")
            return redirect("portal:request-detail", pk=access_request.pk)
    return _dataset_page(request, dataset, request_form=form, status=400)


@login_required
@require_POST
def dataset_policy(request: HttpRequest, pk: int) -> HttpResponse:
    """The owner's steward sets the dataset's policy."""
    _require(request, Capability.MANAGE_DATASETS)
    dataset = _get(selectors.dataset_get_for, user=request.user, pk=pk)
    form = PolicyForm(
        request.POST,
        members=selectors.policy_member_choices_for(user=request.user, dataset=dataset),
        grade=dataset.grade,
    )
    if form.is_valid():
        try:
            services.policy_set(actor=request_actor(request), dataset=dataset, **form.service_kwargs())
        except ServiceError as error:
            _refused(form, error)
        else:
            messages.success(request, "The policy is set and recorded on the ledger.")
            return redirect("portal:dataset-detail", pk=dataset.pk)
    return _dataset_page(request, dataset, policy_form=form, status=400)


@csrf_exempt  # checked by _dataset_version_upload, once the size limit is in place
@login_required
@require_POST
def dataset_version_upload(request: HttpRequest, pk: int) -> HttpResponse:
    """The owner's steward uploads the next version (multipart; the service reads the upload in chunks).

    The size limit goes in before anything reads the body, the CSRF check included: an oversize file is
    refused while it arrives (413), never spooled whole."""
    _require(request, Capability.MANAGE_DATASETS)
    limit_upload_size(request)
    try:
        return _dataset_version_upload(request, pk)
    except services.UploadTooLarge as error:  # the body is unread past the limit: no form to bind
        messages.error(request, error.detail)
        dataset = _get(selectors.dataset_get_for, user=request.user, pk=pk)
        return _dataset_page(request, dataset, status=error.status)


@csrf_protect
def _dataset_version_upload(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = _get(selectors.dataset_get_for, user=request.user, pk=pk)
    form = VersionUploadForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            refuse_several_files(request.FILES)
            version = services.dataset_version_add(
                actor=request_actor(request),
                dataset=dataset,
                file=upload,
                filename=upload.name,
                media_type=form.cleaned_data["media_type"] or getattr(upload, "content_type", ""),
                declared_sha256=form.cleaned_data["declared_sha256"] or None,
            )
        except ServiceError as error:
            _refused(form, error)
        else:
            messages.success(request, f"Version {version.number} stored (SHA-256 {version.sha256}).")
            return redirect("portal:dataset-detail", pk=dataset.pk)
    return _dataset_page(request, dataset, upload_form=form, status=400)


@login_required
@require_POST
def dataset_version_withdraw(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """The owner's steward or a consortium officer withdraws one version, with a reason: a ledger entry,
    not a delete (the file stays; grants download the latest version not withdrawn)."""
    _require(request, Capability.MANAGE_DATASETS, Capability.REVOKE_ANY_GRANT)
    version = _get(selectors.version_get_for, user=request.user, dataset_pk=pk, number=number)
    form = ReasonForm(request.POST)
    if form.is_valid():
        try:
            services.dataset_version_withdraw(
                actor=request_actor(request), version=version, reason=form.cleaned_data["reason"]
            )
        except ServiceError as error:
            _refused(form, error)
        else:
            messages.success(request, f"Version {version.number} is withdrawn; grants no longer download it.")
            return redirect("portal:dataset-detail", pk=version.dataset_id)
    return _dataset_page(request, version.dataset, version_withdraw_form=form, status=400)


@login_required
@require_POST
def dataset_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    """The owner's steward withdraws the dataset, with a reason: a ledger entry, not a delete."""
    _require(request, Capability.MANAGE_DATASETS)
    dataset = _get(selectors.dataset_get_for, user=request.user, pk=pk)
    form = ReasonForm(request.POST)
    if form.is_valid():
        try:
            services.dataset_withdraw(
                actor=request_actor(request), dataset=dataset, reason=form.cleaned_data["reason"]
            )
        except ServiceError as error:
            _refused(form, error)
        else:
            messages.success(
                request, format_html("“{}” is withdrawn; its grants no longer work.", bdi(dataset.title))
            )
            return redirect("portal:dataset-detail", pk=dataset.pk)
    return _dataset_page(request, dataset, withdraw_form=form, status=400)


@login_required
@require_http_methods(["GET", "POST"])
def my_datasets(request: HttpRequest) -> HttpResponse:
    """A data steward's datasets of their member, and the form to register a new one."""
    _require(request, Capability.MANAGE_DATASETS)
    visible = selectors.dataset_list_for(user=request.user)
    form = DatasetRegisterForm(submitted(request), sources=visible.order_by("title"))
    if request.method == "POST" and form.is_valid():
        try:
            dataset = services.dataset_register(actor=request_actor(request), **form.service_kwargs())
        except ServiceError as error:
            _refused(form, error)
        else:
            messages.success(
                request,
                format_html("“{}” is registered: set its policy, upload a version.", bdi(dataset.title)),
            )
            return redirect("portal:dataset-detail", pk=dataset.pk)
    own = visible.filter(owner_id=request_actor(request).member_id).order_by("-created_at", "-id")
    return _render(
        request,
        "my_datasets.html",
        {"form": form, "page": page_of(request, own), "query": query_without_page(request)},
        status=400 if form.errors else 200,
    )


# --- Requests -------------------------------------------------------------------------------------------


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
    """The state filter's form and the requests it selects; "waiting" means the `waiting` states."""
    data = request.GET.copy()
    data.setdefault("state", default)
    form = RequestFilterForm(data)
    state = form.cleaned_data["state"] if form.is_valid() else ""
    if state == "waiting":
        requests = requests.filter(state__in=waiting)
    elif state:
        requests = requests.filter(state=state)
    return form, requests.order_by("-created_at", "-id")


@login_required
def my_requests(request: HttpRequest) -> HttpResponse:
    """The requests the user's member made, with withdraw for the undecided ones."""
    _require(request, Capability.REQUEST_ACCESS)
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
        },
    )


@login_required
def incoming_requests(request: HttpRequest) -> HttpResponse:
    """Requests to decide: for the owner's data steward the member's datasets', for a security officer the
    confidential queue (steward-approved); officers and auditors see every one. Waiting ones by default."""
    caps = _require(request, Capability.DECIDE_REQUESTS, Capability.DECIDE_CONFIDENTIAL, Capability.AUDIT)
    decided = selectors.access_request_decided_by(user=request_actor(request))
    if decided is not None:  # the same queue the home page counts
        requests, waiting = decided
        heading = (
            "Requests for my member's datasets"
            if Capability.DECIDE_REQUESTS in caps
            else "Confidential requests"
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
            _refused(form, error)
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


# --- Grants ---------------------------------------------------------------------------------------------


@login_required
def grant_list(request: HttpRequest) -> HttpResponse:
    """Grants the user may see: their member's (received and given); every one for officers."""
    if not reads_grants(request.user):
        raise Http404
    grants = selectors.grant_list_for(user=request.user).order_by("-valid_from", "-id")
    return _render(
        request,
        "grant_list.html",
        {"page": page_of(request, grants), "query": query_without_page(request), "now": timezone.now()},
    )


def _grant_page(request: HttpRequest, grant: Grant, form: Any = None, status: int = 200) -> HttpResponse:
    now = timezone.now()
    may_revoke = services.grant_revocable_by(actor=request_actor(request), grant=grant, now=now)
    may_download = services.grant_downloadable_by(actor=request_actor(request), grant=grant, now=now)
    user = request_actor(request)
    return _render(
        request,
        "grant_detail.html",
        {
            "grant": grant,
            "state": grant.state_at(now),
            "form": (form or ReasonForm()) if may_revoke else None,
            "may_download": may_download,
            # the grantee's people who would download under it: told why they cannot, and what next
            "for_grantee": user.member_id == grant.grantee_id
            and Capability.REQUEST_ACCESS in capabilities(user),
        },
        status=status,
    )


@login_required
def grant_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _grant_page(request, _get(selectors.grant_get_for, user=request.user, pk=pk))


@login_required
@require_POST
def grant_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """The owner's steward or a consortium officer revokes the grant at once."""
    grant = _get(selectors.grant_get_for, user=request.user, pk=pk)
    form = ReasonForm(request.POST)
    if form.is_valid():
        try:
            services.grant_revoke(
                actor=request_actor(request), grant=grant, reason=form.cleaned_data["reason"]
            )
        except ServiceError as error:
            _refused(form, error)
        else:
            messages.success(request, f"Grant {grant.pk} is revoked.")
            return redirect("portal:grant-detail", pk=grant.pk)
    return _grant_page(request, grant, form, status=400)


@login_required
@require_POST
def grant_download(request: HttpRequest, pk: int) -> HttpResponse | StreamingHttpResponse:
    """Take one download under the grant and stream the file; a refusal comes back as a message."""
    grant = _get(selectors.grant_get_for, user=request.user, pk=pk)
    try:
        grant, version, _, handle = services.grant_download(actor=request_actor(request), grant=grant)
    except ServiceError as error:  # the grant itself is visible: every refusal is a message
        messages.error(request, error.detail)
        return redirect("portal:grant-detail", pk=grant.pk)
    return downloads.version_response(grant=grant, version=version, handle=handle)
