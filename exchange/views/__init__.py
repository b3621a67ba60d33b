"""Portal views of the exchange: the catalog, a dataset's page (request it, or manage it as its owner),
requests and their decisions, grants with their downloads and revocation.

Thin, like the API: parse a form, call one selector or service, render. What the actor may not see is a
404 (the selectors raise NotFound); a service's refusal goes back on the form or into a message.

The views live in datasets, access_requests and grants (shared pieces in _common); this package
re-exports them, so the URL conf writes `from exchange import views; views.catalog`.
"""

from __future__ import annotations

from exchange.views.access_requests import (
    REQUEST_DECISIONS,
    incoming_requests,
    my_requests,
    request_detail,
    requests_home,
)
from exchange.views.datasets import (
    DECIDERS,
    catalog,
    dataset_detail,
    dataset_policy,
    dataset_version_upload,
    dataset_version_withdraw,
    dataset_withdraw,
    my_datasets,
)
from exchange.views.grants import grant_detail, grant_download, grant_list, grant_revoke

__all__ = [
    "DECIDERS",
    "REQUEST_DECISIONS",
    "catalog",
    "dataset_detail",
    "dataset_policy",
    "dataset_version_upload",
    "dataset_version_withdraw",
    "dataset_withdraw",
    "grant_detail",
    "grant_download",
    "grant_list",
    "grant_revoke",
    "incoming_requests",
    "my_datasets",
    "my_requests",
    "request_detail",
    "requests_home",
]
