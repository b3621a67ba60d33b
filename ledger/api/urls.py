"""Ledger REST routes under /api/v1/ledger/."""

from rest_framework.routers import DefaultRouter

router = DefaultRouter(trailing_slash=True)
urlpatterns = router.urls
