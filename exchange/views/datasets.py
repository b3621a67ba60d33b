"""Datasets: the catalog, a dataset's page (request it, or manage it: its policy, versions and withdrawal)
and a data steward's own datasets with the form to register one."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.html import format_html
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from consortium import sent_forms
from consortium.actors import request_actor
from consortium.errors import ServiceError
from consortium.forms import submitted
from consortium.paging import page_of, query_without_page
from consortium.roles import Capability, capabilities
from consortium.text import bdi
from exchange import policies, selectors, services
from exchange.api.filters import DatasetFilter
from exchange.forms import (
    AccessRequestForm,
    CatalogFilterForm,
    DatasetRegisterForm,
    PolicyForm,
    ReasonForm,
    VersionUploadForm,
)
from exchange.models import Dataset, RequestState, Tier
from exchange.uploads import limit_upload_size, refuse_several_files
from exchange.views._common import _get, _not_active_refusal, _refused, _render, _require, _require_reading
from ledger.credit import selectors as credit_selectors

# Who decides a request of each approval tier, as the services enforce it: the owner's data steward
# (Capability.DECIDE_REQUESTS), then, for confidential data, a security officer (DECIDE_CONFIDENTIAL); a
# consortium officer decides none.
DECIDERS: dict[str, str] = {
    Tier.RESTRICTED: "the owner's data steward decides",
    Tier.CONFIDENTIAL: "the owner's data steward decides, then a security officer",
}


@login_required
def catalog(request: HttpRequest) -> HttpResponse:
    """Listed datasets (and the member's own withdrawn ones), searched and filtered as in the API. A search
    that cannot be applied lists none, with a 400 as the API's, rather than every dataset as if they
    matched it."""
    _require(request, Capability.BROWSE_CATALOG)
    visible = selectors.dataset_list_for(user=request.user)
    owners = selectors.dataset_owner_list_for(user=request.user)
    form = CatalogFilterForm(request.GET or None, owners=owners)
    datasets = visible.order_by("-created_at", "-id")
    if form.is_valid():
        datasets = DatasetFilter(form.filter_data(), queryset=datasets, request=request).qs
        datasets = datasets.order_by(*form.ordering())
    elif form.is_bound:
        datasets = datasets.none()
    return _render(
        request,
        "catalog.html",
        {"form": form, "page": page_of(request, datasets), "query": query_without_page(request)},
        status=400 if form.errors else 200,
    )


def _dataset_page(request: HttpRequest, dataset: Dataset, *, status: int = 200, **forms: Any) -> HttpResponse:
    """The dataset's page with whichever of its forms the user may use (bound ones passed in)."""
    user = request_actor(request)
    caps = capabilities(user)
    policy = getattr(dataset, "policy", None)
    owns = user.member_id is not None and user.member_id == dataset.owner_id
    manages = services.dataset_manageable_by(actor=user, dataset=dataset)
    # Said as the API's policy read says it (selectors.policy_view_for): core data, or no policy yet.
    policy_absence = policies.policy_absence(grade=dataset.grade, policy=policy)
    may_request = (
        Capability.REQUEST_ACCESS in caps and not owns and dataset.is_listed and policy_absence is None
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
        "policy_absence": policy_absence,
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
    if manages and not policies.metadata_only(dataset.grade):
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
    """A dataset's metadata, policy, versions and lineage; members request it here (POST). While its
    member is not active, its people read its own datasets here and request nothing."""
    _require_reading(request, Capability.BROWSE_CATALOG)
    dataset = _get(selectors.dataset_get_for, user=request.user, pk=pk)
    if request.method == "GET":
        return _dataset_page(request, dataset)
    if _not_active_refusal(request, Capability.REQUEST_ACCESS):
        return _dataset_page(request, dataset, status=403)
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
    _require_reading(request, Capability.MANAGE_DATASETS)
    dataset = _get(selectors.dataset_get_for, user=request.user, pk=pk)
    if _not_active_refusal(request, Capability.MANAGE_DATASETS):
        return _dataset_page(request, dataset, status=403)
    try:
        services.policy_set_check(request_actor(request), dataset)
    except ServiceError as error:
        # The page offers no policy form then (core data, a withdrawn dataset, another member's): say why
        # there, rather than which of the form's fields were missing.
        messages.error(request, error.detail)
        return redirect("portal:dataset-detail", pk=dataset.pk)
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
    _require_reading(request, Capability.MANAGE_DATASETS)
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
    if _not_active_refusal(request, Capability.MANAGE_DATASETS):
        return _dataset_page(request, dataset, status=403)
    try:
        services.dataset_version_add_check(request_actor(request), dataset)
    except ServiceError as error:
        # The page offers no upload then (core data, a withdrawn dataset, another member's): say why, with
        # the API's status, rather than what the form lacked.
        messages.error(request, error.detail)
        return _dataset_page(request, dataset, status=error.status)
    form = VersionUploadForm(request.POST, request.FILES)
    status = 400
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
            status = error.status  # as the API answers: 409 for the same content again, say
        else:
            messages.success(request, f"Version {version.number} stored (SHA-256 {version.sha256}).")
            return redirect("portal:dataset-detail", pk=dataset.pk)
    return _dataset_page(request, dataset, upload_form=form, status=status)


@login_required
@require_POST
def dataset_version_withdraw(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """The owner's steward or a consortium officer withdraws one version, with a reason: a ledger entry,
    not a delete (the file stays; grants download the latest version not withdrawn)."""
    _require_reading(request, Capability.MANAGE_DATASETS, Capability.REVOKE_ANY_GRANT)
    version = _get(selectors.version_get_for, user=request.user, dataset_pk=pk, number=number)
    if _not_active_refusal(request, Capability.MANAGE_DATASETS):
        return _dataset_page(request, version.dataset, status=403)
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
    _require_reading(request, Capability.MANAGE_DATASETS)
    dataset = _get(selectors.dataset_get_for, user=request.user, pk=pk)
    if _not_active_refusal(request, Capability.MANAGE_DATASETS):
        return _dataset_page(request, dataset, status=403)
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
    """A data steward's datasets of their member, and the form to register a new one (read-only, no form,
    while the member is not active: a registration posted anyway is refused as member_not_active). The same
    form sent again (a double click, the back button) registers nothing more: it opens the dataset it
    registered, or the list while its first sending is still registering it (sent_forms)."""
    _require_reading(request, Capability.MANAGE_DATASETS)
    visible = selectors.dataset_list_for(user=request.user)
    refusal = request.method == "POST" and _not_active_refusal(request, Capability.MANAGE_DATASETS)
    form = (
        DatasetRegisterForm(submitted(request), sources=visible.order_by("title"))
        if Capability.MANAGE_DATASETS in capabilities(request.user)
        else None
    )
    if request.method == "POST" and form is not None and form.is_valid():
        try:
            once = sent_forms.make_once(
                request,
                "dataset-register",
                lambda: services.dataset_register(actor=request_actor(request), **form.service_kwargs()),
                made_id=lambda registered: str(registered.pk),
            )
            dataset, made = once
        except ServiceError as error:
            _refused(form, error)
            made = None
        else:
            if dataset is not None:
                messages.success(
                    request,
                    format_html("“{}” is registered: set its policy, upload a version.", bdi(dataset.title)),
                )
                return redirect("portal:dataset-detail", pk=dataset.pk)
        if made == sent_forms.IN_FLIGHT:
            messages.info(
                request,
                "This form is being sent already: the dataset it registers is listed here once registered. "
                "No second dataset is registered.",
            )
            return redirect("portal:my-datasets")
        earlier = visible.filter(pk=made).first() if made is not None else None
        if earlier is not None:
            messages.info(
                request,
                format_html(
                    "This form was sent already: it registered {}, shown here. "
                    "No second dataset is registered.",
                    bdi(earlier.title),
                ),
            )
            return redirect("portal:dataset-detail", pk=earlier.pk)
    own = visible.filter(owner_id=request_actor(request).member_id).order_by("-created_at", "-id")
    return _render(
        request,
        "my_datasets.html",
        {
            "form": form,
            "page": page_of(request, own),
            "query": query_without_page(request),
            "sending": sent_forms.sending_token(request),
        },
        status=403 if refusal else 400 if form is not None and form.errors else 200,
    )
