"""The catalogue of problem codes: for each `code` a problem body can carry, its statuses, what it means and
what the client should do.

The one source of docs/api-errors.md (`python -m consortium.api.problem_codes > docs/api-errors.md`) and of
the `code` member's description in the OpenAPI schema. tests/api/test_problem_catalogue.py reads the code
for every code the API can answer with (raise sites, policy reasons, the problem handler's own) and fails
on one that is missing here, on an entry nothing raises any more, and on a status given at a raise site
that its entry does not list: a new code cannot ship without its words.
"""

from __future__ import annotations

from dataclasses import dataclass

from consortium.member_status import CATALOGUE_ADVICE


@dataclass(frozen=True)
class ProblemCode:
    code: str
    statuses: tuple[int, ...]
    means: str
    action: str


def _c(code: str, statuses: tuple[int, ...], means: str, action: str) -> ProblemCode:
    return ProblemCode(code, statuses, means, action)


FIX = "Correct the input as the detail (and `errors`, by field) says, and send it again."
RELOAD = "Read the object again (`current_state` says where it is) and decide anew; do not retry as is."
SUPPORT = "Nothing to change in the request: tell the consortium's officers, quoting the detail."

GROUPS: list[tuple[str, list[ProblemCode]]] = [
    (
        "Any request",
        [
            _c(
                "validation_error",
                (400,),
                "The input breaks a rule; `errors` lists the messages by field.",
                FIX,
            ),
            _c("invalid_request", (400,), "The request is refused as invalid (no more specific code).", FIX),
            _c("required", (400,), "A required field is missing or blank; `errors` names each.", FIX),
            _c(
                "too_long",
                (400,),
                "A text is longer than its field takes (a member's legal name, region or contact details, "
                "a person's username, e-mail or names); `errors` names each such field with its maximum.",
                FIX,
            ),
            _c(
                "invalid",
                (400,),
                "A field's value has the wrong form (a name too long, an id that is not "
                "a positive integer); `errors` names it.",
                FIX,
            ),
            _c(
                "invalid_page_size",
                (400,),
                "A list's `page_size` is not a whole number from 1 (a larger one than the maximum is "
                "taken as the maximum, not refused); `errors` names it.",
                FIX,
            ),
            _c(
                "invalid_page",
                (400,),
                "A list's `page` is not a whole number from 1 (or `last`); `errors` names it. A page past "
                "the last is 404 `not_found`.",
                FIX,
            ),
            _c(
                "invalid_ordering",
                (400,),
                "A list's `ordering` names a field the list cannot be ordered by; `errors` lists those it "
                "can (the schema gives them too).",
                FIX,
            ),
            _c(
                "hidden_character",
                (400,),
                "A name or title (a member's or person's name or e-mail, an API key's name, a dataset's "
                "title, licence, contact, coverage or keywords) holds a control character or a bidirectional "
                "formatting character (an override, embedding, isolate or mark), which changes unseen how "
                "the text around it reads; or free text (a description, terms, a justification, a reason) "
                "holds a control character other than tab and line breaks (NUL among them), a lone "
                "surrogate, or a bidirectional override, embedding or isolate; or a query parameter holds "
                "NUL, which no text can hold. `errors` names each field or parameter, the detail the "
                "character (U+202E RIGHT-TO-LEFT OVERRIDE).",
                "Remove the character and send the value again; right-to-left scripts and the zero-width "
                "joiner and non-joiner are accepted, and in free text the marks LRM, RLM and ALM.",
            ),
            _c(
                "malformed_request",
                (400,),
                "The body cannot be parsed: not JSON, nested too deeply, or a "
                "string with a lone UTF-16 surrogate.",
                "Send well-formed UTF-8 JSON (I-JSON, RFC 7493).",
            ),
            _c(
                "duplicate_key",
                (400,),
                "A JSON object in the body names a key more than once (the detail names it), which "
                "I-JSON (RFC 7493) forbids: the request is not read at all, rather than one of the values "
                "taken at a guess.",
                "Send each key once per object, with the value meant.",
            ),
            _c(
                "bad_request",
                (400,),
                "Django refused the request before any API view read it (e.g. a Host "
                "header this server does not serve).",
                "Check the URL, the Host header and the request's "
                "framing; retrying unchanged will fail the same way.",
            ),
            _c(
                "too_many_fields",
                (400,),
                "A form body has more fields, or the query string more parameters, than the server parses; "
                "`limit` gives the number.",
                "Send fewer fields (or JSON), or fewer query parameters.",
            ),
            _c(
                "too_many_files",
                (400,),
                "A multipart body carries more files than the server parses; `limit` gives the number.",
                "Upload one file per request.",
            ),
            _c(
                "not_authenticated",
                (401,),
                "The operation needs credentials and the request has none.",
                "Send `Authorization: Api-Key <key>` (or use a signed-in portal session).",
            ),
            _c(
                "authentication_failed",
                (401,),
                "The credentials sent are not valid.",
                "Check the credentials; for an API key, see the api_key_* codes.",
            ),
            _c(
                "permission_denied",
                (403,),
                "The caller is authenticated but its role, member or key may not do this.",
                "Do not retry; ask the member admin or an officer for the role needed.",
            ),
            _c(
                "not_found",
                (404,),
                "No such object, or none the caller may see (the two are not told "
                "apart); or no such API path (`suggested_path` names the path with its trailing slash where "
                "that exists); or a page past the last.",
                "Check the id or path; do not retry unchanged.",
            ),
            _c(
                "unknown_format",
                (404,),
                "The `format` query parameter names no representation of this endpoint (`formats` lists "
                "those it has; `suggested_path` names a path that serves the one asked for, where one does).",
                "Leave `format` out (JSON), or follow `suggested_path`.",
            ),
            _c(
                "method_not_allowed",
                (405,),
                "The path does not take this HTTP method.",
                "Use a method the path's `Allow` header lists.",
            ),
            _c(
                "not_acceptable",
                (406,),
                "No representation matches the Accept header.",
                "Accept application/json (problems come as application/problem+json).",
            ),
            _c(
                "conflict",
                (409,),
                "The object's current state does not allow this (no more specific code).",
                RELOAD,
            ),
            _c(
                "payload_too_large",
                (413,),
                "The request body is larger than the server reads; "
                "`limit_bytes` gives the limit. Files sent as multipart/form-data do not count towards it.",
                "Send a smaller body.",
            ),
            _c(
                "unsupported_media_type",
                (415,),
                "The body's Content-Type is not one the operation parses.",
                "Send application/json (multipart/form-data for a file).",
            ),
            _c(
                "throttled",
                (429,),
                "Too many requests from this client or key.",
                "Wait `retry_after_seconds` (also in Retry-After) and try again.",
            ),
            _c(
                "server_error",
                (500,),
                "The server failed; the error is logged.",
                "Retry later; if it persists, tell the officers the time and path.",
            ),
            _c(
                "service_unavailable",
                (503,),
                "Something the exchange depends on (its database, task queue or ledger signing key) is "
                "unavailable for the moment; the request was stopped, and what it asked for was not done "
                "(a change and its ledger entry are committed together or not at all).",
                "Wait `retry_after_seconds` (also in Retry-After) and send it again; if a write's outcome "
                "matters, read the object first.",
            ),
            _c(
                "not_ready",
                (503,),
                "Health (`/health/`, `/api/v1/health/`): this process cannot serve now; the members "
                "`database`, `migrations`, `broker` and `signing_key` say which check failed (the reason is "
                "in the server's log).",
                "A load balancer sends its traffic elsewhere; an operator reads the log.",
            ),
        ],
    ),
    (
        "API keys, sessions and scopes",
        [
            _c(
                "api_key_invalid",
                (401,),
                "The Api-Key names no key, or its secret does not match.",
                "Check that the whole key is sent as issued; a member admin can issue a new one.",
            ),
            _c(
                "api_key_revoked",
                (401,),
                "The API key has been revoked.",
                "Stop using it; ask a member admin for a new key.",
            ),
            _c(
                "api_key_expired",
                (401,),
                "The API key is past its expiry.",
                "Ask a member admin for a new key (keys last at most a year).",
            ),
            _c(
                "member_not_active",
                (401, 403, 409),
                "The member concerned is not active (applied, suspended, withdrawn or declined): its keys "
                "do not authenticate (401); its people may not request or use data or act for it (403), "
                "though they still read its record and its own requests, datasets and grants; its people "
                "are sent no password link, and no person is added to a withdrawn or declined member (409).",
                "How long depends on the status, which the detail names (and `current_state`, on a 403 or "
                f"409): {CATALOGUE_ADVICE}",
            ),
            _c(
                "authentication_throttled",
                (429,),
                "Too many failed API-key attempts from this client address in the rate's period "
                "(API_THROTTLE_AUTH_FAILURES): keys are refused unchecked until it ends, except keys "
                "already used successfully from this address (and not failing from it since).",
                "Wait `retry_after_seconds` (also in Retry-After); find what on your network sends bad keys.",
            ),
            _c(
                "csrf_failed",
                (403,),
                "A signed-in portal session's write came without a valid CSRF token.",
                "Send the csrftoken cookie's value in the X-CSRFToken header, or use an API key.",
            ),
            _c(
                "insufficient_scope",
                (403,),
                "The API key lacks the scope this needs; `required_scope` "
                "names it and `key_scopes` lists the key's.",
                "Ask a member admin for a key with that scope.",
            ),
            _c(
                "role_beyond_key_scopes",
                (403,),
                "The key's scopes do not cover what a person in that role may do: no key gives that role, "
                "nor changes or deactivates a member admin.",
                "Give the role in the portal, or use a key with the scopes the detail names (no key may "
                "give member_admin, or change or deactivate one).",
            ),
        ],
    ),
    (
        "Members, people and API keys",
        [
            _c(
                "invalid_credit_code",
                (400,),
                "The unified social credit code is malformed (length, "
                "characters or check digit); the detail says which.",
                FIX,
            ),
            _c(
                "duplicate_credit_code",
                (400,),
                "A member with this credit code exists, or its application is waiting for a decision.",
                "Do not apply again (a declined application may be followed by a new one); contact the "
                "officers if the firm's membership is unknown to you.",
            ),
            _c("invalid_email", (400,), "The e-mail address is not valid.", FIX),
            _c(
                "unknown_sector",
                (400,),
                "Not a GB/T 4754 industry section (A-T), in a member or a policy.",
                FIX,
            ),
            _c("unknown_size_class", (400,), "Not a size class, in a member or a policy.", FIX),
            _c(
                "unknown_cluster",
                (400,),
                "A cluster slug names no cluster (GET /api/v1/clusters/ lists them).",
                FIX,
            ),
            _c(
                "illegal_transition",
                (409,),
                "The member or request is in a state this step does not "
                "leave from; `current_state` says which.",
                RELOAD,
            ),
            _c(
                "status_changed",
                (409,),
                "The member's status changed after the `status_changed_at` the decision was sent with "
                "(another officer decided, or a declined firm applied again with new details); "
                "`current_state` and `status_changed_at` say how it is now.",
                RELOAD,
            ),
            _c(
                "reason_required",
                (400,),
                "This decision (decline, suspend, reject, revoke, withdraw) needs a reason; it is recorded.",
                "Send a `reason`.",
            ),
            _c("unknown_role", (400,), "Not a member role (or consortium role).", FIX),
            _c("duplicate_username", (400,), "The username is taken.", "Choose another username."),
            _c(
                "password_not_allowed",
                (400,),
                "A password cannot be set for this person here.",
                "Leave the password out; the person sets one through a password link.",
            ),
            _c("weak_password", (400,), "The password fails the password rules; `errors` lists why.", FIX),
            _c(
                "last_admin",
                (409,),
                "The change would leave the member without an active admin.",
                "Appoint another admin first.",
            ),
            _c("user_inactive", (409,), "The person is deactivated.", "Reactivate the person first."),
            _c(
                "no_email",
                (409,),
                "The person has no e-mail address to send a link to.",
                "Give the person an address first.",
            ),
            _c(
                "too_many_links",
                (409,),
                "Several password links went to this address recently.",
                "Try again later.",
            ),
            _c("invalid_scopes", (400,), "Unknown API key scopes, or none.", FIX),
            _c(
                "invalid_expiry",
                (400,),
                "The key's expiry is not in the future within a year, or has no time zone.",
                FIX,
            ),
            _c("already_revoked", (409,), "The API key is revoked already.", "Nothing to do."),
        ],
    ),
    (
        "Datasets, versions and access policies",
        [
            _c("unknown_data_domain", (400,), "Not a data domain.", FIX),
            _c("unknown_update_frequency", (400,), "Not an update frequency.", FIX),
            _c("unknown_rights", (400,), "Not a rights statement.", FIX),
            _c("unknown_grade", (400,), "Not a data grade (1-3).", FIX),
            _c("invalid_period", (400,), "The temporal coverage ends before it starts.", FIX),
            _c("unknown_source", (400,), "A source dataset id names no dataset the caller may see.", FIX),
            _c(
                "too_many_keywords",
                (400,),
                "A dataset has more distinct keywords than the exchange keeps (32; a repeat counts once); "
                "the detail gives both numbers.",
                "Keep the keywords that describe the dataset best, and send it again.",
            ),
            _c(
                "grade_below_sources",
                (400,),
                "A derived dataset's grade is below its sources' highest.",
                "Give it at least the sources' grade, or leave the grade out.",
            ),
            _c("invalid_media_type", (400,), "The file's media type is not a media type.", FIX),
            _c("empty_file", (400,), "The uploaded file is empty.", "Upload the file with its content."),
            _c(
                "invalid_sha256",
                (400,),
                "The declared SHA-256 is not 64 hexadecimal digits (the file was not read).",
                FIX,
            ),
            _c(
                "checksum_mismatch",
                (400,),
                "The declared SHA-256 does not match the file received; the detail gives the file's.",
                "Upload again; check the file and the digest you computed.",
            ),
            _c(
                "one_file_only",
                (400,),
                "The upload carries more than one file; `files` counts them.",
                "Upload one file per version.",
            ),
            _c(
                "upload_too_large",
                (413,),
                "The file is larger than the exchange stores; `limit_bytes` gives the limit.",
                "Split or compress the data; nothing was stored.",
            ),
            _c(
                "dataset_withdrawn",
                (409,),
                "The dataset is withdrawn: no new versions, requests or uses.",
                "Nothing to retry.",
            ),
            _c(
                "duplicate_version",
                (409,),
                "A version of the dataset that is not withdrawn already has this content (the same SHA-256); "
                "`version` names it. The same bytes again would only list them twice.",
                "Do not retry: that version offers the content already; upload the changed file.",
            ),
            _c(
                "requests_paused",
                (409,),
                "The dataset takes no new requests and no approvals for now (for a reason of its owner's, "
                "which is not other members' business); grants given before stay usable.",
                "Nothing to retry for now.",
            ),
            _c(
                "core_data_not_offered",
                (404, 409),
                "Level 3 (core) data is offered as metadata only: no policy (reading one is 404, setting "
                "one 409), version file, request or download (409).",
                "Do not retry; contact the owner off-platform.",
            ),
            _c(
                "no_policy",
                (404, 409),
                "The dataset has no access policy yet, so it cannot be requested.",
                "Wait for the owner to set one.",
            ),
            _c("unknown_tier", (400,), "Not an access tier (open, restricted, confidential).", FIX),
            _c(
                "tier_not_allowed_for_grade",
                (400,),
                "The tier is not allowed for the dataset's grade; the detail lists those that are.",
                FIX,
            ),
            _c(
                "personal_information_not_open",
                (400,),
                "Data with personal information cannot be open.",
                "Choose the restricted or confidential tier.",
            ),
            _c("unknown_purpose", (400,), "Not a purpose of use, in a policy or a request.", FIX),
            _c("no_purpose", (400,), "A policy must allow at least one purpose.", FIX),
            _c("duration_invalid", (400,), "A duration must be a whole number of days, at least 1.", FIX),
            _c(
                "duration_over_grade_limit",
                (400,),
                "The policy's maximum duration is above what the grade allows.",
                FIX,
            ),
            _c(
                "confidential_no_download",
                (400,),
                "A confidential policy allows no download: the quota must be 0.",
                FIX,
            ),
            _c(
                "quota_required",
                (400,),
                "An open or restricted policy must allow at least one download.",
                FIX,
            ),
            _c("quota_too_large", (400,), "The download quota is above the maximum.", FIX),
            _c(
                "price_out_of_range",
                (400,),
                "The credit price is above the maximum (a negative one is `negative_price`).",
                FIX,
            ),
            _c("negative_price", (400,), "The credit price is negative.", FIX),
            _c(
                "open_with_eligibility",
                (400,),
                "An open policy admits every active member: it takes no eligibility, allow or deny lists.",
                "Drop the lists, or choose the restricted tier.",
            ),
            _c("allow_deny_overlap", (400,), "Members are on both the allow and the deny list.", FIX),
            _c(
                "owner_on_allow_list",
                (400,),
                "The owner is on its own dataset's allow list.",
                "Take the owner off; it needs no grant.",
            ),
            _c("unknown_member", (400,), "A member id on an allow or deny list names no member.", FIX),
        ],
    ),
    (
        "Access requests and grants",
        [
            _c(
                "own_dataset",
                (400,),
                "A member needs no access request for its own dataset.",
                "Use the dataset directly.",
            ),
            _c(
                "purpose_not_allowed",
                (400,),
                "The policy does not allow this purpose; the detail lists those it allows.",
                "Request for an allowed purpose.",
            ),
            _c(
                "duration_over_max",
                (400,),
                "The duration is above the policy's maximum.",
                "Request a shorter duration.",
            ),
            _c(
                "member_denied",
                (403,),
                "The owner does not share this dataset with the caller's member.",
                "Do not retry.",
            ),
            _c(
                "not_on_allow_list",
                (403,),
                "The dataset is shared only with named members.",
                "Do not retry; the owner decides who is named.",
            ),
            _c(
                "size_class_ineligible",
                (403,),
                "The member's size class is not eligible under the policy.",
                "Do not retry.",
            ),
            _c(
                "sector_ineligible",
                (403,),
                "The member's sector is not eligible under the policy.",
                "Do not retry.",
            ),
            _c(
                "cluster_ineligible",
                (403,),
                "The member belongs to no cluster the policy admits.",
                "Do not retry.",
            ),
            _c(
                "terms_not_accepted",
                (400,),
                "The request does not accept the policy's current terms version; `terms_version` gives it.",
                "Read the terms and send `accepted_terms_version`.",
            ),
            _c(
                "terms_changed",
                (409,),
                "The terms or price changed since the request was made "
                "(`accepted_terms_version`, `terms_version`, `price_credits`).",
                "The requester withdraws the request and asks again under the current policy.",
            ),
            _c(
                "policy_changed",
                (409,),
                "The owner changed the dataset's policy since the request or grant was made, and the "
                "policy in force no longer allows its purpose or duration: its approval, or a download "
                "under the grant, is refused (`current_state`; `reasons` lists the policy's reasons, such "
                "as `duration_over_max` or `purpose_not_allowed`).",
                "Ask the owner; or request access again under the current policy (an undecided request is "
                "withdrawn first).",
            ),
            _c(
                "duplicate_request",
                (409,),
                "The member already has an undecided request for the dataset; `request` names it.",
                "Follow that request, or withdraw it to ask again.",
            ),
            _c(
                "already_granted",
                (409,),
                "The member already holds a grant on the dataset; `grant` names it.",
                "Use that grant; request again once it has ended.",
            ),
        ],
    ),
    (
        "Downloads",
        [
            _c(
                "grant_revoked",
                (409,),
                "The grant was revoked (`revoked_at`, `revoked_reason`).",
                "Request access again if the reason allows.",
            ),
            _c("grant_expired", (409,), "The grant ended at `valid_until`.", "Request access again."),
            _c("grant_not_started", (409,), "The grant starts at `valid_from`.", "Download from then on."),
            _c(
                "quota_exhausted",
                (409,),
                "Every download the grant allows is used; no new request while it lasts (`valid_until`).",
                "Wait for the grant to end, then request again.",
            ),
            _c(
                "no_raw_download",
                (403,),
                "Confidential data is used on the platform only: no download.",
                "Use the data on the platform.",
            ),
            _c(
                "download_permission_not_held",
                (403,),
                "The member does not hold the download permission on the dataset.",
                "Request access first.",
            ),
            _c("no_version", (404,), "No such version of the dataset.", "List the versions and pick one."),
            _c("version_withdrawn", (409,), "That version is withdrawn.", "Download the latest version."),
            _c(
                "no_version_available",
                (409,),
                "The dataset has no version that may be downloaded.",
                "Wait for the owner to upload one.",
            ),
            _c(
                "file_unavailable",
                (409,),
                "The version's file cannot be read; the download was not counted.",
                "Tell the owner; retry later.",
            ),
        ],
    ),
    (
        "Ledger",
        [
            _c(
                "unknown_leaf_hash",
                (404,),
                "No entry has that leaf hash: the ledger never accepted it.",
                "Check the hash (64 hex digits of the receipt's `leaf_hash`).",
            ),
            _c(
                "no_checkpoint_yet",
                (404,),
                "No checkpoint has been signed yet (a new ledger): the first comes within "
                "`checkpoint_interval_seconds` of `/api/v1/ledger/status/`.",
                "Ask again after that interval.",
            ),
            _c(
                "no_checkpoint",
                (404,),
                "No checkpoint was signed at that tree size: checkpoints are signed on a schedule, not at "
                "every size.",
                "List the checkpoints, or take the latest, and ask proofs against its `tree_size`.",
            ),
            _c(
                "entry_not_sequenced",
                (409,),
                "The entry was accepted (`accepted_at`) but has no sequence number yet, so it is in no "
                "tree; entries get theirs within `max_integration_delay_seconds`.",
                "Wait `retry_after_seconds` (also in Retry-After) and ask again.",
            ),
            _c(
                "seq_out_of_range",
                (400,),
                "No entry has that seq; `current_tree_size` gives the tree's size.",
                "Ask for a seq below `current_tree_size`.",
            ),
            _c(
                "entry_not_in_tree",
                (400,),
                "The entry joined the log after the tree size asked for "
                "(`seq`, `tree_size`, `latest_checkpoint_size`).",
                "Ask with a signed checkpoint's tree size above the entry's seq, as the detail says.",
            ),
            _c("tree_size_out_of_range", (400,), "A tree size is below 1 or above the current size.", FIX),
            _c("sizes_reversed", (400,), "A consistency proof's first size is above its second.", FIX),
            _c(
                "invalid_cursor",
                (400,),
                "The cursor is not one the API handed out.",
                "Follow the `next` and `previous` links as given.",
            ),
            _c("bad_entry", (400,), "A ledger entry's kind or payload is malformed.", SUPPORT),
            _c(
                "key_from_environment",
                (409,),
                "The signing key comes from the environment and cannot be rotated here.",
                "Put the new key in LEDGER_SIGNING_KEY and restart.",
            ),
        ],
    ),
    (
        "Credit",
        [
            _c(
                "insufficient_credit",
                (409,),
                "The member has too little credit; `shortfall_mcr` says by "
                "how much (`fee_mcr` the grant's fee, `account` the account).",
                "Earn or receive credit, then ask again.",
            ),
            _c("credit_refused", (409,), "The credit rules refuse the entry.", SUPPORT),
            _c(
                "adjustment_withdrawn",
                (409,),
                "The adjustment was withdrawn: it can be neither approved nor withdrawn again.",
                "Propose a new adjustment if one is still needed.",
            ),
            _c(
                "member_not_admitted",
                (409,),
                "An adjustment (proposed, or to approve) names a member that was never admitted "
                "(`current_state`): it holds no credit.",
                "Adjust an admitted member's credit, or none.",
            ),
            _c("bad_rules", (400,), "The credit rules' parameters are invalid.", FIX),
            _c("rules_unchanged", (409,), "These rules are already published.", "Nothing to do."),
            _c("no_rules", (400,), "No credit rules are published yet.", "Publish rules first."),
            _c("bad_epoch", (400,), "Not an epoch name (YYYY-MM).", FIX),
            _c("epoch_exists", (409,), "The epoch was opened before (`epoch`).", "Open the next epoch."),
            _c("epoch_open", (409,), "Another epoch is still open.", "Settle it first."),
            _c(
                "epoch_not_open",
                (409,),
                "The epoch is not open (`current_state`: settled or not_opened).",
                RELOAD,
            ),
            _c("epoch_not_ended", (409,), "The epoch has not ended yet.", "Settle it after its last day."),
            _c(
                "no_epoch",
                (404,),
                "No such credit epoch.",
                "List the epochs (GET /api/v1/credit/epochs/) and pick one.",
            ),
            _c(
                "epoch_not_settled",
                (404,),
                "The epoch is not settled yet: no statement or leaderboard.",
                "Ask again after settlement.",
            ),
            _c(
                "no_held_mint", (404,), "No mint of that member is held in that epoch.", "Nothing to resolve."
            ),
            _c("bad_decision", (400,), "A held mint's decision must be 'release' or 'forfeit'.", FIX),
            _c(
                "bad_amount",
                (400,),
                "An adjustment's amount must be a non-zero integer of mCR within range.",
                FIX,
            ),
            _c(
                "already_approved",
                (409,),
                "The adjustment is approved already (to approve, or to withdraw).",
                "Nothing to do; correct a posted adjustment with a new one.",
            ),
            _c(
                "second_approver_required",
                (403,),
                "The person who proposed an adjustment cannot approve it.",
                "Another officer approves it.",
            ),
            _c("self_affiliation", (400,), "A member cannot be its own parent.", FIX),
            _c(
                "claim_open",
                (409,),
                "The member already has a declaration waiting for its parent's answer.",
                "Wait for the answer.",
            ),
            _c("already_decided", (409,), "The declaration has been answered already.", "Nothing to do."),
            _c("already_affiliated", (409,), "The member is in that group already.", "Nothing to do."),
            _c(
                "member_required",
                (400,),
                "An auditor must name the member whose statement they want.",
                "Send `member`.",
            ),
            _c("bad_grouping", (400,), "Not a leaderboard grouping; the detail lists them.", FIX),
        ],
    ),
]

CODES: dict[str, ProblemCode] = {entry.code: entry for _, entries in GROUPS for entry in entries}


def catalogue_table(entries: list[ProblemCode]) -> str:
    """A Markdown table of `entries`: code, statuses, meaning, what to do."""
    rows = ["| code | status | means | what to do |", "| --- | --- | --- | --- |"]
    rows += [f"| `{e.code}` | {', '.join(map(str, e.statuses))} | {e.means} | {e.action} |" for e in entries]
    return "\n".join(rows)


def catalogue_markdown() -> str:
    """docs/api-errors.md, whole."""
    sections = [f"## {title}\n\n{catalogue_table(entries)}\n" for title, entries in GROUPS]
    return (
        "# API errors\n\n"
        "<!-- Generated from consortium/api/problem_codes.py: edit that, then run\n"
        "     .venv/bin/python -m consortium.api.problem_codes > docs/api-errors.md -->\n\n"
        "Every refusal is an RFC 9457 problem body (`application/problem+json`), whatever the request's "
        "Accept header says: `type` (`urn:consortium-exchange:problem:<code>`), `title`, `status`, `detail` "
        "(for a person), `instance` (the path) and `code`, the stable machine-readable reason. Clients "
        "branch on `code`, never on `detail` or `title`, whose words may change.\n\n"
        "Some codes carry extension members, named in the tables below and described in the OpenAPI "
        "schema's `Problem` component: `errors` (messages by field), `reasons` (every failing rule of an "
        "access decision, each `{code, message}`, most fundamental first; the body's `code` is the first), "
        "`current_state`, `retry_after_seconds`, `limit_bytes`, and others.\n\n"
        "Each code has its entry in consortium/api/problem_codes.py, which this page is generated from: the "
        "test suite fails on a code the API can answer with that has none.\n\n" + "\n".join(sections)
    )


if __name__ == "__main__":
    print(catalogue_markdown(), end="")
