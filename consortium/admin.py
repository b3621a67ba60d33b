"""Django admin for consortium officers: members (with their read-only history), clusters, people, API keys.

Lifecycle changes go through consortium.services from admin actions, so the ledger records them too. A bulk
decision first shows the selected members as they stand; each is then decided on the status time that page
showed, so one whose status changed meanwhile is refused by the service.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from rest_framework_api_key.models import APIKey

from consortium import services
from consortium.actors import request_actor
from consortium.errors import ServiceError
from consortium.ids import is_row_id
from consortium.models import Cluster, Member, MemberAPIKey, MemberStatusChange, User
from consortium.numbers import whole_number

_STATUS_CHANGE_FIELDS = ("at", "from_status", "to_status", "actor", "reason")


class MemberStatusChangeInline(admin.TabularInline):
    model = MemberStatusChange
    fields = _STATUS_CHANGE_FIELDS
    readonly_fields = _STATUS_CHANGE_FIELDS
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# What each bulk decision records as its reason and calls itself on the confirmation page.
_BULK_DECISIONS = {
    "admit": ("Admitted in the admin", "admission"),
    "suspend": ("Suspended in the admin", "suspension"),
}


class RowIdSelectionAdmin(admin.ModelAdmin):
    """A ModelAdmin of rows with integer ids: an action runs only on a selection of ids as the change
    list writes them (digits, no leading zero, 1 to MAX_ID). Django filters the change list on the posted
    ids as given: "abc" or a number no id column holds was a 500 (delete_selected included), and "07"
    decided member 7 while the page said it had left the list."""

    def response_action(
        self, request: HttpRequest, queryset: QuerySet[Any], *args: Any, **kwargs: Any
    ) -> HttpResponse | None:
        for text in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
            number = whole_number(text)
            if number is None or not is_row_id(number) or str(number) != text:
                self.message_user(
                    request,
                    f"Nothing was done: the selection held something other than a {self.opts.verbose_name}'s "
                    f"id. Select the {self.opts.verbose_name_plural} again.",
                    messages.ERROR,
                )
                return None
        return super().response_action(request, queryset, *args, **kwargs)


def _shown_field(member: Member) -> str:
    """The confirmation page's hidden field carrying `member`'s status time as the page showed it."""
    return f"status_since_{member.pk}"


def _shown_time(text: str) -> datetime | None:
    """The status time as the confirmation page wrote it (datetime.isoformat, with its UTC offset), or None
    for any other text: the page writes nothing else, so anything else is not a time it showed."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None or moment.isoformat() != text:
        return None
    return moment


def _shown_times(request: HttpRequest, members: list[Member]) -> dict[int, datetime] | None:
    """Each member's status time as the confirmation page showed it; None if any is missing or malformed."""
    shown = {}
    for member in members:
        posted = request.POST.getlist(_shown_field(member))
        moment = _shown_time(posted[0]) if len(posted) == 1 else None
        if moment is None:
            return None
        shown[member.pk] = moment
    return shown


def _confirmation(
    modeladmin: admin.ModelAdmin, request: HttpRequest, members: list[Member], verb: str
) -> TemplateResponse | None:
    """The page listing each selected member as it stands now, whose form re-posts the action with the
    status times it shows; None, with the service's refusal as a message, if the officer may not decide."""
    for member in members:
        try:
            services.member_transition_check(request_actor(request), member, action=verb)
        except ServiceError as exc:
            modeladmin.message_user(request, exc.detail, messages.ERROR)
            return None
    reason, noun = _BULK_DECISIONS[verb]
    request.current_app = modeladmin.admin_site.name
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": f"{verb.title()} {len(members)} member(s)?",
        "subtitle": None,
        "opts": modeladmin.opts,
        "media": modeladmin.media,
        "action": verb,
        "noun": noun,
        "reason": reason,
        "rows": [
            {"member": member, "field": _shown_field(member), "shown": member.status_changed_at.isoformat()}
            for member in members
        ],
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/consortium/member/decision_confirmation.html", context)


def _say_which_left_the_list(
    modeladmin: admin.ModelAdmin, request: HttpRequest, members: list[Member]
) -> None:
    """Name the confirmed members that the action's queryset no longer holds: the change list was filtered
    (say by status) and they left the filter since the page was shown, so Django dropped them unseen."""
    listed = {str(member.pk) for member in members}
    left = [pk for pk in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME) if pk not in listed]
    if left:
        names = Member.objects.filter(pk__in=left).order_by("pk").values_list("legal_name", flat=True)
        named = ", ".join(names) or f"{len(left)} member(s)"
        modeladmin.message_user(
            request,
            f"Not decided: {named}. No longer in the filtered list the page was chosen from "
            "(their status changed since); open each member to see it as it stands.",
            messages.WARNING,
        )


def _decide(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Member], verb: str
) -> TemplateResponse | None:
    """A bulk decision: the confirmation page first; once confirmed, each member decided by the service in
    its own transaction, on the status time the page showed it with (status_since), so a member whose
    status changed since is refused with the service's message while the others go through."""
    members = list(queryset.order_by("pk"))
    if request.POST.get("post") != "yes":
        return _confirmation(modeladmin, request, members, verb)
    _say_which_left_the_list(modeladmin, request, members)
    shown = _shown_times(request, members)
    if shown is None:
        modeladmin.message_user(
            request,
            "Nothing was decided: the confirmation did not carry the status time it showed for each member. "
            "Select the members and confirm again.",
            messages.ERROR,
        )
        return None
    service = getattr(services, f"member_{verb}")
    actor = request_actor(request)
    reason, _ = _BULK_DECISIONS[verb]
    done = 0
    for member in members:
        try:
            service(member=member, actor=actor, reason=reason, status_since=shown[member.pk])
            done += 1
        except ServiceError as exc:
            modeladmin.message_user(request, f"{member}: {exc.detail}", messages.ERROR)
    if done:
        modeladmin.message_user(request, f"{verb.title()}: {done} member(s).", messages.SUCCESS)
    return None


@admin.register(Member)
class MemberAdmin(RowIdSelectionAdmin):
    list_display = [
        "legal_name",
        "credit_code",
        "status",
        "size_class",
        "sector",
        "region",
        "status_changed_at",
    ]
    list_filter = ["status", "size_class", "sector", "clusters"]
    search_fields = ["legal_name", "credit_code"]
    # Nothing of a member changes here: status through the services' lifecycle actions (below and in the
    # portal), contact details through the portal's contact page (services.member_contact_change), which
    # check them and write the ledger; identity and classification stay as the member was admitted.
    readonly_fields = [
        "contact_name",
        "contact_email",
        "contact_phone",
        "legal_name",
        "credit_code",
        "sector",
        "size_class",
        "region",
        "clusters",
        "status",
        "status_changed_at",
        "created_at",
        "group",
    ]
    inlines = [MemberStatusChangeInline]
    actions = ["admit", "suspend"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # members apply through the portal or the API, which check the code and write the ledger

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Admit the selected applications")
    def admit(self, request: HttpRequest, queryset: QuerySet[Member]) -> TemplateResponse | None:
        return _decide(self, request, queryset, "admit")

    @admin.action(description="Suspend the selected members")
    def suspend(self, request: HttpRequest, queryset: QuerySet[Member]) -> TemplateResponse | None:
        return _decide(self, request, queryset, "suspend")


@admin.register(Cluster)
class ClusterAdmin(RowIdSelectionAdmin):
    list_display = ["name", "slug", "region"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name", "slug"]


@admin.register(User)
class UserAdmin(RowIdSelectionAdmin, DjangoUserAdmin):
    list_display = ["username", "email", "member", "member_role", "consortium_role", "is_active"]
    list_filter = ["member_role", "consortium_role", "is_active", "is_staff"]
    list_select_related = ["member"]
    fieldsets = [
        *(DjangoUserAdmin.fieldsets or ()),
        ("Consortium", {"fields": ["member", "member_role", "consortium_role"]}),
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            # Officers administer people, not privileges: no self-promotion through the admin. A person's
            # member, role and activity change through the services (last-admin rule, ledger entry).
            readonly += [
                "member",
                "member_role",
                "consortium_role",
                "is_active",
                "is_staff",
                "is_superuser",
                "groups",
                "user_permissions",
            ]
            if obj is not None:
                # The address a "set your password" link goes to: an officer who could change it could
                # send themselves a link for the person and log in as them (consortium.passwords).
                readonly.append("email")
        return readonly

    def _may_set_password(self, request: HttpRequest, obj: Any) -> bool:
        # Whoever sets a password can log in as its holder. A member's people are the member admin's to
        # manage; other staff hold other roles (a security officer decides confidential requests, a
        # superuser everything), so an officer setting theirs would take those roles. Only a superuser
        # sets passwords here; an officer changes their own at the admin's "Change password", which asks
        # for the old one.
        return request.user.is_superuser or obj is None

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if self._may_set_password(request, obj):
            return fieldsets
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f != "password"]})
            for name, options in fieldsets
        ]

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> HttpResponse:
        user = self.get_object(request, unquote(id))
        if user is not None and not self._may_set_password(request, user):
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)


@admin.register(MemberAPIKey)
class MemberAPIKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "member", "scopes", "created", "expiry_date", "revoked", "last_used_at"]
    list_filter = ["revoked"]
    list_select_related = ["member"]
    search_fields = ["name", "prefix", "member__legal_name"]
    # The hash, its prefix and the key's owner are fixed at creation; keys are created by member admins.
    readonly_fields = [
        "id",
        "prefix",
        "hashed_key",
        "member",
        "system_user",
        "scopes",
        "created",
        "created_by",
        "expiry_date",
        "revoked",
        "revoked_at",
        "revoked_by",
        "last_used_at",
    ]
    fields = ["name", *readonly_fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# drf-api-key registers an admin for its own APIKey model (its app comes first in INSTALLED_APPS), which
# authenticates nothing here: partners' keys are MemberAPIKey. A key made there would look like one.
admin.site.unregister(APIKey)
