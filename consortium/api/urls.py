"""Consortium REST routes under /api/v1/: health, members, users, API keys."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from consortium.api.views import HealthView

router = DefaultRouter(trailing_slash=True)

urlpatterns = [path("health/", HealthView.as_view(), name="api-health"), *router.urls]
