"""Portal (server-rendered HTML) routes of credit, included into the `portal` namespace."""

from django.urls import path

from ledger.credit import views

urlpatterns = [
    path("credit/", views.statement, name="credit-statement"),
    path("credit/leaderboard/", views.leaderboard, name="credit-leaderboard"),
]
