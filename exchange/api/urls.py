"""Exchange REST routes under /api/v1/: datasets, access requests, grants."""

from rest_framework.routers import DefaultRouter

from exchange.api import views

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False  # consortium.api.urls serves the API root
router.register("datasets", views.DatasetViewSet, basename="dataset")
router.register("access-requests", views.AccessRequestViewSet, basename="access-request")
router.register("grants", views.GrantViewSet, basename="grant")

urlpatterns = router.urls
