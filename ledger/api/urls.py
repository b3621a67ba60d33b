"""Ledger REST routes under /api/v1/ledger/."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from ledger.api import views

router = DefaultRouter(trailing_slash=True)
router.register("entries", views.LedgerEntryViewSet, basename="ledger-entry")
router.register("checkpoints", views.CheckpointViewSet, basename="ledger-checkpoint")

urlpatterns = [
    path("proofs/inclusion/", views.InclusionProofView.as_view(), name="ledger-inclusion-proof"),
    path("proofs/consistency/", views.ConsistencyProofView.as_view(), name="ledger-consistency-proof"),
    path("keys/", views.SigningKeyListView.as_view(), name="ledger-keys"),
    path("status/", views.LedgerStatusView.as_view(), name="ledger-status"),
    *router.urls,
]
