"""Portal (server-rendered HTML) routes, namespace `portal`."""

from django.contrib.auth import views as auth_views
from django.urls import path

from consortium import views

app_name = "portal"
urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(template_name="consortium/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
