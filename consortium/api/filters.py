"""django-filter filter sets for the consortium's list endpoints."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from drf_spectacular.utils import extend_schema_field

from consortium.api.fields import IdField
from consortium.ids import MAX_ID
from consortium.models import Member, MemberRole, MemberStatus, Sector, SizeClass, User


@extend_schema_field(IdField())  # the schema shows the bounds, as it does for IdField in a body
class IdFilter(django_filters.NumberFilter):
    """A filter on a row id: a whole number from 1 to MAX_ID, anything else a 400. django-filter's
    NumberFilter takes decimals up to 1e50, and an integer past 64 bits made SQLite raise OverflowError."""

    field_class = forms.IntegerField

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)

    def get_max_validator(self) -> None:
        return None  # the field's own max_value bounds it


class MemberFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=MemberStatus.choices)
    sector = django_filters.ChoiceFilter(choices=Sector.choices)
    size_class = django_filters.ChoiceFilter(choices=SizeClass.choices)
    cluster = django_filters.CharFilter(field_name="clusters__slug", label="Cluster slug", distinct=True)
    region = django_filters.CharFilter(lookup_expr="iexact")
    search = django_filters.CharFilter(method="filter_search", label="Search legal name or credit code")

    class Meta:
        model = Member
        fields = ["status", "sector", "size_class", "cluster", "region", "search"]

    def filter_search(self, queryset: QuerySet[Member], name: str, value: str) -> QuerySet[Member]:
        value = value.strip()
        return (
            queryset.filter(Q(legal_name__icontains=value) | Q(credit_code__icontains=value))
            if value
            else queryset
        )


class UserFilter(django_filters.FilterSet):
    role = django_filters.CharFilter(method="filter_role", label="Member or consortium role")
    is_active = django_filters.BooleanFilter()

    class Meta:
        model = User
        fields = ["role", "is_active"]

    def filter_role(self, queryset: QuerySet[User], name: str, value: str) -> QuerySet[User]:
        if value in MemberRole.values:
            return queryset.filter(member_role=value)
        return queryset.filter(consortium_role=value)
