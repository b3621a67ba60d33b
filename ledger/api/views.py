"""Ledger REST views: entries by sequence number, checkpoints, inclusion and consistency proofs, keys."""

from __future__ import annotations

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, pagination, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consortium.api.pagination import CursorPagination, invalid_cursor
from consortium.api.problems import PROBLEM_CONTENT_TYPE
from consortium.api.schema import ProblemSerializer
from consortium.numbers import WHOLE_NUMBER_PATTERN, path_number, whole_number
from ledger import keys, selectors
from ledger.api import serializers as s
from ledger.api.filters import LedgerEntryFilter
from ledger.models import Checkpoint


class SequencePagination(CursorPagination):
    """Stable pages by sequence number: new entries never shift a page."""

    ordering = "seq"
    page_size = 50

    def decode_cursor(self, request: Request) -> pagination.Cursor | None:
        """The cursor's offset, direction and position, or ValidationFailed(invalid_cursor).

        DRF checks the offset and direction but hands the position to the database as it stands: text
        that is not a sequence number failed there (500), in the ORM or in SQL."""
        cursor = super().decode_cursor(request)
        if (
            cursor is not None
            and cursor.position is not None
            and not _is_sequence_number(str(cursor.position))
        ):
            raise invalid_cursor()
        return cursor


_MAX_SEQUENCE_NUMBER = 2**63 - 1  # the seq column is a signed 64-bit integer


def _is_sequence_number(text: str) -> bool:
    number = whole_number(text)
    return number is not None and number <= _MAX_SEQUENCE_NUMBER


# Who may read what, once for the descriptions below (ledger.selectors decides; anyone else gets 404).
_LOG_READERS = (
    "Who: people of an active member and consortium staff (also through an API key); anyone else gets 404."
)
_ENTRY_READERS = (
    "Who: auditors and consortium officers see every entry; people of an active member (or its API keys) "
    "see the entries that name their member or were made by its people, and the consortium-wide credit "
    "entries (rules, epoch openings and settlements); entries about the member's people and keys only "
    "for those who manage its people. Other consortium staff (security officers) see no entries: they read "
    "the checkpoints, proofs and keys."
)


@extend_schema_view(
    list=extend_schema(
        summary="Ledger entries by sequence number",
        description="The sequenced entries you may see, oldest first, with each entry's document, its "
        "canonical bytes (base64) and its signed receipt. Cursor-paginated: follow `next` and "
        "`previous` as given; filter by kind, subject, member or time.\n\n" + _ENTRY_READERS,
    ),
    retrieve=extend_schema(
        summary="One ledger entry",
        description="The entry with this sequence number: document, canonical bytes (base64) and signed "
        "receipt; 404 if there is none or you may not see it.\n\n" + _ENTRY_READERS,
    ),
)
class LedgerEntryViewSet(viewsets.ReadOnlyModelViewSet):
    """Sequenced ledger entries with their receipts. Members see the entries that concern them."""

    serializer_class = s.LedgerEntrySerializer
    pagination_class = SequencePagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = LedgerEntryFilter
    lookup_field = "seq"
    lookup_value_regex = WHOLE_NUMBER_PATTERN

    def get_queryset(self):
        return selectors.entry_list_for(user=self.request.user, api_key=self.request.auth)

    def get_object(self):
        return selectors.entry_get_for(
            user=self.request.user, seq=path_number(self.kwargs["seq"]), api_key=self.request.auth
        )


@extend_schema_view(
    list=extend_schema(
        summary="Signed checkpoints",
        description="Every signed checkpoint (C2SP tlog-checkpoint note) by tree size, with its root hash "
        "and signing key.\n\n" + _LOG_READERS,
    ),
    retrieve=extend_schema(
        summary="The checkpoint of one tree size",
        description="The signed checkpoint of exactly this tree size; 404 if none was signed at that size."
        "\n\n" + _LOG_READERS,
    ),
    latest=extend_schema(
        summary="The latest signed checkpoint",
        description="The checkpoint of the largest tree signed so far: the tree size to ask proofs against. "
        "`/ledger/status/` says when the next one is signed.\n\n" + _LOG_READERS,
    ),
)
class CheckpointViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Signed checkpoints (C2SP tlog-checkpoint notes): all, the latest, or one by tree size."""

    serializer_class = s.CheckpointSerializer
    ordering_fields = ["tree_size", "issued_at"]
    lookup_field = "tree_size"
    lookup_value_regex = WHOLE_NUMBER_PATTERN

    def get_queryset(self) -> QuerySet[Checkpoint]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no real user
            return Checkpoint.objects.none()
        return selectors.checkpoint_list_for(user=self.request.user)

    def retrieve(self, request: Request, tree_size: str) -> Response:
        checkpoint = selectors.checkpoint_get_for(user=request.user, tree_size=path_number(tree_size))
        return Response(self.get_serializer(checkpoint).data)

    @action(detail=False)
    def latest(self, request: Request) -> Response:
        return Response(self.get_serializer(selectors.checkpoint_get_for(user=request.user)).data)


class InclusionProofView(APIView):
    """RFC 9162 inclusion proof of one entry (by `seq` or `leaf_hash`) in the tree of `tree_size`."""

    @extend_schema(
        parameters=[s.InclusionQuerySerializer],
        responses={
            200: s.InclusionProofSerializer,
            (409, PROBLEM_CONTENT_TYPE): OpenApiResponse(
                ProblemSerializer, description="The entry is accepted but not sequenced yet."
            ),
        },
        summary="Inclusion proof of an entry",
        description="The RFC 9162 inclusion proof of one entry (by `seq` or `leaf_hash`) in the tree of "
        "`tree_size` (a signed checkpoint's size), with that tree's root. An entry newer than the tree is "
        "400 `entry_not_in_tree`, naming the checkpoint to ask against; an entry accepted but not yet "
        "sequenced is 409 `entry_not_sequenced`, with `retry_after_seconds` and Retry-After.\n\n"
        + _LOG_READERS,
    )
    def get(self, request: Request) -> Response:
        selectors.require_log_reader(request.user)  # before the query: 404, never 400
        query = s.InclusionQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(s.hexed(selectors.inclusion_proof_for(user=request.user, **query.validated_data)))


class ConsistencyProofView(APIView):
    """RFC 9162 consistency proof between tree sizes `first` <= `second`."""

    @extend_schema(
        parameters=[s.ConsistencyQuerySerializer],
        responses=s.ConsistencyProofSerializer,
        summary="Consistency proof between two tree sizes",
        description="The RFC 9162 proof that the tree of size `second` extends the tree of size `first` "
        "(append-only), with both roots.\n\n" + _LOG_READERS,
    )
    def get(self, request: Request) -> Response:
        selectors.require_log_reader(request.user)  # before the query: 404, never 400
        query = s.ConsistencyQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(s.hexed(selectors.consistency_proof_for(user=request.user, **query.validated_data)))


class SigningKeyListView(APIView):
    """Every public key the ledger has signed with, with its validity window."""

    pagination_class = None

    @extend_schema(
        responses=s.SigningKeySerializer(many=True),
        summary="Ledger signing keys",
        description="Every public key the ledger has signed receipts or checkpoints with, oldest first, "
        "with its validity window and signed-note verifier key.\n\n" + _LOG_READERS,
    )
    def get(self, request: Request) -> Response:
        selectors.checkpoint_list_for(user=request.user)  # same audience as checkpoints
        data = [s.signing_key_data(key, until) for key, until in keys.validity_windows()]
        return Response(s.SigningKeySerializer(data, many=True).data)


class LedgerStatusView(APIView):
    """Tree size, pending entries and the bounded delay before an accepted entry is sequenced."""

    @extend_schema(
        responses=s.LedgerStatusSerializer,
        parameters=[OpenApiParameter("format", exclude=True)],
        summary="Ledger status",
        description="Tree size, entries waiting for a sequence number, the bound on that wait, and how "
        "and how often checkpoints are signed, with the latest one.\n\n" + _LOG_READERS,
    )
    def get(self, request: Request) -> Response:
        return Response(s.LedgerStatusSerializer(selectors.ledger_status_for(user=request.user)).data)
