"""Portal (server-rendered HTML) routes, namespace `portal`."""

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.urls import include, path

from consortium import views

app_name = "portal"
urlpatterns = [
    path("", views.home, name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="consortium/login.html",
            redirect_authenticated_user=True,
            extra_context={"failure_limit": settings.AXES_FAILURE_LIMIT},
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/forgot/", views.PasswordResetView.as_view(), name="password-reset"),
    path(
        "password/forgot/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="consortium/password_reset_done.html"),
        name="password-reset-done",
    ),
    path(
        "password/set/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password-reset-confirm",
    ),
    path(
        "password/set/done/",
        auth_views.PasswordResetCompleteView.as_view(template_name="consortium/password_reset_complete.html"),
        name="password-reset-complete",
    ),
    path("apply/", views.apply, name="apply"),
    path("apply/thanks/", views.apply_thanks, name="apply-thanks"),
    path("members/", views.member_list, name="member-list"),
    path("members/<int:pk>/", views.member_detail, name="member-detail"),
    path("members/<int:pk>/contact/", views.member_contact_edit, name="member-contact-edit"),
    path("members/<int:member_pk>/people/new/", views.person_create, name="member-person-create"),
    path("people/", views.people_list, name="people-list"),
    path("people/new/", views.person_create, name="person-create"),
    path("people/<int:pk>/", views.person_detail, name="person-detail"),
    path("people/<int:pk>/deactivate/", views.person_deactivate, name="person-deactivate"),
    path("people/<int:pk>/password-link/", views.person_send_password_link, name="person-password-link"),
    path("api-keys/", views.api_key_list, name="api-key-list"),
    path("api-keys/new/", views.api_key_create, name="api-key-create"),
    path("api-keys/<str:prefix>/revoke/", views.api_key_revoke, name="api-key-revoke"),
    path("", include("exchange.portal_urls")),
    path("", include("ledger.credit.portal_urls")),
    path("", include("ledger.portal_urls")),
]
