"""Consortium REST views: health, members and their lifecycle, people, API keys, clusters and `me`.

Views are thin: parse with a serializer, call one selector or service, shape the answer. Every rule and
every permission decision lives in consortium.services and consortium.selectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import APIRootView
from rest_framework.throttling import BaseThrottle, ScopedRateThrottle
from rest_framework.views import APIView

from consortium import health, selectors, services
from consortium.actors import request_actor
from consortium.api import serializers as s
from consortium.api.actors import APIKeyMixin
from consortium.api.filters import APIKeyFilter, MemberFilter, UserFilter
from consortium.api.permissions import ActionChecks
from consortium.api.problems import PROBLEM_CONTENT_TYPE, ProblemJSONRenderer, problem
from consortium.api.responses import created
from consortium.api.schema import ProblemAutoSchema
from consortium.models import Cluster, Member, MemberAPIKey, User
from consortium.numbers import WHOLE_NUMBER_PATTERN
from consortium.roles import Capability, can, capabilities

if TYPE_CHECKING:
    from rest_framework.permissions import _SupportsHasPermission


class _HealthSchema(ProblemAutoSchema):
    """The same view answers at /health/ (for load balancers) and /api/v1/health/: one operation id each."""

    def get_operation_id(self) -> str:
        return "health" if self.path.startswith("/api/") else "health_probe"


_CHECKS = {
    "database": serializers.DictField(help_text="ok, the vendor; error: the driver's error class"),
    "migrations": serializers.DictField(help_text="ok; error not_applied with how many are `missing`"),
    "broker": serializers.DictField(help_text="ok, mode eager or broker (and its transport); error"),
    "signing_key": serializers.DictField(help_text="ok: the ledger's signing key loads"),
}
_HEALTH = inline_serializer("Health", {"status": serializers.CharField(), **_CHECKS})
_NOT_READY = inline_serializer(
    "NotReady",
    {
        "type": serializers.CharField(),
        "title": serializers.CharField(),
        "status": serializers.IntegerField(),
        "detail": serializers.CharField(),
        "code": serializers.CharField(help_text="not_ready"),
        "instance": serializers.CharField(),
        **_CHECKS,
    },
)


class HealthView(APIView):
    """Readiness, for a load balancer: 200 when every check of consortium.health passes (the database
    answers and is migrated, the broker answers, the ledger's signing key loads), else 503 not_ready, a
    problem body with every check's outcome. Shows no host, file or message (those are logged)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []
    schema = _HealthSchema()

    @extend_schema(responses={200: _HEALTH, 503: _NOT_READY})
    def get(self, request: Request) -> Response:
        checks = health.readiness()
        shown = {name: check.shown() for name, check in checks.items()}
        failing = [name for name, check in checks.items() if not check.ok]
        if not failing:
            response = Response({"status": "ok", **shown})
        else:
            body = problem(
                status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
                code="not_ready",
                title="The service is not ready",
                detail=f"Not ready: {', '.join(failing)} failing.",
                instance=request.get_full_path(),
                **shown,
            )
            request.accepted_renderer = ProblemJSONRenderer()
            request.accepted_media_type = PROBLEM_CONTENT_TYPE
            response = Response(body, status=503, content_type=PROBLEM_CONTENT_TYPE)
        response["Cache-Control"] = "no-store"
        return response


class LivenessView(APIView):
    """Liveness, for a process supervisor: 200 whenever this process answers requests. It asks nothing of
    the database or the broker, so an outage of theirs does not get every web process restarted."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    # Not an API operation (a supervisor's probe, like the load balancer's /health/ it is not under /api/):
    # README documents it.
    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        response = Response({"status": "ok"})
        response["Cache-Control"] = "no-store"
        return response


_REASON_ACTIONS = {
    "admit": services.member_admit,
    "decline": services.member_decline,
    "suspend": services.member_suspend,
    "reinstate": services.member_reinstate,
    "withdraw": services.member_withdraw,
}


def _member_action(name: str) -> Any:
    """One lifecycle @action: POST {"reason": ...} to /members/{id}/<name>/."""
    service = _REASON_ACTIONS[name]

    def transition(self: MemberViewSet, request: Request, pk: str | None = None) -> Response:
        member = selectors.member_get_for(user=request.user, pk=pk, api_key=self.api_key)
        body = s.MemberDecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        member = service(
            member=member,
            actor=request_actor(request),
            reason=body.validated_data["reason"],
            status_since=body.validated_data["status_changed_at"],
        )
        return Response(s.MemberSerializer(member).data)

    # The router maps methods to actions by function name, so the name must be set before @action.
    transition.__name__ = name
    schema = extend_schema(
        request=s.reason_request(service, s.MemberDecisionSerializer, s.MemberDecisionWithReasonSerializer),
        responses={200: s.MemberSerializer},
        summary=f"{name.title()} a member",
        description=(service.__doc__ or "").strip(),
    )
    return schema(action(detail=True, methods=["post"])(transition))


@extend_schema_view(
    list=extend_schema(summary="List the members you may see"),
    retrieve=extend_schema(summary="One member"),
    create=extend_schema(
        summary="Apply for membership",
        description="Open to anyone (throttled). The new member is `applied` until an officer decides.",
        request=s.MemberApplySerializer,
        responses={201: s.MemberApplicationSerializer},
    ),
    partial_update=extend_schema(
        summary="Change a member's contact details",
        description=(
            "Any of `contact_name`, `contact_email`, `contact_phone`; one left out keeps its value, and any "
            "other field is refused (400: the rest of the record is a consortium officer's matter). The "
            "member's own admin while the member is active (an API key needs the `manage` scope: 403 "
            "`insufficient_scope`), or a consortium officer for any member. Records `member.contact_changed` "
            "naming the fields that changed, never their values; nothing when no value changes."
        ),
        request=s.MemberContactSerializer,
        responses={200: s.MemberSerializer},
    ),
)
class MemberViewSet(
    APIKeyMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Member enterprises: the directory, applications and the membership lifecycle."""

    queryset = Member.objects.none()  # for the schema; requests use the selector
    serializer_class = s.MemberSerializer
    filterset_class = MemberFilter
    ordering_fields = ["legal_name", "credit_code", "status_changed_at", "created_at"]
    lookup_value_regex = WHOLE_NUMBER_PATTERN
    # Who may take each write action, asked before its body is read (consortium.api.permissions).
    permission_classes = [ActionChecks]
    action_checks = {
        **{name: partial(services.member_transition_check, action=name) for name in _REASON_ACTIONS},
        "partial_update": services.member_contact_change_check,
    }

    @property
    def throttle_scope(self) -> str | None:
        return "member_apply" if getattr(self, "action", None) == "create" else None

    def get_permissions(self) -> Sequence[_SupportsHasPermission]:
        if self.action == "create":
            return [AllowAny()]
        return super().get_permissions()

    def get_throttles(self) -> list[BaseThrottle]:
        throttles = super().get_throttles()
        if self.action == "create":
            throttles.append(ScopedRateThrottle())
        return throttles

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        return s.MemberApplySerializer if self.action == "create" else s.MemberSerializer

    def get_queryset(self) -> QuerySet[Member]:
        return selectors.member_list_for(user=self.request.user, api_key=self.api_key).prefetch_related(
            "clusters"
        )

    def get_object(self) -> Member:
        return selectors.member_get_for(user=self.request.user, pk=self.kwargs["pk"], api_key=self.api_key)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = s.MemberApplyBodySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        applicant = request.user if request.user.is_authenticated else None
        member = services.member_apply(**body.service_kwargs(), applicant=applicant)
        return created(request, s.MemberApplicationSerializer(member).data, at="member-detail", key=member.pk)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # PATCH only, as for people: a PUT (no route) would have to restate the officers' part of the record.
        body = s.MemberContactBodySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        member = services.member_contact_change(
            actor=request_actor(request), member=self.get_object(), **body.validated_data
        )
        return Response(s.MemberSerializer(member).data)

    admit = _member_action("admit")
    decline = _member_action("decline")
    suspend = _member_action("suspend")
    reinstate = _member_action("reinstate")
    withdraw = _member_action("withdraw")

    @extend_schema(responses={200: s.MemberStatusChangeSerializer(many=True)}, summary="A member's lifecycle")
    @action(detail=True, methods=["get"], pagination_class=None, filterset_class=None)
    def history(self, request: Request, pk: str | None = None) -> Response:
        changes = selectors.member_history_for(user=request.user, pk=pk, api_key=self.api_key)
        return Response(s.MemberStatusChangeSerializer(changes, many=True).data)


@extend_schema_view(
    list=extend_schema(summary="List the people you may see"),
    retrieve=extend_schema(summary="One person"),
    create=extend_schema(
        summary="Add a person to a member",
        description=(
            "A member admin adds to their own member, an officer to any. An API key needs the `manage` "
            "scope (403 `insufficient_scope` without it), gives no password (400 `password_not_allowed`) "
            "and no role beyond its own scopes (403 `role_beyond_key_scopes`), so it cannot act through "
            "the people it adds."
        ),
        request=s.UserCreateSerializer,
        responses={201: s.UserSerializer},
    ),
    partial_update=extend_schema(
        summary="Change a person's role",
        description=(
            "Only the role changes: any other field (the username, names, e-mail, password, whether the "
            "person is active) is refused, 400 naming it; a body without a role changes nothing. An API key "
            "may give only a role within its own scopes (403 `role_beyond_key_scopes`); the member's last "
            "active admin keeps the role (409 `last_admin`)."
        ),
        request=s.UserRoleSerializer,
        responses={200: s.UserSerializer},
    ),
)
class UserViewSet(
    APIKeyMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """People: member admins manage their own member's; officers see all; nobody sees another member's."""

    queryset = User.objects.none()
    serializer_class = s.UserSerializer
    filterset_class = UserFilter
    ordering_fields = ["username", "date_joined"]
    lookup_value_regex = WHOLE_NUMBER_PATTERN
    http_method_names = ["get", "post", "patch", "head", "options"]
    permission_classes = [ActionChecks]
    action_checks = {"create": services.user_create_check, "partial_update": services.user_manage_check}

    def get_queryset(self) -> QuerySet[User]:
        return selectors.user_list_for(user=self.request.user, api_key=self.api_key).order_by(
            "username", "id"
        )

    def get_object(self) -> User:
        return selectors.user_get_for(user=self.request.user, pk=self.kwargs["pk"], api_key=self.api_key)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = s.UserCreateBodySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        member = selectors.member_for_new_person(
            user=request.user, member_id=data.pop("member", None), api_key=self.api_key
        )
        user = services.user_create(actor=request_actor(request), member=member, **data)
        return created(request, s.UserSerializer(user).data, at="user-detail", key=user.pk)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = s.UserRoleSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user = self.get_object()
        if "role" in body.validated_data:  # else nothing to change: the person as they are
            user = services.user_set_role(
                actor=request_actor(request), user=user, role=body.validated_data["role"]
            )
        return Response(s.UserSerializer(user).data)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not kwargs.get("partial"):
            return self.http_method_not_allowed(request, *args, **kwargs)
        return self.partial_update(request, *args, **kwargs)

    @extend_schema(request=None, responses={200: s.UserSerializer}, summary="Deactivate a person")
    @action(detail=True, methods=["post"])
    def deactivate(self, request: Request, pk: str | None = None) -> Response:
        user = services.user_deactivate(actor=request_actor(request), user=self.get_object())
        return Response(s.UserSerializer(user).data)


@extend_schema_view(
    list=extend_schema(summary="List API keys (metadata only)"),
    retrieve=extend_schema(summary="One API key (metadata only)"),
    create=extend_schema(
        summary="Create an API key",
        description="The response carries the key itself, once; it is stored only hashed.",
        request=s.APIKeyCreateSerializer,
        responses={201: s.APIKeyCreatedSerializer},
    ),
)
class APIKeyViewSet(
    APIKeyMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """A member's API keys for partner systems, addressed by their public prefix."""

    queryset = MemberAPIKey.objects.none()
    serializer_class = s.APIKeySerializer
    lookup_field = "prefix"
    lookup_value_regex = r"[A-Za-z0-9]+"
    ordering_fields = ["created", "name", "expiry_date"]
    filterset_class = APIKeyFilter
    permission_classes = [ActionChecks]
    action_checks = {"create": services.api_key_create_check}

    def get_queryset(self) -> QuerySet[MemberAPIKey]:
        return selectors.api_key_list_for(user=self.request.user, api_key=self.api_key).order_by(
            "-created", "prefix"
        )

    def get_object(self) -> MemberAPIKey:
        return selectors.api_key_get_for(
            user=self.request.user, prefix=self.kwargs["prefix"], api_key=self.api_key
        )

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = s.APIKeyCreateBodySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        key, raw_key = services.api_key_create(actor=request_actor(request), **body.validated_data)
        data = s.APIKeyCreatedSerializer(key, context={"raw_key": raw_key}).data
        response = created(request, data, at="api-key-detail", key=key.prefix)
        response["Cache-Control"] = "no-store"  # the one response that carries a secret
        return response

    @extend_schema(request=None, responses={200: s.APIKeySerializer}, summary="Revoke an API key")
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, prefix: str | None = None) -> Response:
        key = services.api_key_revoke(actor=request_actor(request), key=self.get_object())
        return Response(s.APIKeySerializer(key).data)


@extend_schema_view(list=extend_schema(summary="Industrial clusters"))
class ClusterViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The industrial clusters a member may join: public, so applicants can name theirs."""

    queryset = Cluster.objects.order_by("name")
    serializer_class = s.ClusterSerializer
    permission_classes = [AllowAny]
    ordering_fields = ["name", "slug"]


class MeView(APIKeyMixin, APIView):
    """Who you are here: your account, your member, your role and what it lets you do."""

    @extend_schema(responses={200: s.MeSerializer}, summary="The current user")
    def get(self, request: Request) -> Response:
        user = request_actor(request)
        data = {
            "user": s.UserSerializer(user).data,
            "member": s.MemberSerializer(user.member).data if user.member_id else None,
            "role": user.member_role or user.consortium_role,
            "capabilities": sorted(capabilities(user, self.api_key)),
            "api_key": s.APIKeySerializer(self.api_key).data if self.api_key else None,
        }
        return Response(data)


class APIRoot(APIKeyMixin, APIRootView):
    """/api/v1/: a link to each collection of the API (`api_root_dict`) that the caller may read. Those in
    `audit_only` answer 404 to anyone but auditors and officers, so nobody else is sent to them."""

    audit_only: frozenset[str] = frozenset()

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().get(request, *args, **kwargs)
        if not can(request.user, Capability.AUDIT, self.api_key):
            response.data = {name: url for name, url in response.data.items() if name not in self.audit_only}
        return response
