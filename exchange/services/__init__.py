"""Writes of the exchange: datasets, versions, policies, access requests, grants and downloads.

Each service is one transaction that changes state and appends its ledger entry together (no change
without its entry, no entry without its change). Entries concern the owner and, where there is one, the
requesting member (`members=[owner, requester]`), so both can fetch the signed receipts. Payloads hold
integers and strings only and bind what a receipt must prove: the request and grant ids, the hash of the
policy in force, the version's checksum, the grade, the purpose and the approvers.

Requests move pending -> steward_approved (confidential only) -> granted, or to rejected / withdrawn /
expired from either undecided state; anything else is Conflict(code="illegal_transition",
current_state=...). Rows are locked (select_for_update) before their state is read, so two deciders
acting at once queue up and the second one sees the first one's result. Every such lock is FOR NO KEY
UPDATE, never FOR UPDATE, which would also stop other transactions' foreign-key checks on the row at their
commit and deadlock them with a writer waiting for the credit lock they hold (`_lock_dataset`).

Besides the writes, `*_by` predicates (dataset_manageable_by, grant_revocable_by, ...) tell an interface
whether a service would accept an actor, from the same rules, so the portal offers only what would work;
`*_check` functions (dataset_register_check, grant_revoke_check, ...) raise the refusal a service gives
its actor before it reads any input, so the API refuses a caller who may not act before checking a body.

The services live in datasets, versions (a dataset's files), policies (its access policy), access_requests,
grants and expiry (shared pieces in _common); this package re-exports them, so callers write
`from exchange import services; services.grant_revoke(...)`.
"""

from __future__ import annotations

from exchange.services._common import DEFAULTS, UploadTooLarge, dataset_manage_check, exchange_setting
from exchange.services.access_requests import (
    AccessRequestDecision,
    access_request_approve,
    access_request_decide_check,
    access_request_reject,
    access_request_submit,
    access_request_submit_check,
    access_request_withdraw,
    access_request_withdraw_check,
)
from exchange.services.datasets import (
    dataset_manageable_by,
    dataset_register,
    dataset_register_check,
    dataset_withdraw,
)
from exchange.services.expiry import access_request_expire_due, grant_expire_due, grant_expiry_notices_due
from exchange.services.grants import (
    grant_download,
    grant_download_check,
    grant_downloadable_by,
    grant_revocable_by,
    grant_revoke,
    grant_revoke_check,
    grant_version_unavailable,
)
from exchange.services.policies import policy_set, policy_set_check
from exchange.services.versions import (
    dataset_files_sweep,
    dataset_version_add,
    dataset_version_add_check,
    dataset_version_addable_by,
    dataset_version_withdraw,
    dataset_version_withdraw_check,
    dataset_versions_withdrawable_by,
)

__all__ = [
    "DEFAULTS",
    "AccessRequestDecision",
    "UploadTooLarge",
    "access_request_approve",
    "access_request_decide_check",
    "access_request_expire_due",
    "access_request_reject",
    "access_request_submit",
    "access_request_submit_check",
    "access_request_withdraw",
    "access_request_withdraw_check",
    "dataset_files_sweep",
    "dataset_manage_check",
    "dataset_manageable_by",
    "dataset_register",
    "dataset_register_check",
    "dataset_version_add",
    "dataset_version_add_check",
    "dataset_version_addable_by",
    "dataset_version_withdraw",
    "dataset_version_withdraw_check",
    "dataset_versions_withdrawable_by",
    "dataset_withdraw",
    "exchange_setting",
    "grant_download",
    "grant_download_check",
    "grant_downloadable_by",
    "grant_expire_due",
    "grant_expiry_notices_due",
    "grant_revocable_by",
    "grant_revoke",
    "grant_revoke_check",
    "grant_version_unavailable",
    "policy_set",
    "policy_set_check",
]
