"""Portal (server-rendered HTML) routes of credit, included into the `portal` namespace."""

from django.urls import path, re_path

from ledger.credit import views

urlpatterns = [
    path("credit/", views.statement, name="credit-statement"),
    path("credit/leaderboard/", views.leaderboard, name="credit-leaderboard"),
    path("credit/flags/", views.flags, name="credit-flags"),
    path("credit/held-mints/", views.held_mints, name="credit-held-mints"),
    # <epoch>:<member>, as the API's held-mint id
    re_path(
        r"^credit/held-mints/(?P<mint>[0-9]{4}-[0-9]{2}:[1-9][0-9]*)/resolve/$",
        views.held_mint_resolve,
        name="credit-held-mint-resolve",
    ),
]
