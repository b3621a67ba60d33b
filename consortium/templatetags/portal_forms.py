"""Template helpers that tell a screen reader about a form's errors: the page title says a form came back
with errors (the title is the first thing read on a new page), the error summary lists each field's errors
with a link to the field, and a field can name a note of its own beside the help text and errors Django
already ties to it."""

from __future__ import annotations

from django import template
from django.forms import BaseForm, BoundField
from django.utils.functional import SimpleLazyObject
from django.utils.safestring import SafeString

register = template.Library()


@register.simple_tag(takes_context=True)
def error_title_prefix(context: template.Context) -> str:
    """'Error: ' when the view hands the page a form that was sent and refused, '' otherwise."""
    for value in context.flatten().values():
        # A lazy value (the request's user, its CSRF token) is no form, and asking it for its class would
        # compute it: a computed CSRF token sets its cookie, on a page that has no form as on any other.
        if isinstance(value, SimpleLazyObject):
            continue
        if isinstance(value, BaseForm) and value.is_bound and value.errors:
            return "Error: "
    return ""


@register.simple_tag
def field_errors(form: BaseForm, unlinked: str = "") -> list[tuple[str, str, str]]:
    """(label, message, anchor) for each error of each of the form's fields, in the fields' order.

    The anchor is the id of the control to go to ('' for hidden fields and for the names in `unlinked`,
    comma-separated: fields the page shows as buttons rather than as a control); a field drawn as a group of
    checkboxes or radio buttons is reached at its first one.
    """
    skip = set(filter(None, unlinked.split(",")))
    found = []
    for field in form:
        if not field.errors:
            continue
        anchor = ""
        if not field.is_hidden and field.name not in skip:
            anchor = field.id_for_label or (field.subwidgets[0].id_for_label if field.subwidgets else "")
        found += [(str(field.label), str(message), anchor) for message in field.errors]
    return found


@register.filter
def described_by(field: BoundField, ids: str) -> SafeString:
    """The field's control, described by the elements `ids` (space-separated) after its help text and
    errors."""
    refs = " ".join(filter(None, [field.aria_describedby, ids]))
    return field.as_widget(attrs={"aria-describedby": refs})
