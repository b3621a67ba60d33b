"""Credit REST views: balances, statements (JSON and CSV), and for auditors the leaderboard, flags, totals,
transfers (JSON and streamed CSV), held mints and adjustments; affiliations. Thin: parse, call one
selector or service (ledger.credit.selectors / ledger.credit.services), shape the answer. Every rule lives
in the services and the rules engine; what the caller may not see is a 404 from the selectors."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consortium.actors import request_actor
from consortium.api.actors import APIKeyMixin
from consortium.api.negotiation import FileContentNegotiation
from consortium.api.permissions import ActionChecks
from consortium.api.responses import created
from consortium.numbers import WHOLE_NUMBER_PATTERN, path_number
from consortium.selectors import member_get_for
from ledger.credit import selectors, services, statements
from ledger.credit.api import serializers as s
from ledger.credit.api.filters import BalanceFilter, TransferFilter
from ledger.credit.models import (
    AffiliationClaim,
    CreditAccount,
    CreditAdjustment,
    CreditEpoch,
    CreditTransfer,
)
from ledger.receipts import EntryReceiptSerializer

EPOCH_REGEX = s.EPOCH_REGEX
# Declared parameters replace the ones drf-spectacular reads off lookup_value_regex: each repeats its pattern.
EPOCH_PARAMETER = OpenApiParameter(
    "epoch",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="Epoch, a calendar month: YYYY-MM.",
    pattern=rf"^{EPOCH_REGEX}$",
)
HELD_MINT_REGEX = rf"{EPOCH_REGEX}:{WHOLE_NUMBER_PATTERN}"
CSV_RESPONSE = {(200, "text/csv"): OpenApiTypes.STR}


class _Echo:
    """A file-like object whose write returns the line, so csv.writer feeds a streaming response."""

    def write(self, value: str) -> str:
        return value


def _csv_stream(header: Iterable[str], rows: Iterable[Iterable[Any]], *, bom: bool) -> Iterator[str]:
    if bom:
        yield "\ufeff"
    writer = csv.writer(_Echo())
    yield writer.writerow([statements.csv_cell(value) for value in header])
    for row in rows:
        yield writer.writerow([statements.csv_cell(value) for value in row])


def _csv_response(
    filename: str, header: Iterable[str], rows: Iterable[Iterable[Any]], *, bom: bool = False
) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        _csv_stream(header, rows, bom=bom), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@extend_schema_view(list=extend_schema(summary="Credit epochs, newest first"))
class EpochViewSet(APIKeyMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """The epochs whose statements (and, for auditors, leaderboards and flags) may be read: each open or
    settled, with the hash of its rules."""

    queryset = CreditEpoch.objects.none()
    serializer_class = s.EpochSerializer

    def get_queryset(self) -> QuerySet[CreditEpoch]:
        return selectors.epoch_list_for(user=self.request.user, api_key=self.api_key)


@extend_schema_view(list=extend_schema(summary="Credit balances you may see"))
class BalanceViewSet(APIKeyMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Your member's accounts (available, allowance, points; posted and pending); auditors: every account,
    filterable by member and kind."""

    queryset = CreditAccount.objects.none()
    serializer_class = s.BalanceSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = BalanceFilter

    def get_queryset(self) -> QuerySet[CreditAccount]:
        return selectors.balance_list_for(user=self.request.user, api_key=self.api_key)


class StatementViewSet(APIKeyMixin, viewsets.GenericViewSet):
    """Contribution statements: your member's, per epoch; auditors name the member with ?member=."""

    serializer_class = s.StatementSerializer
    pagination_class = None
    filter_backends: list[Any] = []
    lookup_field = "epoch"
    lookup_value_regex = EPOCH_REGEX

    def _statement(
        self, request: Request, epoch: str, query_class: type[s.StatementQuerySerializer]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The statement the query asks for, and the query's other values. Whoever may read no statement is
        refused before the query is read, whatever it holds."""
        selectors.require_statement_reader(request.user, self.api_key)
        query = query_class(data=request.query_params)
        query.is_valid(raise_exception=True)
        asked = dict(query.validated_data)
        statement = selectors.statement_for(
            user=request.user, epoch=epoch, member=asked.pop("member", None), api_key=self.api_key
        )
        return statement, asked

    @extend_schema(
        summary="A member's contribution statement for an epoch",
        parameters=[EPOCH_PARAMETER, s.StatementQuerySerializer],
        description=(selectors.statement_for.__doc__ or "").strip(),
    )
    def retrieve(self, request: Request, epoch: str) -> Response:
        statement, _ = self._statement(request, epoch, s.StatementQuerySerializer)
        return Response(s.StatementSerializer(statement).data)

    @extend_schema(
        summary="A statement's lines as CSV",
        parameters=[EPOCH_PARAMETER, s.StatementCSVQuerySerializer],
        responses=CSV_RESPONSE,
        description=(statements.statement_csv_rows.__doc__ or "").strip(),
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="csv",
        url_name="csv",
        content_negotiation_class=FileContentNegotiation,
    )
    def csv(self, request: Request, epoch: str) -> StreamingHttpResponse:
        statement, asked = self._statement(request, epoch, s.StatementCSVQuerySerializer)
        filename = f"credit-statement-{epoch}-member-{statement['member']['id']}.csv"
        rows = statements.statement_csv_rows(statement)
        return _csv_response(filename, statements.CSV_HEADER, rows, bom=asked["bom"])


class LeaderboardPageSerializer(serializers.Serializer):
    epoch = serializers.CharField()
    by = serializers.CharField()
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = s.LeaderboardRowSerializer(many=True)


class LeaderboardViewSet(APIKeyMixin, viewsets.GenericViewSet):
    """Auditors: the consortium leaderboard of a settled epoch by member, sector or size class."""

    serializer_class = s.LeaderboardRowSerializer
    filter_backends: list[Any] = []
    lookup_field = "epoch"
    lookup_value_regex = EPOCH_REGEX

    @extend_schema(
        summary="The leaderboard of a settled epoch",
        parameters=[EPOCH_PARAMETER, s.LeaderboardQuerySerializer],
        responses=LeaderboardPageSerializer,
        description=(selectors.leaderboard_for.__doc__ or "").strip(),
    )
    def retrieve(self, request: Request, epoch: str) -> Response:
        query = s.LeaderboardQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        by = query.validated_data["by"]
        rows = selectors.leaderboard_for(user=request.user, epoch=epoch, by=by, api_key=self.api_key)
        page = self.paginate_queryset(rows)
        response = self.get_paginated_response(s.LeaderboardRowSerializer(page, many=True).data)
        response.data = {"epoch": epoch, "by": by, **response.data}
        return response


@extend_schema_view(
    list=extend_schema(
        summary="Anti-gaming flags with their evidence",
        parameters=[s.FlagQuerySerializer],
        description=(selectors.flag_list_for.__doc__ or "").strip(),
    )
)
class FlagViewSet(APIKeyMixin, viewsets.GenericViewSet):
    """Auditors: the flags of settled epochs with their metrics and evidence sequence numbers."""

    serializer_class = s.FlagSerializer
    filter_backends: list[Any] = []

    def list(self, request: Request) -> Response:
        selectors.require_auditor(request.user, self.api_key, "flags")  # before the query: 404, never 400
        query = s.FlagQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        flags = selectors.flag_list_for(
            user=request.user, epoch=query.validated_data.get("epoch"), api_key=self.api_key
        )
        page = self.paginate_queryset(flags)
        return self.get_paginated_response(s.FlagSerializer(page, many=True).data)


class TotalsView(APIKeyMixin, APIView):
    """Auditors: credit outstanding and where it is, reconciled."""

    @extend_schema(
        summary="Credit totals that reconcile",
        responses=s.TotalsSerializer,
        parameters=[OpenApiParameter("format", exclude=True)],
        description=(selectors.totals_for.__doc__ or "").strip(),
    )
    def get(self, request: Request) -> Response:
        return Response(
            s.TotalsSerializer(selectors.totals_for(user=request.user, api_key=self.api_key)).data
        )


@extend_schema_view(list=extend_schema(summary="Every transfer, by credit order and leg"))
class TransferViewSet(APIKeyMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Auditors: the transfer table with the ledger sequence number of each transfer's entry."""

    queryset = CreditTransfer.objects.none()
    serializer_class = s.TransferSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = TransferFilter

    def get_queryset(self) -> QuerySet[CreditTransfer]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no real user
            return CreditTransfer.objects.none()
        return selectors.transfer_list_for(user=self.request.user, api_key=self.api_key)

    @extend_schema(summary="Transfers as CSV (streamed)", responses=CSV_RESPONSE)
    @action(
        detail=False,
        methods=["get"],
        url_path="csv",
        url_name="csv",
        pagination_class=None,
        content_negotiation_class=FileContentNegotiation,
    )
    def csv(self, request: Request) -> StreamingHttpResponse:
        rows = self.filter_queryset(self.get_queryset()).values_list(*s.TRANSFER_CSV_FIELDS)
        return _csv_response("credit-transfers.csv", s.TRANSFER_CSV_FIELDS, rows.iterator(chunk_size=2000))


@extend_schema_view(list=extend_schema(summary="Mints held pending an audit"))
class HeldMintViewSet(APIKeyMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Auditors: held mints, and their release or forfeit (`audit.resolved`)."""

    queryset = CreditTransfer.objects.none()
    serializer_class = s.HeldMintSerializer
    filter_backends: list[Any] = []
    lookup_value_regex = HELD_MINT_REGEX

    def get_queryset(self) -> QuerySet[CreditTransfer]:
        if getattr(self, "swagger_fake_view", False):
            return CreditTransfer.objects.none()
        return selectors.held_mint_list_for(user=self.request.user, api_key=self.api_key)

    @extend_schema(
        summary="Release or forfeit a held mint",
        parameters=[
            OpenApiParameter(
                "id",
                OpenApiTypes.STR,
                OpenApiParameter.PATH,
                description="<epoch>:<member>, e.g. 2026-11:5",
                pattern=rf"^{HELD_MINT_REGEX}$",
            )
        ],
        request=s.ResolveSerializer,
        responses={200: EntryReceiptSerializer},
        description=(services.held_mint_resolve.__doc__ or "").strip(),
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: str) -> Response:
        selectors.require_auditor(request.user, self.api_key, "held mints")
        epoch, member = pk.rsplit(":", 1)
        body = s.ResolveBodySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        entry = services.held_mint_resolve(
            actor=request_actor(request), epoch=epoch, member=path_number(member), **body.validated_data
        )
        return Response(EntryReceiptSerializer(entry).data)


@extend_schema_view(
    list=extend_schema(summary="Credit adjustments"),
    retrieve=extend_schema(summary="One credit adjustment"),
)
class AdjustmentViewSet(
    APIKeyMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Auditors and officers: correcting transfers, proposed by one person and approved by another."""

    queryset = CreditAdjustment.objects.none()
    serializer_class = s.AdjustmentSerializer
    filter_backends: list[Any] = []
    lookup_value_regex = WHOLE_NUMBER_PATTERN

    def get_queryset(self) -> QuerySet[CreditAdjustment]:
        if getattr(self, "swagger_fake_view", False):
            return CreditAdjustment.objects.none()
        return selectors.adjustment_list_for(user=self.request.user, api_key=self.api_key)

    def get_object(self) -> CreditAdjustment:
        return selectors.adjustment_get_for(
            user=self.request.user, pk=path_number(self.kwargs["pk"]), api_key=self.api_key
        )

    @extend_schema(
        summary="Propose an adjustment",
        request=s.AdjustmentProposeSerializer,
        responses={201: s.AdjustmentSerializer},
        description=(services.credit_adjustment_propose.__doc__ or "").strip(),
    )
    def create(self, request: Request) -> Response:
        selectors.require_auditor(request.user, self.api_key, "adjustments")
        body = s.AdjustmentProposeBodySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        proposed = services.credit_adjustment_propose(
            actor=request_actor(request),
            member=member_get_for(user=request.user, pk=body.validated_data["member"], api_key=self.api_key),
            amount_mcr=body.validated_data["amount_mcr"],
            reason=body.validated_data["reason"],
        )
        data = s.AdjustmentSerializer(self._fresh(proposed.pk)).data
        return created(request, data, at="credit-adjustment-detail", key=proposed.pk)

    def _fresh(self, pk: int) -> CreditAdjustment:
        return selectors.adjustment_get_for(user=self.request.user, pk=pk, api_key=self.api_key)

    @extend_schema(
        summary="Approve an adjustment (the second person)",
        request=None,
        responses={200: s.ApprovedAdjustmentSerializer},
        description=(services.credit_adjustment_approve.__doc__ or "").strip(),
    )
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        entry = services.credit_adjustment_approve(actor=request_actor(request), adjustment=self.get_object())
        adjustment = self._fresh(path_number(pk or ""))
        return Response(
            {
                "adjustment": s.AdjustmentSerializer(adjustment).data,
                "entry": EntryReceiptSerializer(entry).data,
            }
        )

    @extend_schema(
        summary="Withdraw a proposed adjustment",
        request=None,
        responses={200: s.AdjustmentSerializer},
        description=(services.credit_adjustment_withdraw.__doc__ or "").strip(),
    )
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str | None = None) -> Response:
        services.credit_adjustment_withdraw(actor=request_actor(request), adjustment=self.get_object())
        return Response(s.AdjustmentSerializer(self._fresh(path_number(pk or ""))).data)


class AffiliationViewSet(APIKeyMixin, viewsets.GenericViewSet):
    """Affiliation groups: officers link a member to a parent's group; a member's admins declare its parent.
    Every credit rule acts on groups."""

    serializer_class = s.AffiliationLinkSerializer
    pagination_class = None
    filter_backends: list[Any] = []
    # Who may take each write action, asked before its body is read (consortium.api.permissions).
    permission_classes = [ActionChecks]
    action_checks = {"create": services.affiliation_link_check, "declare": services.affiliation_declare_check}

    @extend_schema(
        summary="Link a member to a parent's group (officers)",
        request=s.AffiliationLinkSerializer,
        responses={201: EntryReceiptSerializer},
        description=(services.affiliation_link.__doc__ or "").strip(),
    )
    def create(self, request: Request) -> Response:
        body = s.AffiliationLinkSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        entry = services.affiliation_link(
            actor=request_actor(request),
            member=member_get_for(user=request.user, pk=body.validated_data["member"], api_key=self.api_key),
            parent=member_get_for(user=request.user, pk=body.validated_data["parent"], api_key=self.api_key),
        )
        return Response(EntryReceiptSerializer(entry).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Declare your member's parent (member admins): a claim the parent accepts",
        request=s.AffiliationDeclareSerializer,
        responses={202: s.AffiliationClaimSerializer},
        description=(services.affiliation_declare.__doc__ or "").strip(),
    )
    @action(detail=False, methods=["post"], serializer_class=s.AffiliationDeclareSerializer)
    def declare(self, request: Request) -> Response:
        body = s.AffiliationDeclareSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        parent = member_get_for(user=request.user, pk=body.validated_data["parent"], api_key=self.api_key)
        claim = services.affiliation_declare(actor=request_actor(request), parent=parent)
        return Response(s.AffiliationClaimSerializer(claim).data, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(list=extend_schema(summary="Affiliation claims made by or addressed to your member"))
class AffiliationClaimViewSet(APIKeyMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Declarations of a parent, waiting for (or answered by) the parent member's admins."""

    queryset = AffiliationClaim.objects.none()
    serializer_class = s.AffiliationClaimSerializer
    ordering_fields = ["declared_at", "decided_at"]
    lookup_value_regex = WHOLE_NUMBER_PATTERN  # _decide reads the id: "abc" was a ValueError, a 500

    def get_queryset(self) -> QuerySet[AffiliationClaim]:
        return selectors.affiliation_claim_list_for(user=self.request.user, api_key=self.api_key)

    def _decide(self, request: Request, pk: str | None, *, accept: bool) -> Response:
        claim = selectors.affiliation_claim_get_for(
            user=request.user, pk=path_number(pk or ""), api_key=self.api_key
        )
        entry = services.affiliation_claim_decide(actor=request_actor(request), claim=claim, accept=accept)
        if entry is None:
            claim.refresh_from_db()
            return Response(s.AffiliationClaimSerializer(claim).data)
        return Response(EntryReceiptSerializer(entry).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Accept a declaration (the parent's admins): the member joins your group",
        request=None,
        responses={201: EntryReceiptSerializer, 200: s.AffiliationClaimSerializer},
        description=(services.affiliation_claim_decide.__doc__ or "").strip(),
    )
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: str | None = None) -> Response:
        return self._decide(request, pk, accept=True)

    @extend_schema(
        summary="Decline a declaration (the parent's admins)",
        request=None,
        responses=s.AffiliationClaimSerializer,
    )
    @action(detail=True, methods=["post"])
    def decline(self, request: Request, pk: str | None = None) -> Response:
        return self._decide(request, pk, accept=False)
