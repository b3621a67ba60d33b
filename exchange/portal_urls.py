"""Portal (server-rendered HTML) routes of the exchange, included into the `portal` namespace."""

from django.urls import path

from exchange import views

urlpatterns = [
    path("catalog/", views.catalog, name="catalog"),
    path("catalog/<int:pk>/", views.dataset_detail, name="dataset-detail"),
    path("catalog/<int:pk>/policy/", views.dataset_policy, name="dataset-policy"),
    path("catalog/<int:pk>/versions/", views.dataset_version_upload, name="dataset-version-upload"),
    path(
        "catalog/<int:pk>/versions/<int:number>/withdraw/",
        views.dataset_version_withdraw,
        name="dataset-version-withdraw",
    ),
    path("catalog/<int:pk>/withdraw/", views.dataset_withdraw, name="dataset-withdraw"),
    path("my-datasets/", views.my_datasets, name="my-datasets"),
    path("requests/", views.requests_home, name="requests"),
    path("requests/mine/", views.my_requests, name="my-requests"),
    path("requests/incoming/", views.incoming_requests, name="incoming-requests"),
    path("requests/<int:pk>/", views.request_detail, name="request-detail"),
    path("grants/", views.grant_list, name="grant-list"),
    path("grants/<int:pk>/", views.grant_detail, name="grant-detail"),
    path("grants/<int:pk>/revoke/", views.grant_revoke, name="grant-revoke"),
    path("grants/<int:pk>/download/", views.grant_download, name="grant-download"),
]
