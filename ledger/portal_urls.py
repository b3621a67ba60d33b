"""Portal (server-rendered HTML) routes of the ledger, included into the `portal` namespace."""

from django.urls import path

from ledger import views

urlpatterns = [
    path("ledger/", views.integrity, name="ledger-integrity"),
]
