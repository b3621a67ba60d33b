"""The exchange through the API, as a partner would use it: every tier's whole flow, every refusal.

A refusal is a problem body with a stable code, and changes nothing: no request, no grant, no version, no
ledger entry.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from exchange.models import AccessPolicy, AccessRequest, DatasetVersion, Grant
from ledger.models import LedgerEntry
from tests.api.test_problems import assert_problem
from tests.exchange.support import CONTENT, post_request, published, register
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db

TERMS = "Use for the declared purpose only."


@pytest.fixture
def third_steward(db):
    return UserFactory(
        username="third-steward", member=MemberFactory(legal_name="Third"), member_role="data_steward"
    )


def _state() -> tuple[int, int, int, int]:
    return (
        AccessRequest.objects.count(),
        Grant.objects.count(),
        DatasetVersion.objects.count(),
        LedgerEntry.objects.count(),
    )


def _kinds() -> list[str]:
    return list(LedgerEntry.objects.order_by("id").values_list("kind", flat=True))


def _payload(entry: LedgerEntry) -> dict:
    return json.loads(bytes(entry.canonical))["payload"]


def _download(client, grant_id):
    return client.post(f"/api/v1/grants/{grant_id}/download/")


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


# --- Whole flows ------------------------------------------------------------------------------------------


def test_open_tier_flow_from_registration_to_download(client_for, data_steward, other_analyst) -> None:
    owner = client_for(data_steward)
    response = owner.post(
        "/api/v1/datasets/",
        {
            "title": "Injection moulding cycle times",
            "description": "Cycle times per mould, 2024.",
            "keywords": ["moulding", "cycle time"],
            "sector": "C",
            "data_domain": "production",
            "licence": "CC-BY-4.0",
            "contact_name": "Zhang San",
            "contact_email": "data@own.example",
            "grade": 1,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    dataset_id = response.json()["id"]
    assert response.json()["tier"] is None

    response = owner.put(
        f"/api/v1/datasets/{dataset_id}/policy/",
        {"tier": "open", "purposes": ["research"], "terms": TERMS},
        format="json",
    )
    assert response.status_code == 200, response.content
    policy = response.json()
    assert (policy["tier"], policy["max_duration_days"], policy["download_quota"]) == ("open", 365, 10)

    upload = SimpleUploadedFile("cycles.csv", CONTENT, content_type="text/csv")
    response = owner.post(
        f"/api/v1/datasets/{dataset_id}/versions/",
        {"file": upload, "sha256": hashlib.sha256(CONTENT).hexdigest()},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    assert response.json()["sha256"] == hashlib.sha256(CONTENT).hexdigest()
    assert response.json()["size"] == len(CONTENT)

    consumer = client_for(other_analyst)
    catalog = consumer.get("/api/v1/datasets/", {"tier": "open"}).json()
    assert [d["id"] for d in catalog["results"]] == [dataset_id]

    response = post_request(consumer, type("D", (), {"pk": dataset_id}))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["request"]["state"] == "granted"
    assert [r["kind"] for r in body["receipts"]] == ["access.requested", "access.granted"]
    grant_id = body["request"]["grant"]

    response = _download(consumer, grant_id)
    assert response.status_code == 200
    assert _body(response) == CONTENT
    assert response["X-Downloads-Remaining"] == "9"
    assert _kinds() == [
        "dataset.registered",
        "dataset.policy_set",
        "dataset.version_added",
        "access.requested",
        "access.granted",
        "data.downloaded",
    ]
    downloaded = LedgerEntry.objects.get(kind="data.downloaded")
    assert _payload(downloaded)["version_sha256"] == hashlib.sha256(CONTENT).hexdigest()
    assert downloaded.member_refs == f"|{data_steward.member_id}|{other_analyst.member_id}|"


def test_restricted_tier_flow_with_revocation(client_for, data_steward, other_analyst) -> None:
    dataset = published(data_steward, tier="restricted", download_quota=2)
    consumer, owner = client_for(other_analyst), client_for(data_steward)
    response = post_request(consumer, dataset)
    assert response.status_code == 201, response.content
    request_id = response.json()["request"]["id"]
    assert response.json()["request"]["state"] == "pending"
    assert client_for(data_steward).get(f"/api/v1/access-requests/{request_id}/").status_code == 200

    response = owner.post(
        f"/api/v1/access-requests/{request_id}/approve/", {"reason": "Fine."}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["request"]["state"] == "granted"
    assert body["receipts"][0]["kind"] == "access.granted"
    grant = Grant.objects.get(request_id=request_id)
    payload = _payload(LedgerEntry.objects.get(kind="access.granted"))
    assert payload["grant"] == grant.pk
    assert payload["approvers"] == [data_steward.pk]
    assert payload["policy_hash"] == grant.policy_hash == AccessRequest.objects.get(pk=request_id).policy_hash
    assert payload["version_sha256"] == hashlib.sha256(CONTENT).hexdigest()
    assert (payload["grade"], payload["purpose"]) == (1, "research")

    assert _download(consumer, grant.pk).status_code == 200
    response = owner.post(f"/api/v1/grants/{grant.pk}/revoke/", {"reason": "Contract ended."}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["grant"]["state"] == "revoked"

    before = _state()
    assert_problem(_download(consumer, grant.pk), 409, "grant_revoked")
    assert _state() == before
    assert_problem(
        owner.post(f"/api/v1/grants/{grant.pk}/revoke/", {"reason": "again"}, format="json"),
        409,
        "illegal_transition",
    )
    receipts = consumer.get(f"/api/v1/access-requests/{request_id}/receipts/").json()
    assert [r["kind"] for r in receipts] == [
        "access.requested",
        "access.granted",
        "data.downloaded",
        "access.revoked",
    ]


def test_confidential_tier_needs_the_security_officer_and_allows_no_download(
    client_for, data_steward, other_analyst, security_officer
) -> None:
    dataset = published(data_steward, tier="confidential")
    consumer, owner, security = (
        client_for(other_analyst),
        client_for(data_steward),
        client_for(security_officer),
    )
    request_id = post_request(consumer, dataset).json()["request"]["id"]

    assert_problem(security.post(f"/api/v1/access-requests/{request_id}/approve/"), 409, "illegal_transition")
    response = owner.post(f"/api/v1/access-requests/{request_id}/approve/")
    assert response.json()["request"]["state"] == "steward_approved"
    body = assert_problem(
        owner.post(f"/api/v1/access-requests/{request_id}/approve/"), 409, "illegal_transition"
    )
    assert body["current_state"] == "steward_approved"

    response = security.post(
        f"/api/v1/access-requests/{request_id}/approve/", {"reason": "Checked."}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["request"]["state"] == "granted"
    payload = _payload(LedgerEntry.objects.get(kind="access.granted"))
    assert payload["approvers"] == [data_steward.pk, security_officer.pk]
    assert payload["download_quota"] == 0 and payload["grade"] == 2

    before = _state()
    assert_problem(_download(consumer, response.json()["request"]["grant"]), 403, "no_raw_download")
    assert _state() == before


def test_reject_and_withdraw(client_for, data_steward, other_analyst) -> None:
    first = published(data_steward, tier="restricted")
    second = published(data_steward, tier="restricted")
    consumer, owner = client_for(other_analyst), client_for(data_steward)
    one = post_request(consumer, first).json()["request"]["id"]
    two = post_request(consumer, second).json()["request"]["id"]

    assert_problem(owner.post(f"/api/v1/access-requests/{one}/reject/"), 400, "reason_required")
    response = owner.post(f"/api/v1/access-requests/{one}/reject/", {"reason": "Competitor."}, format="json")
    assert response.json()["request"]["state"] == "rejected"
    response = consumer.post(f"/api/v1/access-requests/{two}/withdraw/")
    assert response.json()["request"]["state"] == "withdrawn"

    before = _state()
    body = assert_problem(owner.post(f"/api/v1/access-requests/{two}/approve/"), 409, "illegal_transition")
    assert body["current_state"] == "withdrawn"
    assert_problem(consumer.post(f"/api/v1/access-requests/{one}/withdraw/"), 409, "illegal_transition")
    assert _state() == before
    # Once decided, the member may ask again.
    assert post_request(consumer, first).status_code == 201


# --- Bad input --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"purpose": "espionage"}, 400, "unknown_purpose"),
        ({"purpose": "ai_training"}, 400, "purpose_not_allowed"),
        ({"duration_days": 91}, 400, "duration_over_max"),
        ({"duration_days": 0}, 400, "duration_invalid"),
        ({"accepted_terms_version": None}, 400, "terms_not_accepted"),
        ({"accepted_terms_version": 2}, 400, "terms_not_accepted"),
    ],
)
def test_bad_requests_change_nothing(client_for, data_steward, other_analyst, change, status, code) -> None:
    dataset = published(data_steward, tier="restricted", max_duration_days=90)
    before = _state()
    assert_problem(post_request(client_for(other_analyst), dataset, **change), status, code)
    assert _state() == before


def test_own_dataset_second_request_and_ineligible_member(
    client_for, data_steward, analyst, other_analyst
) -> None:
    dataset = published(data_steward, tier="restricted", eligible_size_classes=["medium"])
    before = _state()
    assert_problem(post_request(client_for(analyst), dataset), 400, "own_dataset")
    assert _state() == before

    assert post_request(client_for(other_analyst), dataset).status_code == 201
    before = _state()
    assert_problem(post_request(client_for(other_analyst), dataset), 409, "duplicate_request")
    assert _state() == before

    small = UserFactory(member=MemberFactory(size_class="small"), member_role="analyst")
    body = assert_problem(post_request(client_for(small), dataset), 403, "size_class_ineligible")
    assert body["reasons"][0]["code"] == "size_class_ineligible"
    denied = UserFactory(member=MemberFactory(), member_role="analyst")
    dataset.policy.deny_list = [denied.member_id]
    dataset.policy.save()
    assert_problem(post_request(client_for(denied), dataset), 403, "member_denied")
    assert _state() == before


def test_upload_refusals_store_nothing(client_for, data_steward, settings, tmp_path) -> None:
    dataset = published(data_steward, tier="open")
    owner = client_for(data_steward)
    before = _state()
    files_before = sorted((tmp_path / "media").rglob("*"))
    upload = SimpleUploadedFile("x.csv", b"a,b\n1,2\n", content_type="text/csv")
    response = owner.post(
        f"/api/v1/datasets/{dataset.pk}/versions/", {"file": upload, "sha256": "0" * 64}, format="multipart"
    )
    assert_problem(response, 400, "checksum_mismatch")
    # a digest that is not one is a typo, said as such, not a file that "does not match"
    for typo in ("zz", "0" * 63, "0" * 65, "g" * 64):
        upload = SimpleUploadedFile("x.csv", b"a,b\n1,2\n", content_type="text/csv")
        response = owner.post(
            f"/api/v1/datasets/{dataset.pk}/versions/", {"file": upload, "sha256": typo}, format="multipart"
        )
        body = assert_problem(response, 400, "invalid_sha256")
        assert body["errors"] == {"sha256": ["The declared SHA-256 is not 64 hexadecimal digits."]}, typo
    settings.EXCHANGE = {"MAX_UPLOAD_BYTES": 100, "UPLOAD_CHUNK_BYTES": 16}
    upload = SimpleUploadedFile("big.csv", b"x" * 101, content_type="text/csv")
    response = owner.post(f"/api/v1/datasets/{dataset.pk}/versions/", {"file": upload}, format="multipart")
    assert_problem(response, 413, "upload_too_large")
    assert _state() == before
    assert sorted((tmp_path / "media").rglob("*")) == files_before


def test_core_dataset_refuses_every_version_upload(client_for, data_steward, other_analyst, tmp_path) -> None:
    """As setting its policy and requesting it are: 409 for the dataset's grade, in the engine's words,
    whatever the body holds (it is not read), and nothing is stored."""
    core = register(data_steward, grade=3)
    refused = assert_problem(post_request(client_for(other_analyst), core), 409, "core_data_not_offered")
    before = _state()
    upload = SimpleUploadedFile("recipe.csv", b"a,b\n1,2\n", content_type="text/csv")
    for body in ({"file": upload}, {}, {"file": upload, "sha256": "typo"}):
        response = client_for(data_steward).post(
            f"/api/v1/datasets/{core.pk}/versions/", body, format="multipart"
        )
        assert assert_problem(response, 409, "core_data_not_offered")["detail"] == refused["detail"], body
    assert _state() == before
    assert not [path for path in (tmp_path / "media").rglob("*") if path.is_file()]


@pytest.mark.parametrize("second_field", ["file", "other"])
def test_an_upload_with_two_files_is_refused(client_for, data_steward, tmp_path, second_field) -> None:
    dataset = published(data_steward, tier="open")
    before, files = _state(), sorted((tmp_path / "media").rglob("*"))
    first = SimpleUploadedFile("one.csv", b"a\n1\n", content_type="text/csv")
    second = SimpleUploadedFile("two.csv", b"a\n2\n", content_type="text/csv")
    body = {"file": [first, second]} if second_field == "file" else {"file": first, "other": second}
    response = client_for(data_steward).post(
        f"/api/v1/datasets/{dataset.pk}/versions/", body, format="multipart"
    )
    problem = assert_problem(response, 400, "one_file_only")
    assert problem["errors"]["file"]
    assert _state() == before and sorted((tmp_path / "media").rglob("*")) == files


def test_new_version_never_overwrites(client_for, data_steward, tmp_path) -> None:
    dataset = published(data_steward, tier="open")
    owner = client_for(data_steward)
    for content in (b"first, changed", b"second"):  # the same name each time, never the same content
        upload = SimpleUploadedFile("readings.csv", content, content_type="text/csv")
        assert (
            owner.post(
                f"/api/v1/datasets/{dataset.pk}/versions/", {"file": upload}, format="multipart"
            ).status_code
            == 201
        )
    versions = owner.get(f"/api/v1/datasets/{dataset.pk}/versions/").json()
    assert [v["number"] for v in versions] == [3, 2, 1]
    files = {v.file.name: v.file.read() for v in DatasetVersion.objects.filter(dataset=dataset)}
    assert len(files) == 3 and sorted(files.values()) == sorted([CONTENT, b"first, changed", b"second"])


def test_downloads_stop_at_quota_and_expiry(client_for, data_steward, other_analyst) -> None:
    dataset = published(data_steward, tier="restricted", download_quota=1)
    consumer = client_for(other_analyst)
    request_id = post_request(consumer, dataset).json()["request"]["id"]
    client_for(data_steward).post(f"/api/v1/access-requests/{request_id}/approve/")
    grant = Grant.objects.get(request_id=request_id)
    assert _download(consumer, grant.pk).status_code == 200
    before = _state()
    assert_problem(_download(consumer, grant.pk), 409, "quota_exhausted")
    Grant.objects.filter(pk=grant.pk).update(
        valid_from=timezone.now() - timedelta(days=40),
        valid_until=timezone.now() - timedelta(days=1),
        downloads_remaining=1,
    )
    assert_problem(_download(consumer, grant.pk), 409, "grant_expired")
    assert _state() == before


def test_grade_rules_refuse_inconsistent_policies(client_for, data_steward) -> None:
    from tests.exchange.support import register

    owner = client_for(data_steward)
    core, important = (
        register(data_steward, grade=3),
        register(data_steward, grade=2, personal_information=True),
    )
    before = _state()
    body = {"tier": "restricted", "purposes": ["research"], "terms": TERMS}
    assert_problem(
        owner.put(f"/api/v1/datasets/{core.pk}/policy/", body, format="json"), 409, "core_data_not_offered"
    )
    response = owner.put(f"/api/v1/datasets/{important.pk}/policy/", {**body, "tier": "open"}, format="json")
    problem = assert_problem(response, 400, "tier_not_allowed_for_grade")
    assert {r["code"] for r in problem["reasons"]} == {
        "tier_not_allowed_for_grade",
        "personal_information_not_open",
    }
    response = owner.put(
        f"/api/v1/datasets/{important.pk}/policy/",
        {**body, "tier": "confidential", "download_quota": 1},
        format="json",
    )
    assert_problem(response, 400, "confidential_no_download")
    assert _state() == before


def test_a_core_datasets_policy_says_core_data_is_not_offered(
    client_for, data_steward, other_analyst
) -> None:
    """Reading the policy of Level 3 data says what a request for it says, not that the owner has yet to
    write one; setting one is refused for the dataset's grade whatever the body holds, before the body
    is read, and writes nothing."""
    core, unset = register(data_steward, grade=3), register(data_steward, grade=1, title="Not yet")
    owner, member = client_for(data_steward), client_for(other_analyst)
    refused = assert_problem(post_request(member, core), 409, "core_data_not_offered")
    for reader in (owner, member):
        body = assert_problem(reader.get(f"/api/v1/datasets/{core.pk}/policy/"), 404, "core_data_not_offered")
        assert body["detail"] == refused["detail"]
        assert_problem(reader.get(f"/api/v1/datasets/{unset.pk}/policy/"), 404, "no_policy")
    before = _state()
    whole = {"tier": "restricted", "purposes": ["research"], "terms": TERMS}
    for body in (whole, {}, {"tier": "no-such-tier"}, {**whole, "terms": ""}):
        response = owner.put(f"/api/v1/datasets/{core.pk}/policy/", body, format="json")
        assert assert_problem(response, 409, "core_data_not_offered")["detail"] == refused["detail"], body
    # Only the owner's stewards learn what setting a policy would meet; others are refused as before.
    assert_problem(
        member.put(f"/api/v1/datasets/{core.pk}/policy/", whole, format="json"), 403, "permission_denied"
    )
    # The policy is replaced whole (PUT); there is no PATCH of it, for any dataset.
    response = owner.patch(f"/api/v1/datasets/{core.pk}/policy/", {"terms": TERMS}, format="json")
    assert_problem(response, 405, "method_not_allowed")
    assert "PATCH" not in response["Allow"] and "PUT" in response["Allow"]
    assert _state() == before and not AccessPolicy.objects.filter(dataset=core).exists()


def test_derived_dataset_takes_the_highest_source_grade(client_for, data_steward) -> None:
    from tests.exchange.support import register

    source = register(data_steward, grade=2)
    owner = client_for(data_steward)
    body = {
        "title": "Derived",
        "description": "Aggregates.",
        "sector": "C",
        "data_domain": "production",
        "licence": "CC-BY-4.0",
        "contact_name": "Zhang San",
        "contact_email": "data@own.example",
        "sources": [source.pk],
    }
    assert owner.post("/api/v1/datasets/", body, format="json").json()["grade"] == 2
    assert_problem(
        owner.post("/api/v1/datasets/", {**body, "grade": 1}, format="json"), 400, "grade_below_sources"
    )


# --- Who sees and does what -------------------------------------------------------------------------------


def test_unseen_is_not_found_and_unpermitted_is_forbidden(
    client_for, data_steward, analyst, other_analyst, third_steward, auditor
) -> None:
    dataset = published(data_steward, tier="restricted")
    request_id = post_request(client_for(other_analyst), dataset).json()["request"]["id"]
    third = client_for(third_steward)
    assert third.get(f"/api/v1/datasets/{dataset.pk}/").status_code == 200  # metadata is public to members
    assert_problem(third.get(f"/api/v1/access-requests/{request_id}/"), 404, "not_found")
    assert_problem(third.post(f"/api/v1/access-requests/{request_id}/approve/"), 404, "not_found")
    assert third.get("/api/v1/access-requests/").json()["count"] == 0
    # The owner's analyst sees the request but may not decide it; the requester may not approve its own.
    assert_problem(
        client_for(analyst).post(f"/api/v1/access-requests/{request_id}/approve/"), 403, "permission_denied"
    )
    assert_problem(
        client_for(other_analyst).post(f"/api/v1/access-requests/{request_id}/approve/"),
        403,
        "permission_denied",
    )
    assert client_for(auditor).get(f"/api/v1/access-requests/{request_id}/").status_code == 200

    client_for(data_steward).post(
        f"/api/v1/datasets/{dataset.pk}/withdraw/", {"reason": "Retired."}, format="json"
    )
    assert_problem(third.get(f"/api/v1/datasets/{dataset.pk}/"), 404, "not_found")
    assert client_for(data_steward).get(f"/api/v1/datasets/{dataset.pk}/").json()["status"] == "withdrawn"
    assert_problem(
        third.post(f"/api/v1/datasets/{dataset.pk}/withdraw/", {"reason": "x"}, format="json"),
        404,
        "not_found",
    )


def test_anonymous_and_suspended_members_see_nothing(client_for, data_steward, other_analyst) -> None:
    dataset = published(data_steward, tier="open")
    response = client_for(None).get("/api/v1/datasets/")
    assert response.status_code in (401, 403)
    other_analyst.member.status = "suspended"
    other_analyst.member.save()
    assert client_for(other_analyst).get("/api/v1/datasets/").json()["count"] == 0
    assert_problem(client_for(other_analyst).get(f"/api/v1/datasets/{dataset.pk}/"), 404, "not_found")


# --- Catalog ----------------------------------------------------------------------------------------------


def test_catalog_filters(client_for, data_steward, other_steward, other_analyst) -> None:
    from tests.exchange.support import register, set_policy

    a = published(data_steward, tier="open")
    b = register(
        other_steward,
        grade=2,
        title="Paint shop energy",
        sector="D",
        keywords=["energy"],
        description="Meters.",
    )
    set_policy(other_steward, b, tier="restricted")
    client = client_for(other_analyst)

    def ids(**params):
        return sorted(d["id"] for d in client.get("/api/v1/datasets/", params).json()["results"])

    assert ids() == sorted([a.pk, b.pk])
    assert ids(search="energy") == [b.pk]
    assert ids(search="VIBRATION") == [a.pk]
    assert ids(sector="D") == [b.pk]
    assert ids(grade=1) == [a.pk]
    assert ids(tier="restricted") == [b.pk]
    assert ids(owner=data_steward.member_id) == [a.pk]
    assert ids(owner_size_class="medium") == sorted([a.pk, b.pk])
    assert ids(owner_size_class="large") == []


@pytest.mark.parametrize("page_size", [10, 100])
def test_catalog_queries_stay_flat(
    client_for, data_steward, other_analyst, page_size, django_assert_num_queries
) -> None:
    from tests.exchange.support import register, set_policy

    for n in range(page_size):
        dataset = register(data_steward, title=f"Dataset {n}")
        if n % 2:
            set_policy(data_steward, dataset, tier="open")
    client = client_for(other_analyst)
    # session + user + member (capabilities), count, page, sources prefetch
    with django_assert_num_queries(6):
        response = client.get("/api/v1/datasets/", {"page_size": page_size})
    assert len(response.json()["results"]) == page_size


@pytest.mark.parametrize("page_size", [10, 100])
def test_request_and_grant_lists_stay_flat(
    client_for, data_steward, page_size, django_assert_num_queries
) -> None:
    dataset = published(data_steward, tier="open")
    from exchange import services

    for _ in range(page_size):  # one member holds one live grant per dataset: a requester each
        services.access_request_submit(
            actor=UserFactory(member=MemberFactory(), member_role="analyst"),
            dataset=dataset,
            purpose="research",
            justification="j",
            duration_days=5,
            accepted_terms_version=1,
        )
    client = client_for(data_steward)
    with django_assert_num_queries(5):
        assert (
            len(client.get("/api/v1/access-requests/", {"page_size": page_size}).json()["results"])
            == page_size
        )
    with django_assert_num_queries(5):
        assert len(client.get("/api/v1/grants/", {"page_size": page_size}).json()["results"]) == page_size


@pytest.mark.parametrize(
    ("field", "value", "status", "code"),
    [
        ("download_quota", 3_000_000_000, 400, "quota_too_large"),
        ("download_quota", 10**20, 400, "validation_error"),  # beyond 64 bits: no integer column's
        ("price_credits", 10**20, 400, "validation_error"),
        ("download_quota", 50_000, 400, "quota_too_large"),
        ("price_credits", 5_000_000, 400, "price_out_of_range"),
        ("price_credits", 2**31, 400, "price_out_of_range"),
        ("price_credits", 10**18, 400, "price_out_of_range"),
        ("price_credits", -1, 400, "negative_price"),
    ],
)
def test_huge_policy_numbers_are_refused_not_a_server_error(
    client_for, data_steward, field, value, status, code
):
    from tests.exchange.support import register

    owner = client_for(data_steward)
    dataset = register(data_steward, grade=1)
    before = _state()
    body = {"tier": "restricted", "purposes": ["research"], "terms": TERMS, field: value}
    assert_problem(owner.put(f"/api/v1/datasets/{dataset.pk}/policy/", body, format="json"), status, code)
    assert _state() == before
