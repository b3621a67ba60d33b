"""django-filter filter sets for the catalog, requests and grants."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet
from django.utils import timezone

from consortium.api.filters import FilterSet, IdFilter, StrictBooleanFilter
from consortium.models import Sector, SizeClass
from exchange.models import (
    AccessRequest,
    DataDomain,
    Dataset,
    DatasetStatus,
    Grade,
    Grant,
    GrantState,
    RequestState,
    Tier,
)


class DatasetFilter(FilterSet):
    search = django_filters.CharFilter(
        method="filter_search", label="Keyword in title, description or keywords"
    )
    sector = django_filters.ChoiceFilter(choices=Sector.choices)
    grade = django_filters.TypedChoiceFilter(choices=Grade.choices, coerce=int)
    tier = django_filters.ChoiceFilter(field_name="policy__tier", choices=Tier.choices)
    owner = IdFilter(field_name="owner_id")
    owner_size_class = django_filters.ChoiceFilter(field_name="owner__size_class", choices=SizeClass.choices)
    data_domain = django_filters.ChoiceFilter(choices=DataDomain.choices)
    status = django_filters.ChoiceFilter(choices=DatasetStatus.choices)

    class Meta:
        model = Dataset
        fields = ["search", "sector", "grade", "tier", "owner", "owner_size_class", "data_domain", "status"]

    def filter_search(self, queryset: QuerySet[Dataset], name: str, value: str) -> QuerySet[Dataset]:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(title__icontains=value) | Q(description__icontains=value) | Q(keywords__element_icontains=value)
        )


class AccessRequestFilter(FilterSet):
    state = django_filters.ChoiceFilter(choices=RequestState.choices)
    dataset = IdFilter(field_name="dataset_id")
    tier = django_filters.ChoiceFilter(choices=Tier.choices)
    role = django_filters.ChoiceFilter(
        method="filter_role",
        choices=[("requester", "Requests my member made"), ("owner", "Requests for my member's datasets")],
    )

    class Meta:
        model = AccessRequest
        fields = ["state", "dataset", "tier", "role"]

    def filter_role(
        self, queryset: QuerySet[AccessRequest], name: str, value: str
    ) -> QuerySet[AccessRequest]:
        member_id = getattr(self.request.user, "member_id", None)
        if value == "requester":
            return queryset.filter(requester_member_id=member_id)
        return queryset.filter(dataset__owner_id=member_id)


class GrantFilter(FilterSet):
    dataset = IdFilter(field_name="dataset_id")
    tier = django_filters.ChoiceFilter(choices=Tier.choices)
    revoked = StrictBooleanFilter(field_name="revoked_at", lookup_expr="isnull", exclude=True)
    state = django_filters.ChoiceFilter(
        choices=GrantState.choices,
        method="filter_state",
        label="The grant's state now: pending (not started), active, expired or revoked",
    )

    class Meta:
        model = Grant
        fields = ["dataset", "tier", "revoked", "state"]

    def filter_state(self, queryset: QuerySet[Grant], name: str, value: str) -> QuerySet[Grant]:
        return queryset.filter(Grant.in_state(value, timezone.now()))
