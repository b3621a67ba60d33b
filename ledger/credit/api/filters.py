"""django-filter filter sets for credit balances and transfers."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from drf_spectacular.utils import extend_schema_field

from consortium.api.filters import FilterSet, IdFilter, IntegerFilter
from ledger.credit import engine, selectors
from ledger.credit.api.serializers import EPOCH_REGEX
from ledger.credit.models import CreditAccount, CreditTransfer

ACCOUNT_KINDS = [
    ("available", "Member available"),
    ("allowance", "Member allowance"),
    ("points", "Member usage points"),
    ("issuance", "Issuance"),
    ("pool", "Pool"),
    ("fees", "Consortium fees"),
    ("escrow", "Escrow"),
    ("source", "Points source"),
]
_KIND_QUERIES = {
    "available": Q(account__startswith="CR:member:", account__endswith=":available"),
    "allowance": Q(account__startswith="CR:member:", account__endswith=":allowance"),
    "points": Q(account__startswith="PT:member:"),
    "issuance": Q(account=engine.ISSUANCE),
    "pool": Q(account=engine.POOL),
    "fees": Q(account=engine.FEES),
    "escrow": Q(account__startswith="CR:escrow:"),
    "source": Q(account=engine.POINTS_SOURCE),
}
CODES = sorted(engine.CODE_KINDS)


@extend_schema_field({"type": "string", "pattern": rf"^{EPOCH_REGEX}$"})
class EpochFilter(django_filters.CharFilter):
    """An epoch's name (YYYY-MM), anything else (spaces too) a 400 naming the filter, as the flags'
    `?epoch=` (FlagQuerySerializer): the transfers took any text for an epoch that does not exist, a 200
    with no rows, where the flags refused it."""

    field_class = forms.RegexField

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("regex", rf"^{EPOCH_REGEX}$")
        super().__init__(*args, **kwargs)


class BalanceFilter(FilterSet):
    # A row id like every id filter of the API: a plain NumberFilter read ?member=2.5 as member 2.
    member = IdFilter(method="filter_member", label="Member id")
    kind = django_filters.ChoiceFilter(method="filter_kind", choices=ACCOUNT_KINDS)

    class Meta:
        model = CreditAccount
        fields = ["member", "kind"]

    def filter_member(self, queryset: QuerySet[CreditAccount], name: str, value: int) -> QuerySet:
        return queryset.filter(selectors.member_account_q(int(value)))

    def filter_kind(self, queryset: QuerySet[CreditAccount], name: str, value: str) -> QuerySet:
        return queryset.filter(_KIND_QUERIES[value])


class TransferFilter(FilterSet):
    member = IdFilter(method="filter_member", label="Member id (either side)")
    code = django_filters.MultipleChoiceFilter(choices=[(code, code) for code in CODES])
    ref = django_filters.CharFilter()
    epoch = EpochFilter(method="filter_epoch", label="Epoch (YYYY-MM): its credit orders")
    order_min = IntegerFilter(field_name="order", lookup_expr="gte")
    order_max = IntegerFilter(field_name="order", lookup_expr="lte")
    flag = django_filters.ChoiceFilter(
        choices=[(flag, flag) for flag in ("pending", "posted", "post_pending", "void_pending")]
    )
    unit = django_filters.ChoiceFilter(choices=[("CR", "CR"), ("PT", "PT")])

    class Meta:
        model = CreditTransfer
        fields = ["member", "code", "ref", "epoch", "order_min", "order_max", "flag", "unit"]

    def filter_member(self, queryset: QuerySet[CreditTransfer], name: str, value: int) -> QuerySet:
        member = int(value)
        return queryset.filter(
            selectors.member_account_q(member, field="debit")
            | selectors.member_account_q(member, field="credit")
        )

    def filter_epoch(self, queryset: QuerySet[CreditTransfer], name: str, value: str) -> QuerySet:
        first, last = selectors.epoch_order_range(value.strip())
        return queryset.filter(order__gte=first, order__lte=last)
