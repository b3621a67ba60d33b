"""Setting one's own password: Django's password-reset views with the portal's form, throttle and rules."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse_lazy

from consortium import services
from consortium.forms import PortalPasswordResetForm
from consortium.passwords import clear_login_lockout, may_set_password
from consortium.views._common import ApplicationThrottle, _throttled


class PasswordResetThrottle(ApplicationThrottle):
    """`password_reset` requests from one client (the "Forgot your password?" form), like the apply form."""

    scope = "password_reset"


class PasswordResetView(auth_views.PasswordResetView):
    """ "Forgot your password?": the same answer whether or not anyone has the address; a link only for
    people who may set a password (consortium.passwords), and a bounded number per client and address."""

    form_class = PortalPasswordResetForm
    template_name = "consortium/password_reset_form.html"
    success_url = reverse_lazy("portal:password-reset-done")

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # A refused request's answer says nothing about the address typed: only the wait (clear).
        form = self.get_form()
        if _throttled(request, PasswordResetThrottle(), form, what="requests", clear=True):
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form: Any) -> HttpResponse:
        services.password_links_request(email=form.cleaned_data["email"])
        return redirect(self.get_success_url())


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """The link's page: set a password. A link for someone who may no longer set one (deactivated since,
    their member suspended) is refused like a used or forged one."""

    template_name = "consortium/password_reset_confirm.html"
    success_url = reverse_lazy("portal:password-reset-complete")

    def get_user(self, uidb64: str) -> Any:
        user = super().get_user(uidb64)
        return user if user is not None and may_set_password(user) else None

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        clear_login_lockout(form.user)
        return response
