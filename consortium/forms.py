"""Portal forms: they parse and type fields; the rules about the values live in services (and credit_code)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from django import forms
from django.contrib.auth.forms import PasswordResetForm
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.http import HttpRequest, QueryDict

from consortium.errors import ServiceError
from consortium.ids import is_row_id
from consortium.models import APIKeyScope, Cluster, MemberRole, MemberStatus, Sector, SizeClass
from consortium.numbers import whole_number
from consortium.roles import PERSON_ROLES
from consortium.services import API_KEY_DEFAULT_LIFETIME

# A partner system's user is made with its API key, never by hand.
PERSON_ROLE_CHOICES = [(value, label) for value, label in MemberRole.choices if value in PERSON_ROLES]


def _any(choices: list[tuple[str, str]], label: str = "Any") -> list[tuple[str, str]]:
    return [("", label), *choices]


def _choose(choices: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """A required choice with no preselected value, so nobody applies as 'large' by accident."""
    return [("", "Choose…"), *choices]


class WholeNumberFormField(forms.IntegerField):
    """ASCII digits after an optional "-" (consortium.numbers), for the portal's forms and the API's
    filters: Django's IntegerField also takes "3.0", " 3", "+3" and other scripts' digits."""

    def to_python(self, value: Any) -> int | None:
        if value in self.empty_values:
            return None
        number = whole_number(str(value), signed=True)
        if number is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return number


class ServiceTextField(forms.CharField):
    """Text whose length the service judges, in the words the API gives (`too_long`, naming the field and
    its maximum): `max_length` is the input's `maxlength`, for the browser, and not the form's to refuse
    in Django's words."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators = [v for v in self.validators if not isinstance(v, MaxLengthValidator)]


class _RequiredByService:
    """A field the service requires, as a portal form reads it: the page still marks it required (the label's
    asterisk, the input's `required`), but a blank value is passed on as "" for the service to refuse in its
    own words (`required`, naming each field missing), as the API's answer says them, not Django's."""

    empty_values: Any

    def validate(self, value: Any) -> None:
        if value in self.empty_values:
            return
        super().validate(value)  # type: ignore[misc]


class RequiredByServiceCharField(_RequiredByService, ServiceTextField):
    pass


class RequiredByServiceChoiceField(_RequiredByService, forms.ChoiceField):
    pass


class ModelIdsChoiceField(forms.ModelMultipleChoiceField):
    """Several rows chosen by id. An id no id column can hold (past 2**63 - 1) is an invalid choice, like
    any unknown id: Django's field looks them all up with `pk__in`, and SQLite cannot bind such an integer
    (OverflowError, a 500). An id is ASCII digits: Django's check reads " 3" and other scripts' digits with
    int()."""

    def clean(self, value: Any) -> Any:
        if self.to_field_name is None and isinstance(value, list | tuple):
            for pk in value:
                number = whole_number(str(pk))
                if number is None:
                    raise ValidationError(
                        self.error_messages["invalid_pk_value"], code="invalid_pk_value", params={"pk": pk}
                    )
                if not is_row_id(number):
                    raise ValidationError(
                        self.error_messages["invalid_choice"], code="invalid_choice", params={"value": pk}
                    )
        return super().clean(value)


def submitted(request: HttpRequest) -> QueryDict | None:
    """A POST's form data, even when empty (so required fields say so), or None to leave a form unbound:
    `request.POST or None` would take an empty POST for a first visit and show the form blank again."""
    return request.POST if request.method == "POST" else None


def add_service_error(form: forms.Form, error: ServiceError) -> None:
    """Show a service's refusal on the form: per field where the service names one, else above the form."""
    field_errors: dict[str, list[str]] = error.extra.get("errors") or {}
    aliases: dict[str, str] = getattr(form, "service_field_names", {})
    placed = False
    for name, messages in field_errors.items():
        field = aliases.get(name, name)
        target = field if field in form.fields else None
        for message in messages:
            form.add_error(target, message)
            placed = True
    if not placed:
        form.add_error(None, error.detail)


class PortalForm(forms.Form):
    """Marks required fields' labels (base.html draws the asterisk)."""

    required_css_class = "required"
    label_suffix = ""


class MemberApplicationForm(PortalForm):
    """A firm's application for membership. member_apply judges every value, in the words the API gives:
    what is missing, the credit code, the e-mail address; the form only parses."""

    service_field_names = {"cluster_slugs": "clusters"}

    legal_name = RequiredByServiceCharField(max_length=200, label="Legal name")
    credit_code = RequiredByServiceCharField(
        label="Unified social credit code",
        help_text="18 characters, as printed on the business licence (GB 32100-2015).",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    size_class = RequiredByServiceChoiceField(choices=_choose(SizeClass.choices), label="Size class")
    sector = RequiredByServiceChoiceField(choices=_choose(Sector.choices), label="Sector (GB/T 4754 section)")
    region = RequiredByServiceCharField(max_length=100, help_text="Province or municipality.")
    clusters = forms.ModelMultipleChoiceField(
        queryset=Cluster.objects.all(),
        to_field_name="slug",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Industrial clusters",
    )
    contact_name = RequiredByServiceCharField(max_length=100, label="Contact person")
    contact_email = RequiredByServiceCharField(
        max_length=254, widget=forms.EmailInput, label="Contact e-mail"
    )
    contact_phone = ServiceTextField(max_length=30, required=False, label="Contact phone")

    def service_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of services.member_apply."""
        data = dict(self.cleaned_data)
        data["cluster_slugs"] = [cluster.slug for cluster in data.pop("clusters")]
        return data


class MemberContactForm(PortalForm):
    """A member's contact details, as its admin (or an officer) keeps them. member_contact_change judges
    them, in the words the API gives."""

    contact_name = RequiredByServiceCharField(max_length=100, label="Contact person")
    contact_email = RequiredByServiceCharField(
        max_length=254, widget=forms.EmailInput, label="Contact e-mail"
    )
    contact_phone = ServiceTextField(max_length=30, required=False, label="Contact phone")


class MemberFilterForm(forms.Form):
    """Directory filters. The status filter is offered to consortium staff only."""

    q = forms.CharField(required=False, label="Search", max_length=100)
    status = forms.ChoiceField(choices=_any(MemberStatus.choices), required=False)
    sector = forms.ChoiceField(choices=_any(Sector.choices), required=False)
    size_class = forms.ChoiceField(choices=_any(SizeClass.choices), required=False, label="Size class")

    def __init__(self, *args: Any, show_status: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not show_status:
            del self.fields["status"]


class MemberDecisionForm(PortalForm):
    """An officer's lifecycle decision on a member, with the reason recorded in its history."""

    ACTIONS = ("admit", "decline", "suspend", "reinstate", "withdraw")
    DONE = {
        "admit": "admitted",
        "decline": "declined",
        "suspend": "suspended",
        "reinstate": "reinstated",
        "withdraw": "withdrawn",
    }
    """What each decision did, for the message after it."""

    action = forms.ChoiceField(choices=[(action, action.title()) for action in ACTIONS])
    reason = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Recorded in the member's history and e-mailed, as written, to the member's contact with "
        "the decision. Required for every decision except admission.",
    )
    # The status the page showed (the member's status_changed_at, ISO 8601): a decision taken on a page
    # read before another officer's decision, or before a declined firm applied again, is refused.
    status_since = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean_status_since(self) -> datetime | None:
        text = self.cleaned_data["status_since"]
        if not text:
            return None
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise forms.ValidationError("This page is out of date: reload it and decide again.")
        return moment


class UserCreateForm(PortalForm):
    """A member admin adds a person to their own member. user_create judges the values, in the words the
    API gives: what is missing, the e-mail address, the role."""

    username = RequiredByServiceCharField(max_length=150)
    email = RequiredByServiceCharField(max_length=254, widget=forms.EmailInput, label="E-mail")
    first_name = ServiceTextField(max_length=150, required=False, label="First name")
    last_name = ServiceTextField(max_length=150, required=False, label="Last name")
    role = RequiredByServiceChoiceField(choices=_choose(PERSON_ROLE_CHOICES))
    password = forms.CharField(
        required=False,
        strip=False,
        label="Initial password",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="Leave empty to create the account without a usable password.",
    )

    def service_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of services.user_create (without actor and member)."""
        data = dict(self.cleaned_data)
        data["password"] = data["password"] or None
        return data


class UserRoleForm(PortalForm):
    role = forms.ChoiceField(choices=PERSON_ROLE_CHOICES)


class APIKeyCreateForm(PortalForm):
    """A new API key for the member's partner system."""

    service_field_names = {"expires_at": "expires_on"}

    name = forms.CharField(max_length=50, help_text="What the key is for, e.g. 'ERP nightly sync'.")
    scopes = forms.MultipleChoiceField(choices=APIKeyScope.choices, widget=forms.CheckboxSelectMultiple)
    expires_on = forms.DateField(
        required=False,
        label="Valid until (inclusive, UTC)",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=f"Leave empty for {API_KEY_DEFAULT_LIFETIME.days} days. At most one year ahead.",
    )

    def service_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of services.api_key_create (without actor)."""
        expires_on = self.cleaned_data["expires_on"]
        # Valid through the whole chosen day: it expires at the next midnight UTC.
        expires_at = (
            datetime.combine(expires_on + timedelta(days=1), time.min, tzinfo=UTC) if expires_on else None
        )
        return {
            "name": self.cleaned_data["name"],
            "scopes": self.cleaned_data["scopes"],
            "expires_at": expires_at,
        }


class PortalPasswordResetForm(PasswordResetForm):
    """ "Forgot your password?": the address to send a link to. The view hands it to
    services.password_links_request, which decides whether anyone there gets one (Django's save, which
    mails whoever has a usable password, is not used)."""

    email = forms.EmailField(
        label="E-mail", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
