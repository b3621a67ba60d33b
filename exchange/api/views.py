"""Exchange REST views: the catalog, versions, policies, access requests and their decisions, grants and
downloads. Thin: parse, call one selector or service, shape the answer (with the signed receipts of what
the call recorded). Every rule lives in exchange.policies and exchange.services."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from consortium.actors import request_actor
from consortium.api.actors import APIKeyMixin
from consortium.api.negotiation import FileContentNegotiation
from consortium.api.parsers import JSONParser
from consortium.api.permissions import ActionChecks
from consortium.api.problems import PROBLEM_CONTENT_TYPE
from consortium.api.responses import created
from consortium.api.schema import ProblemSerializer
from consortium.api.serializers import reason_request
from consortium.errors import ValidationFailed
from consortium.numbers import WHOLE_NUMBER_PATTERN, whole_number
from consortium.selectors import user_list_for
from exchange import downloads, selectors, services
from exchange.api import serializers as s
from exchange.api.filters import AccessRequestFilter, DatasetFilter, GrantFilter
from exchange.models import AccessRequest, Dataset, Grant
from exchange.uploads import limit_upload_size, refuse_several_files


@extend_schema_view(
    list=extend_schema(summary="Search the catalog"),
    retrieve=extend_schema(summary="One dataset's metadata"),
    create=extend_schema(
        summary="Register a dataset",
        request=s.DatasetRegisterSerializer,
        responses={201: s.DatasetSerializer},
        description=(services.dataset_register.__doc__ or "").strip(),
    ),
)
class DatasetViewSet(
    APIKeyMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """The catalog: metadata of listed datasets for every active member; files only through a grant."""

    queryset = Dataset.objects.none()
    serializer_class = s.DatasetSerializer
    filterset_class = DatasetFilter
    ordering_fields = ["created_at", "title", "grade"]
    ordering = ["-created_at", "-id"]
    lookup_value_regex = WHOLE_NUMBER_PATTERN
    parser_classes = [JSONParser, MultiPartParser, FormParser]
    # Who may take each write action, asked before its body is read (consortium.api.permissions).
    permission_classes = [ActionChecks]
    action_checks = {
        "create": services.dataset_register_check,
        "withdraw": services.dataset_manage_check,
        "policy": services.policy_set_check,
        "versions": services.dataset_version_add_check,
        "version_withdraw": services.dataset_version_withdraw_check,
    }

    def initialize_request(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Request:
        # An upload is refused while it arrives: the handler goes in before anything (the session
        # authentication's CSRF check included) reads the body, which DRF parses lazily.
        drf_request = super().initialize_request(request, *args, **kwargs)
        if self.action == "versions" and request.method == "POST":
            limit_upload_size(request)
        return drf_request

    def get_queryset(self) -> QuerySet[Dataset]:
        return selectors.dataset_list_for(user=self.request.user, api_key=self.api_key).order_by(
            "-created_at", "-id"
        )

    def get_object(self) -> Dataset:
        return selectors.dataset_get_for(user=self.request.user, pk=self.kwargs["pk"], api_key=self.api_key)

    def _fresh(self, pk: int) -> Dataset:
        return selectors.dataset_get_for(user=self.request.user, pk=pk, api_key=self.api_key)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = s.DatasetRegisterSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        dataset = services.dataset_register(actor=request_actor(request), **body.service_kwargs())
        data = s.DatasetSerializer(self._fresh(dataset.pk)).data
        return created(request, data, at="dataset-detail", key=dataset.pk)

    @extend_schema(
        request=reason_request(services.dataset_withdraw, s.DecisionReasonSerializer),
        responses={200: s.DatasetSerializer},
        summary="Withdraw a dataset",
    )
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str | None = None) -> Response:
        body = s.DecisionReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        dataset = services.dataset_withdraw(
            actor=request_actor(request), dataset=self.get_object(), reason=body.validated_data["reason"]
        )
        return Response(s.DatasetSerializer(self._fresh(dataset.pk)).data)

    @extend_schema(
        methods=["GET"],
        request=None,
        responses={
            200: PolymorphicProxySerializer(
                component_name="DatasetPolicyView",
                serializers=[s.PolicySerializer, s.PublicPolicySerializer],
                resource_type_field_name=None,
            )
        },
        summary="A dataset's policy",
        description=(
            "The owner's people and consortium staff read the whole policy; other members read it without "
            "the allow and deny lists, with `eligibility`: whether their member may request it at all."
        ),
    )
    @extend_schema(
        methods=["PUT"],
        request=s.PolicySetSerializer,
        responses={200: s.PolicySerializer},
        summary="Set a dataset's policy",
        description=(services.policy_set.__doc__ or "").strip(),
    )
    @action(detail=True, methods=["get", "put"], filterset_class=None, pagination_class=None)
    def policy(self, request: Request, pk: str | None = None) -> Response:
        dataset = self.get_object()
        if request.method == "GET":
            view = selectors.policy_view_for(user=request.user, dataset=dataset, api_key=self.api_key)
            if view.full:
                return Response(s.PolicySerializer(view.policy).data)
            context = {"eligibility": view.eligibility}
            return Response(s.PublicPolicySerializer(view.policy, context=context).data)
        body = s.PolicySetSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        policy = services.policy_set(actor=request_actor(request), dataset=dataset, **body.validated_data)
        return Response(s.PolicySerializer(policy).data)

    @extend_schema(
        methods=["GET"],
        request=None,
        responses={200: s.VersionSerializer(many=True)},
        summary="A dataset's versions",
    )
    @extend_schema(
        methods=["POST"],
        request={"multipart/form-data": s.VersionUploadSerializer},
        responses={
            201: s.VersionSerializer,
            (413, PROBLEM_CONTENT_TYPE): OpenApiResponse(
                ProblemSerializer, description="The file is too large."
            ),
        },
        summary="Upload a new version",
        description=(services.dataset_version_add.__doc__ or "").strip(),
    )
    @action(detail=True, methods=["get", "post"], filterset_class=None, pagination_class=None)
    def versions(self, request: Request, pk: str | None = None) -> Response:
        if request.method == "GET":
            versions = selectors.version_list_for(user=request.user, dataset_pk=pk, api_key=self.api_key)
            return Response(self._versions(versions, many=True))
        dataset = self.get_object()
        refuse_several_files(request.FILES)
        body = s.VersionUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        upload = body.validated_data["file"]
        version = services.dataset_version_add(
            actor=request_actor(request),
            dataset=dataset,
            file=upload,
            filename=upload.name,
            media_type=body.validated_data["media_type"] or getattr(upload, "content_type", ""),
            declared_sha256=body.validated_data["sha256"],
        )
        return Response(self._versions([version]), status=status.HTTP_201_CREATED)

    @extend_schema(
        request=reason_request(services.dataset_version_withdraw, s.DecisionReasonSerializer),
        responses={200: s.VersionSerializer},
        parameters=[
            OpenApiParameter("number", OpenApiTypes.INT, OpenApiParameter.PATH, description="Version number.")
        ],
        summary="Withdraw a version",
        description=(services.dataset_version_withdraw.__doc__ or "").strip(),
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=rf"versions/(?P<number>{WHOLE_NUMBER_PATTERN})/withdraw",
        url_name="version-withdraw",
        filterset_class=None,
        pagination_class=None,
    )
    def version_withdraw(
        self, request: Request, pk: str | None = None, number: str | None = None
    ) -> Response:
        version = selectors.version_get_for(
            user=request.user, dataset_pk=pk, number=number, api_key=self.api_key
        )
        body = s.DecisionReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = services.dataset_version_withdraw(
            actor=request_actor(request), version=version, reason=body.validated_data["reason"]
        )
        return Response(self._versions([version]))

    def _versions(self, versions: Any, *, many: bool = False) -> Any:
        """`versions` serialized, each uploader named only to a caller who may see that person."""
        versions = list(versions)
        uploaders = {version.created_by_id for version in versions}
        visible = set(
            user_list_for(user=self.request.user, api_key=self.api_key)
            .filter(pk__in=uploaders)
            .values_list("pk", flat=True)
        )
        serializer = s.VersionSerializer(versions, many=True, context={"visible_people": visible})
        return serializer.data if many else serializer.data[0]


def _receipts(entries: list) -> list[dict[str, Any]]:
    # drf-stubs types `.data` as a ReturnDict even with many=True, where it is a ReturnList of dicts.
    return s.EntryReceiptSerializer(entries, many=True).data  # type: ignore[return-value]


_DECISIONS: dict[str, services.AccessRequestDecision] = {
    "approve": services.access_request_approve,
    "reject": services.access_request_reject,
    "withdraw": services.access_request_withdraw,
}


def _decision_action(name: str) -> Any:
    """One transition @action: POST {"reason": ...} to /access-requests/{id}/<name>/."""
    service = _DECISIONS[name]

    def transition(self: AccessRequestViewSet, request: Request, pk: str | None = None) -> Response:
        access_request = self.get_object()
        body = s.DecisionReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        updated, entry = service(
            actor=request_actor(request), request=access_request, reason=body.validated_data["reason"]
        )
        fresh = selectors.access_request_get_for(user=request.user, pk=updated.pk, api_key=self.api_key)
        return Response({"request": s.AccessRequestSerializer(fresh).data, "receipts": _receipts([entry])})

    transition.__name__ = name
    schema = extend_schema(
        request=reason_request(service, s.DecisionReasonSerializer),
        responses={200: s.DecisionResultSerializer},
        summary=f"{name.title()} an access request",
        description=(service.__doc__ or "").strip(),
    )
    return schema(action(detail=True, methods=["post"])(transition))


@extend_schema_view(
    list=extend_schema(summary="Access requests you may see"),
    retrieve=extend_schema(summary="One access request"),
    create=extend_schema(
        summary="Request access to a dataset",
        request=s.AccessRequestSubmitSerializer,
        responses={201: s.DecisionResultSerializer},
        description=(services.access_request_submit.__doc__ or "").strip(),
    ),
)
class AccessRequestViewSet(
    APIKeyMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Requests to use a dataset, their decisions and receipts."""

    queryset = AccessRequest.objects.none()
    serializer_class = s.AccessRequestSerializer
    filterset_class = AccessRequestFilter
    ordering_fields = ["created_at", "state"]
    lookup_value_regex = WHOLE_NUMBER_PATTERN
    permission_classes = [ActionChecks]
    action_checks = {
        "create": services.access_request_submit_check,
        "approve": services.access_request_decide_check,
        "reject": services.access_request_decide_check,
        "withdraw": services.access_request_withdraw_check,
    }

    def get_queryset(self) -> QuerySet[AccessRequest]:
        return selectors.access_request_list_for(user=self.request.user, api_key=self.api_key).order_by(
            "-created_at", "-id"
        )

    def get_object(self) -> AccessRequest:
        return selectors.access_request_get_for(
            user=self.request.user, pk=self.kwargs["pk"], api_key=self.api_key
        )

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = s.AccessRequestSubmitSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        dataset = selectors.dataset_get_for(user=request.user, pk=data.pop("dataset"), api_key=self.api_key)
        access_request, entries = services.access_request_submit(
            actor=request_actor(request), dataset=dataset, **data
        )
        fresh = selectors.access_request_get_for(
            user=request.user, pk=access_request.pk, api_key=self.api_key
        )
        data = {"request": s.AccessRequestSerializer(fresh).data, "receipts": _receipts(entries)}
        return created(request, data, at="access-request-detail", key=fresh.pk)

    approve = _decision_action("approve")
    reject = _decision_action("reject")
    withdraw = _decision_action("withdraw")

    @extend_schema(
        responses={200: s.EntryReceiptSerializer(many=True)}, summary="Signed receipts of a request"
    )
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=None)
    def receipts(self, request: Request, pk: str | None = None) -> Response:
        entries = selectors.request_entries_for(user=request.user, pk=pk, api_key=self.api_key)
        return Response(_receipts(list(entries)))


# What a download's answer carries besides the file (the view sets the first three, the ledger's
# middleware the receipts), so a partner can check the bytes and the record without a second call.
_DOWNLOAD_HEADERS = [
    OpenApiParameter(
        "Repr-Digest",
        str,
        OpenApiParameter.HEADER,
        response=[200],
        required=True,
        description=(
            "RFC 9530 digest of the file: `sha-256=:<base64 of the SHA-256>:`. The same SHA-256 as the "
            "version's `sha256` in the catalog, which is hexadecimal."
        ),
    ),
    OpenApiParameter(
        "X-Ledger-Leaf-Hash",
        str,
        OpenApiParameter.HEADER,
        response=[200],
        required=True,
        description="Hexadecimal leaf hash of the `data.downloaded` ledger entry this download appended.",
    ),
    OpenApiParameter(
        "X-Downloads-Remaining",
        int,
        OpenApiParameter.HEADER,
        response=[200],
        required=True,
        description="Downloads left under the grant after this one (its `downloads_remaining`).",
    ),
    OpenApiParameter(
        "Ledger-Receipts",
        str,
        OpenApiParameter.HEADER,
        response=[200],
        required=True,
        description=(
            "JSON array of the signed receipts of the entries this call appended: here one, of the "
            "`data.downloaded` entry (`origin`, `leaf_hash` in hex, `accepted_at`, `key_id`, `signature` "
            "in base64). The download's only receipt: the body is the file."
        ),
    ),
    OpenApiParameter(
        "Content-Disposition",
        str,
        OpenApiParameter.HEADER,
        response=[200],
        required=True,
        description="Always `attachment`, with the version's file name (RFC 6266 `filename*` outside ASCII).",
    ),
]


@extend_schema_view(
    list=extend_schema(summary="Grants you may see"),
    retrieve=extend_schema(summary="One grant"),
)
class GrantViewSet(APIKeyMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Grants: windows of use with a download quota, revocable at once."""

    queryset = Grant.objects.none()
    serializer_class = s.GrantSerializer
    filterset_class = GrantFilter
    ordering_fields = ["valid_from", "valid_until"]
    lookup_value_regex = WHOLE_NUMBER_PATTERN
    permission_classes = [ActionChecks]
    action_checks = {"revoke": services.grant_revoke_check, "download": services.grant_download_check}

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "now": timezone.now()}

    def get_queryset(self) -> QuerySet[Grant]:
        return selectors.grant_list_for(user=self.request.user, api_key=self.api_key).order_by(
            "-valid_from", "-id"
        )

    def get_object(self) -> Grant:
        return selectors.grant_get_for(user=self.request.user, pk=self.kwargs["pk"], api_key=self.api_key)

    @extend_schema(
        request=reason_request(services.grant_revoke, s.DecisionReasonSerializer),
        responses={200: s.GrantResultSerializer},
        summary="Revoke a grant",
    )
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        body = s.DecisionReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        grant, entry = services.grant_revoke(
            actor=request_actor(request), grant=self.get_object(), reason=body.validated_data["reason"]
        )
        return Response(
            {
                "grant": s.GrantSerializer(grant, context=self.get_serializer_context()).data,
                "receipts": _receipts([entry]),
            }
        )

    @extend_schema(
        request=None,
        parameters=[
            OpenApiParameter("version", OpenApiTypes.INT, description="Version number; default latest."),
            *_DOWNLOAD_HEADERS,
        ],
        responses={
            (200, "*/*"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description=(
                    "The version's file, streamed as an attachment. Its Content-Type is the version's "
                    "`media_type` (e.g. text/csv), not JSON; Content-Length is its `size`. Served whatever "
                    "Accept names (text/csv, application/octet-stream, ...): never a 406. Refusals are "
                    "application/problem+json all the same."
                ),
            )
        },
        summary="Download under a grant",
        description=(services.grant_download.__doc__ or "").strip(),
    )
    @action(
        detail=True,
        methods=["post"],
        filterset_class=None,
        pagination_class=None,
        content_negotiation_class=FileContentNegotiation,
    )
    def download(self, request: Request, pk: str | None = None) -> StreamingHttpResponse:
        raw_version = request.query_params.get("version") or None
        version_number = whole_number(raw_version) if raw_version is not None else None
        if raw_version is not None and version_number is None:
            raise ValidationFailed(
                "The version is a number.", code="invalid", errors={"version": ["A number."]}
            )
        grant, version, entry, handle = services.grant_download(
            actor=request_actor(request), grant=self.get_object(), version_number=version_number
        )
        response = downloads.version_response(grant=grant, version=version, handle=handle)
        response["Repr-Digest"] = downloads.repr_digest(version.sha256)
        response["X-Ledger-Leaf-Hash"] = bytes(entry.leaf_hash).hex()
        response["X-Downloads-Remaining"] = str(grant.downloads_remaining)
        return response
