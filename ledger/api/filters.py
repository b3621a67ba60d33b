"""Filters for the ledger entry list: kind, member, subject, acceptance time range."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from consortium.api.filters import FilterSet, IdFilter, UtcDateTimeFilter
from ledger.models import LedgerLeaf
from ledger.selectors import concerns_member


class LedgerEntryFilter(FilterSet):
    kind = django_filters.CharFilter(field_name="entry__kind")
    kind_prefix = django_filters.CharFilter(field_name="entry__kind", lookup_expr="startswith")
    member = IdFilter(method="filter_member", label="member id the entry concerns")
    subject_type = django_filters.CharFilter(field_name="entry__subject_type")
    subject_id = django_filters.CharFilter(field_name="entry__subject_id")
    since = UtcDateTimeFilter(field_name="entry__accepted_at", lookup_expr="gte")
    until = UtcDateTimeFilter(field_name="entry__accepted_at", lookup_expr="lt")

    class Meta:
        model = LedgerLeaf
        fields: list[str] = []

    def filter_member(self, queryset: QuerySet[LedgerLeaf], name: str, value: int) -> QuerySet[LedgerLeaf]:
        return queryset.filter(concerns_member(int(value)))
