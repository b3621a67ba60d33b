"""Credit REST routes under /api/v1/credit/."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from ledger.credit.api import views

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False  # consortium.api.urls serves the API root
router.register("epochs", views.EpochViewSet, basename="credit-epoch")
router.register("balances", views.BalanceViewSet, basename="credit-balance")
router.register("statements", views.StatementViewSet, basename="credit-statement")
router.register("leaderboard", views.LeaderboardViewSet, basename="credit-leaderboard")
router.register("flags", views.FlagViewSet, basename="credit-flag")
router.register("transfers", views.TransferViewSet, basename="credit-transfer")
router.register("held-mints", views.HeldMintViewSet, basename="credit-held-mint")
router.register("adjustments", views.AdjustmentViewSet, basename="credit-adjustment")
router.register("affiliations", views.AffiliationViewSet, basename="credit-affiliation")
router.register("affiliation-claims", views.AffiliationClaimViewSet, basename="credit-affiliation-claim")

urlpatterns = [
    path("totals/", views.TotalsView.as_view(), name="credit-totals"),
    *router.urls,
]
