"""Consortium REST routes under /api/v1/: the API root, health, members, users, API keys, clusters, me."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from consortium.api import views

router = DefaultRouter(trailing_slash=True)
router.register("members", views.MemberViewSet, basename="member")
router.register("users", views.UserViewSet, basename="user")
router.register("api-keys", views.APIKeyViewSet, basename="api-key")
router.register("clusters", views.ClusterViewSet, basename="cluster")
router.include_root_view = False  # the root below lists every app's collections, not only these

# What /api/v1/ links to: every operation without a path parameter, under its path below /api/v1/, so a
# partner who starts at the root finds the whole API (tests check it against the schema).
API_ROOT = {
    "me": "api-me",
    "members": "member-list",
    "users": "user-list",
    "api-keys": "api-key-list",
    "clusters": "cluster-list",
    "datasets": "dataset-list",
    "access-requests": "access-request-list",
    "grants": "grant-list",
    "ledger/entries": "ledger-entry-list",
    "ledger/checkpoints": "ledger-checkpoint-list",
    "ledger/keys": "ledger-keys",
    "ledger/status": "ledger-status",
    "ledger/proofs/inclusion": "ledger-inclusion-proof",
    "ledger/proofs/consistency": "ledger-consistency-proof",
    "credit/epochs": "credit-epoch-list",
    "credit/balances": "credit-balance-list",
    "credit/transfers": "credit-transfer-list",
    "credit/totals": "credit-totals",
    "credit/flags": "credit-flag-list",
    "credit/held-mints": "credit-held-mint-list",
    "credit/adjustments": "credit-adjustment-list",
    "credit/affiliations": "credit-affiliation-list",
    "credit/affiliation-claims": "credit-affiliation-claim-list",
    "health": "api-health",
}
# Those only auditors and officers read (ledger.credit.selectors.require_auditor: anyone else gets 404 there),
# linked for them only.
AUDIT_ONLY = frozenset(
    {"credit/transfers", "credit/totals", "credit/flags", "credit/held-mints", "credit/adjustments"}
)

urlpatterns = [
    path("", views.APIRoot.as_view(api_root_dict=API_ROOT, audit_only=AUDIT_ONLY), name="api-root"),
    path("health/", views.HealthView.as_view(), name="api-health"),
    path("me/", views.MeView.as_view(), name="api-me"),
    *router.urls,
]
