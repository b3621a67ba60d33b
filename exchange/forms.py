"""Portal forms of the exchange: they parse and type fields; every rule about the values lives in
exchange.services and exchange.policies, whose refusals the views put back on these forms."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django import forms
from django.db.models import Model, QuerySet

from consortium.forms import ModelIdsChoiceField, PortalForm, WholeNumberFormField
from consortium.models import Cluster, Member, Sector, SizeClass
from consortium.numbers import MAX_INTEGER, MIN_INTEGER
from exchange import policies
from exchange.models import (
    DataDomain,
    Dataset,
    Grade,
    Purpose,
    RequestState,
    Rights,
    Tier,
    UpdateFrequency,
)
from exchange.services.datasets import MAX_KEYWORDS


def _set_queryset(form: forms.BaseForm, name: str, queryset: QuerySet[Model]) -> None:
    """Narrow the choices of the form's model choice field `name` (single or multiple) to `queryset`."""
    field = form.fields[name]
    if not isinstance(field, forms.ModelChoiceField):
        raise TypeError(f"{name} is not a model choice field")
    field.queryset = queryset


def _any(choices: list[tuple[Any, str]], label: str = "Any") -> list[tuple[Any, str]]:
    return [("", label), *choices]


SEVERAL = "Hold Ctrl (⌘ on a Mac) to choose more than one."


def _or(words: list[str]) -> str:
    """'a', 'a or b', 'a, b or c' (lower case)."""
    words = [word.lower() for word in words]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


SORTS = {
    "newest": "Newest first",
    "title": "Title",
    "grade": "Grade, lowest first",
    "-grade": "Grade, highest first",
}
SORT_ORDERING = {
    "newest": ["-created_at", "-id"],
    "title": ["title", "id"],
    "grade": ["grade", "-created_at", "-id"],
    "-grade": ["-grade", "-created_at", "-id"],
}


class CatalogFilterForm(forms.Form):
    """Catalog search and filters; the names are the API's (exchange.api.filters.DatasetFilter)."""

    search = forms.CharField(required=False, max_length=100, label="Keyword")
    sector = forms.ChoiceField(choices=_any(Sector.choices), required=False)
    grade = forms.TypedChoiceField(choices=_any(Grade.choices), coerce=int, required=False, empty_value=None)
    tier = forms.ChoiceField(choices=_any(Tier.choices), required=False)
    owner = forms.ModelChoiceField(queryset=Member.objects.none(), required=False, empty_label="Any")
    owner_size_class = forms.ChoiceField(
        choices=_any(SizeClass.choices), required=False, label="Owner size class"
    )

    sort = forms.ChoiceField(choices=list(SORTS.items()), required=False, label="Sort by")

    def __init__(self, *args: Any, owners: QuerySet[Member] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if owners is not None:
            _set_queryset(self, "owner", owners)

    def ordering(self) -> list[str]:
        """The order_by of the chosen sort; newest first by default."""
        return SORT_ORDERING[self.cleaned_data.get("sort") or "newest"]

    def filter_data(self) -> dict[str, Any]:
        """The cleaned values as DatasetFilter's query data (empty ones left out)."""
        data = {
            key: value
            for key, value in self.cleaned_data.items()
            if value not in (None, "") and key != "sort"
        }
        if "owner" in data:
            data["owner"] = data["owner"].pk
        return data


class AccessRequestForm(PortalForm):
    """A member's request for a dataset. The terms version shown is sent back, so terms that changed
    meanwhile are refused by the service instead of being accepted unseen. The purposes offered are the
    policy's (`purposes`); any purpose is still sent on, for the service to judge."""

    service_field_names = {"accepted_terms_version": "accept_terms"}
    # The field each refusal of the service and the policy engine is about
    # (views._common._refused places it there).
    refusal_fields = {
        "unknown_purpose": "purpose",
        "purpose_not_allowed": "purpose",
        "duration_invalid": "duration_days",
        "duration_over_max": "duration_days",
        "terms_not_accepted": "accept_terms",
    }

    purpose = forms.ChoiceField(choices=[("", "Choose…"), *Purpose.choices])
    justification = forms.CharField(
        max_length=4000, widget=forms.Textarea(attrs={"rows": 4}), help_text="Why your member needs it."
    )
    duration_days = WholeNumberFormField(min_value=1, label="Duration (days)")
    accept_terms = forms.BooleanField(
        required=False, label="I accept the dataset's terms on my member's behalf"
    )
    terms_version = WholeNumberFormField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, purposes: Iterable[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if purposes is not None:
            offered = set(purposes)
            self.fields["purpose"].widget.choices = [
                ("", "Choose…"),
                *((value, label) for value, label in Purpose.choices if value in offered),
            ]

    def service_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of services.access_request_submit (without actor and dataset)."""
        data = self.cleaned_data
        return {
            "purpose": data["purpose"],
            "justification": data["justification"],
            "duration_days": data["duration_days"],
            "accepted_terms_version": data["terms_version"] if data["accept_terms"] else None,
        }


# A Chinese input method types the full-width comma (U+FF0C) or the enumeration comma (U+3001) for ",".
_KEYWORD_SEPARATORS = re.compile("[,\uff0c\u3001]")


class DatasetRegisterForm(PortalForm):
    """A data steward registers a dataset of their member (DCAT-style metadata)."""

    service_field_names = {"source_ids": "sources"}

    title = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}))
    keywords = forms.CharField(
        required=False, max_length=500, help_text=f"Separated by commas; at most {MAX_KEYWORDS}."
    )
    sector = forms.ChoiceField(choices=[("", "Choose…"), *Sector.choices], label="Sector (GB/T 4754)")
    data_domain = forms.ChoiceField(choices=[("", "Choose…"), *DataDomain.choices], label="Data domain")
    grade = forms.TypedChoiceField(
        choices=[("", "From the sources (Level 1 if none)"), *Grade.choices],
        coerce=int,
        required=False,
        empty_value=None,
        help_text="A derived dataset takes at least the highest grade of its sources.",
    )
    personal_information = forms.BooleanField(required=False, label="Contains personal information")
    sources: forms.ModelMultipleChoiceField[Dataset] = ModelIdsChoiceField(
        queryset=None,
        required=False,
        label="Derived from",
        widget=forms.SelectMultiple(attrs={"size": 5}),
        help_text=f"None chosen: an original dataset. {SEVERAL}",
    )
    spatial_coverage = forms.CharField(max_length=200, required=False, label="Spatial coverage")
    temporal_start = forms.DateField(
        required=False, label="Coverage from", widget=forms.DateInput(attrs={"type": "date"})
    )
    temporal_end = forms.DateField(
        required=False, label="Coverage until", widget=forms.DateInput(attrs={"type": "date"})
    )
    update_frequency = forms.ChoiceField(
        choices=UpdateFrequency.choices, initial=UpdateFrequency.IRREGULAR, label="Update frequency"
    )
    licence = forms.CharField(max_length=100, help_text="Name or SPDX identifier, e.g. CC-BY-4.0.")
    rights = forms.ChoiceField(choices=Rights.choices, initial=Rights.USE, label="Rights offered")
    contact_name = forms.CharField(max_length=100, label="Contact person")
    contact_email = forms.EmailField(label="Contact e-mail")

    def __init__(self, *args: Any, sources: QuerySet[Dataset], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _set_queryset(self, "sources", sources)

    def service_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of services.dataset_register (without actor)."""
        data = dict(self.cleaned_data)
        data["keywords"] = [
            word.strip() for word in _KEYWORD_SEPARATORS.split(data["keywords"]) if word.strip()
        ]
        data["source_ids"] = [source.pk for source in data.pop("sources")]
        return data


def _policy_number(**kwargs: Any) -> WholeNumberFormField:
    """A policy's duration, quota or price, read as the API reads it (WholeNumberField): any whole number an
    integer column holds, for the policy rules to refuse one out of their range in their own words, as they
    do the API's. Caps of the form's own said it in Django's, and kept a negative price from the rules."""
    return WholeNumberFormField(min_value=MIN_INTEGER, max_value=MAX_INTEGER, **kwargs)


class PolicyForm(PortalForm):
    """The dataset's one access policy. Empty numbers take the grade's defaults; given the dataset's
    `grade`, the form says what they are and which tiers the grade allows (policies.GRADE_RULES)."""

    # The field each of the policy engine's reasons is about (views._common._refused places it there).
    refusal_fields = {
        "unknown_tier": "tier",
        "tier_not_allowed_for_grade": "tier",
        "personal_information_not_open": "tier",
        "unknown_purpose": "purposes",
        "no_purpose": "purposes",
        "duration_invalid": "max_duration_days",
        "duration_over_grade_limit": "max_duration_days",
        "confidential_no_download": "download_quota",
        "quota_required": "download_quota",
        "quota_too_large": "download_quota",
        "price_out_of_range": "price_credits",
        "negative_price": "price_credits",
        "unknown_size_class": "eligible_size_classes",
        "unknown_sector": "eligible_sectors",
        "unknown_cluster": "eligible_clusters",
        "allow_deny_overlap": "deny_list",
        "owner_on_allow_list": "allow_list",
    }

    tier = forms.ChoiceField(choices=[("", "The grade's default"), *Tier.choices], required=False)
    purposes = forms.MultipleChoiceField(
        choices=Purpose.choices, widget=forms.CheckboxSelectMultiple, label="Allowed purposes"
    )
    max_duration_days = _policy_number(required=False, label="Maximum duration (days)")
    download_quota = _policy_number(required=False, label="Downloads per grant")
    eligible_size_classes = forms.MultipleChoiceField(
        choices=SizeClass.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Eligible size classes",
        help_text="None ticked: any.",
    )
    eligible_sectors = forms.MultipleChoiceField(
        choices=Sector.choices,
        widget=forms.SelectMultiple(attrs={"size": 5}),
        required=False,
        label="Eligible sectors",
        help_text=f"None chosen: any. {SEVERAL}",
    )
    eligible_clusters = forms.ModelMultipleChoiceField(
        queryset=Cluster.objects.order_by("name"),
        to_field_name="slug",
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Eligible clusters",
        help_text="None ticked: any.",
    )
    allow_list = ModelIdsChoiceField(
        queryset=Member.objects.none(),
        required=False,
        label="Only these members",
        widget=forms.SelectMultiple(attrs={"size": 5}),
        help_text=f"None chosen: every eligible member. {SEVERAL}",
    )
    deny_list = ModelIdsChoiceField(
        queryset=Member.objects.none(),
        required=False,
        label="Never these members",
        widget=forms.SelectMultiple(attrs={"size": 5}),
        help_text=SEVERAL,
    )
    price_credits = _policy_number(
        initial=0,
        label="Price (credits)",
        help_text="Your asking price, accepted with the terms. Not what a grant costs: the consortium's "
        "credit rules charge the requester a fee by tier.",
    )
    terms = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), help_text="What a requester accepts.")

    def __init__(
        self, *args: Any, members: QuerySet[Member] | None = None, grade: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        if members is not None:
            _set_queryset(self, "allow_list", members)
            _set_queryset(self, "deny_list", members)
        rule = policies.GRADE_RULES.get(grade) if grade is not None else None
        if rule is not None and rule.default_tier is not None:
            level = f"Level {grade} data"
            tiers = [label for value, label in Tier.choices if value in rule.tiers]
            default = Tier(rule.default_tier).label
            self.fields["tier"].widget.choices = [("", f"The grade's default ({default})"), *Tier.choices]
            self.fields["tier"].help_text = f"{level} may be {_or(tiers)}."
            self.fields[
                "max_duration_days"
            ].help_text = (
                f"Empty: {rule.default_duration_days} days. {level}: at most {rule.max_duration_days} days."
            )
            self.fields["download_quota"].help_text = (
                f"Empty: {rule.default_download_quota} (none for confidential data, used on the platform "
                "only)."
            )

    def service_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of services.policy_set (without actor and dataset)."""
        data = dict(self.cleaned_data)
        data["tier"] = data["tier"] or None
        data["eligible_clusters"] = [cluster.slug for cluster in data["eligible_clusters"]]
        data["allow_list"] = [member.pk for member in data["allow_list"]]
        data["deny_list"] = [member.pk for member in data["deny_list"]]
        return data


class VersionUploadForm(PortalForm):
    """A new immutable version. The file is handed to the service as Django's upload (a temporary file
    past FILE_UPLOAD_MAX_MEMORY_SIZE), which reads it in chunks."""

    service_field_names = {"sha256": "declared_sha256"}
    refusal_fields = {"duplicate_version": "file"}

    file = forms.FileField()
    media_type = forms.CharField(
        max_length=100,
        required=False,
        label="Media type",
        help_text="For example text/csv. Empty: the type your browser sends with the file.",
    )
    declared_sha256 = forms.CharField(
        max_length=64,
        required=False,
        label="SHA-256 (optional)",
        help_text="The file's checksum (64 hex digits): the upload is refused unless the file matches.",
    )


class ReasonForm(PortalForm):
    """A decision's reason (required or not, the service says)."""

    reason = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class DecisionForm(ReasonForm):
    action = forms.ChoiceField(
        choices=[("approve", "Approve"), ("reject", "Reject"), ("withdraw", "Withdraw")]
    )


class RequestFilterForm(forms.Form):
    state = forms.ChoiceField(
        choices=_any([("waiting", "Waiting for a decision"), *RequestState.choices]), required=False
    )
