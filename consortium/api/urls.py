"""Consortium REST routes under /api/v1/: health, members, users, API keys, clusters, me."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from consortium.api import views

router = DefaultRouter(trailing_slash=True)
router.register("members", views.MemberViewSet, basename="member")
router.register("users", views.UserViewSet, basename="user")
router.register("api-keys", views.APIKeyViewSet, basename="api-key")
router.register("clusters", views.ClusterViewSet, basename="cluster")

urlpatterns = [
    path("health/", views.HealthView.as_view(), name="api-health"),
    path("me/", views.MeView.as_view(), name="api-me"),
    *router.urls,
]
