"""Bad input found by fuzzing the API: each once crashed with a 500 (on SQLite, PostgreSQL or both). Each is
now a 400 problem body with a stable code, and leaves nothing written."""

from __future__ import annotations

import json

import pytest

from consortium.models import Member, User
from exchange.models import Dataset
from ledger.models import LedgerEntry
from tests.api.test_problems import APPLICATION, assert_problem

pytestmark = pytest.mark.django_db


def _state() -> tuple[int, int, int, int]:
    return Member.objects.count(), User.objects.count(), Dataset.objects.count(), LedgerEntry.objects.count()


# --- JSON bodies ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("opening", ["[", '{"a":'])
def test_a_body_nested_past_the_recursion_limit_is_malformed_not_a_crash(api_client, opening) -> None:
    before = _state()
    response = api_client.post("/api/v1/members/", data=opening * 10_000, content_type="application/json")
    body = assert_problem(response, 400, "malformed_request")
    assert "nested too deeply" in body["detail"]
    assert _state() == before


def test_the_catalog_parses_json_with_the_same_parser(client_for, data_steward) -> None:
    # DatasetViewSet names its own parsers (for uploads); its JSON parser must be the API's.
    before = _state()
    response = client_for(data_steward).post(
        "/api/v1/datasets/", data="[" * 10_000, content_type="application/json"
    )
    assert_problem(response, 400, "malformed_request")
    assert _state() == before


def test_a_lone_surrogate_is_malformed_json(client_for, member_admin) -> None:
    # Once a 500: the choice field's error message echoed the string, which the renderer cannot encode.
    before = _state()
    raw = '{"username": "new-person", "email": "new@own.example", "role": "\\ud800"}'
    response = client_for(member_admin).post("/api/v1/users/", data=raw, content_type="application/json")
    body = assert_problem(response, 400, "malformed_request")
    assert "lone surrogate" in body["detail"]
    assert _state() == before


@pytest.mark.parametrize("where", ["key", "nested value"])
def test_a_lone_surrogate_anywhere_in_the_body_is_refused(client_for, member_admin, where) -> None:
    inner = '{"\\udc00": 1}' if where == "key" else '[[{"x": ["\\udbff"]}]]'
    raw = f'{{"username": "p", "email": "p@own.example", "role": "analyst", "extra": {inner}}}'
    response = client_for(member_admin).post("/api/v1/users/", data=raw, content_type="application/json")
    assert_problem(response, 400, "malformed_request")
    assert not User.objects.filter(username="p").exists()


def test_an_escaped_surrogate_pair_is_one_character_and_accepted(api_client) -> None:
    # "\ud83d\ude00" is one emoji: the check must not refuse well-formed pairs.
    raw = json.dumps({**APPLICATION, "contact_name": "Wang Fang \U0001f600"}, ensure_ascii=True)
    assert "\\ud83d\\ude00" in raw
    response = api_client.post("/api/v1/members/", data=raw, content_type="application/json")
    assert response.status_code == 201, response.content
    assert Member.objects.get().contact_name == "Wang Fang \U0001f600"


# --- ids past 64 bits -------------------------------------------------------------------------------------
# Once OverflowError on SQLite, which cannot bind an integer past 2**63 - 1; no id column holds one anyway.

TOO_BIG = str(10**30)


@pytest.mark.parametrize(
    ("path", "name"),
    [("/api/v1/datasets/", "owner"), ("/api/v1/access-requests/", "dataset"), ("/api/v1/grants/", "dataset")],
)
@pytest.mark.parametrize("value", [TOO_BIG, str(2**63), "0", "1.5"])
def test_an_id_filter_takes_only_an_id(client_for, analyst, path, name, value) -> None:
    body = assert_problem(client_for(analyst).get(f"{path}?{name}={value}"), 400, "validation_error")
    assert name in body["errors"]


def test_an_id_filter_still_filters(client_for, data_steward, analyst) -> None:
    from tests.exchange.support import published

    dataset = published(data_steward, tier="open")
    response = client_for(analyst).get(f"/api/v1/datasets/?owner={dataset.owner_id}")
    assert [row["id"] for row in response.json()["results"]] == [dataset.pk]
    assert client_for(analyst).get(f"/api/v1/datasets/?owner={2**63 - 1}").json()["results"] == []


def test_a_source_id_past_64_bits_is_invalid(client_for, data_steward) -> None:

    before = _state()
    values = {
        "title": "Derived",
        "description": "d",
        "sector": "C",
        "data_domain": "production",
        "licence": "CC-BY-4.0",
        "contact_name": "Z",
        "contact_email": "z@own.example",
        "sources": [10**30],
    }
    body = assert_problem(
        client_for(data_steward).post("/api/v1/datasets/", values, format="json"), 400, "validation_error"
    )
    assert "sources.0" in body["errors"] or "sources" in body["errors"]
    assert _state() == before


@pytest.mark.parametrize("field", ["allow_list", "deny_list"])
def test_a_member_id_past_64_bits_in_a_policy_is_invalid(client_for, data_steward, field) -> None:
    from tests.exchange.support import published

    dataset = published(data_steward, tier="restricted")
    revision = dataset.policy.revision
    before = _state()
    values = {"tier": "restricted", "purposes": ["research"], "terms": "t", field: [10**30]}
    response = client_for(data_steward).put(f"/api/v1/datasets/{dataset.pk}/policy/", values, format="json")
    body = assert_problem(response, 400, "validation_error")
    assert any(key.startswith(field) for key in body["errors"])
    dataset.policy.refresh_from_db()
    assert dataset.policy.revision == revision
    assert _state() == before


# --- credit endpoints -------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["accept", "decline"])
@pytest.mark.parametrize("claim_id", ["abc", "%00"])
def test_a_claim_id_that_is_not_a_number_is_not_found(client_for, other_admin, action, claim_id) -> None:
    # Once a 500: the action read the id with int().
    before = _state()
    response = client_for(other_admin).post(f"/api/v1/credit/affiliation-claims/{claim_id}/{action}/")
    assert_problem(response, 404, "not_found")
    assert _state() == before


@pytest.mark.parametrize("path", ["flags/", "leaderboard/{epoch}/"])
def test_the_browsable_api_renders_lists_that_are_not_querysets(
    client_for, auditor, data_steward, other_analyst, member, other_member, path
) -> None:
    # Once a 500: the browsable API asked these views for a queryset to build a filter form they lack.
    from tests.ledger.credit.statement_support import settled_epoch

    epoch = settled_epoch(provider=data_steward, consumer=other_analyst, members=[member, other_member])
    response = client_for(auditor).get(f"/api/v1/credit/{path.format(epoch=epoch)}?format=api")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")


# --- NUL bytes in credentials -----------------------------------------------------------------------------
# Once a 500 on PostgreSQL, which refuses NUL in a text parameter (DataError); SQLite simply found nothing.


@pytest.mark.parametrize(
    "header", ["Api-Key \x00abcdefg.secret", "Api-Key abc\x00defg.secret", "Api-Key ab-cd.x"]
)
def test_an_api_key_whose_prefix_is_not_alphanumeric_is_invalid(
    api_client, member_admin, header, django_assert_num_queries
) -> None:
    api_client.credentials(HTTP_AUTHORIZATION=header)
    with django_assert_num_queries(0):  # refused before any lookup, on every database
        assert_problem(api_client.get("/api/v1/me/"), 401, "api_key_invalid")


def test_a_valid_api_key_still_authenticates(key_client) -> None:
    client, key, _ = key_client(["read"])
    response = client.get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json()["api_key"]["prefix"] == key.prefix


@pytest.mark.parametrize("path", ["/api/v1/me/", "/catalog/"])
def test_a_session_cookie_with_a_nul_byte_is_no_session(client, path, django_assert_num_queries) -> None:
    # Django unquotes a cookie's octal escapes, so `sessionid="...\000..."` reaches the session lookup.
    client.cookies["sessionid"] = "abcdefgh\x00ijklmnop"
    with django_assert_num_queries(0):  # no session lookup, on every database
        response = client.get(path)
    assert response.status_code in (302, 401)  # the portal sends to login; the API wants credentials


def test_a_real_session_still_logs_in(client, member_admin) -> None:
    client.force_login(member_admin)
    assert set(client.cookies["sessionid"].value) <= set("abcdefghijklmnopqrstuvwxyz0123456789")
    assert client.get("/api/v1/me/").json()["user"]["username"] == member_admin.username


# --- times in ledger filters ------------------------------------------------------------------------------
# An offset of up to 23:59 is valid ISO 8601. Kept as given, PostgreSQL refused one past 15:59 (a 500 there),
# and a time that leaves years 1 to 9999 once in UTC overflowed on every database.


@pytest.mark.parametrize(
    ("name", "value"), [("since", "0001-01-01T00:00:00+20:00"), ("until", "9999-12-31T23:59:59-20:00")]
)
def test_a_ledger_time_outside_the_years_in_utc_is_invalid(client_for, auditor, name, value) -> None:
    response = client_for(auditor).get("/api/v1/ledger/entries/", {name: value})
    body = assert_problem(response, 400, "validation_error")
    assert name in body["errors"]


def test_a_ledger_time_with_a_large_offset_is_compared_in_utc(client_for, auditor, member) -> None:
    from datetime import UTC, datetime, timedelta, timezone

    from ledger.services import ledger_append, ledger_sequence

    ledger_append(
        kind="test.thing", actor=None, subject_type="thing", subject_id=1, members=[member.pk], payload={}
    )
    ledger_sequence()
    seqs = [row["seq"] for row in client_for(auditor).get("/api/v1/ledger/entries/").json()["results"]]
    assert seqs
    far_east = timezone(timedelta(hours=20, minutes=26))
    later = (datetime.now(UTC) + timedelta(minutes=1)).astimezone(far_east).isoformat()
    earlier = (datetime.now(UTC) - timedelta(days=1)).astimezone(far_east).isoformat()
    client = client_for(auditor)
    assert [
        r["seq"] for r in client.get("/api/v1/ledger/entries/", {"until": later}).json()["results"]
    ] == seqs
    assert client.get("/api/v1/ledger/entries/", {"until": earlier}).json()["results"] == []
    assert [
        r["seq"] for r in client.get("/api/v1/ledger/entries/", {"since": earlier}).json()["results"]
    ] == seqs


# --- version uploads --------------------------------------------------------------------------------------


def test_a_files_media_type_longer_than_its_column_is_invalid(
    client_for, data_steward, settings, tmp_path
) -> None:
    # Once a 500 on PostgreSQL (value too long); SQLite stored it whole. Without a media_type field the
    # service takes the file part's own Content-Type, which the API's serializer never saw.
    from django.core.files.uploadedfile import SimpleUploadedFile

    from exchange.models import DatasetVersion
    from tests.exchange.support import published

    settings.MEDIA_ROOT = tmp_path / "media"
    dataset = published(data_steward, tier="open")
    stored = {path for path in (tmp_path / "media").rglob("*") if path.is_file()}
    versions, before = DatasetVersion.objects.count(), _state()
    upload = SimpleUploadedFile("readings.csv", b"a,b\n1,2\n", content_type="text/" + "x" * 100)
    response = client_for(data_steward).post(
        f"/api/v1/datasets/{dataset.pk}/versions/", {"file": upload}, format="multipart"
    )
    body = assert_problem(response, 400, "invalid_media_type")
    assert "media_type" in body["errors"]
    assert DatasetVersion.objects.count() == versions
    assert _state() == before
    assert {path for path in (tmp_path / "media").rglob("*") if path.is_file()} == stored


# --- bodies past DATA_UPLOAD_MAX_MEMORY_SIZE --------------------------------------------------------------


def _oversize_json(settings) -> str:
    return json.dumps({"dataset": 1, "justification": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)})


@pytest.mark.parametrize("accept", ["application/json", "text/html"])
def test_a_json_body_over_the_limit_is_payload_too_large(client_for, analyst, settings, accept) -> None:
    # Once Django's RequestDataTooBig: a 400 with a text/plain or HTML page (a traceback with DEBUG on).
    before = _state()
    response = client_for(analyst).post(
        "/api/v1/access-requests/",
        data=_oversize_json(settings),
        content_type="application/json",
        HTTP_ACCEPT=accept,
    )
    body = assert_problem(response, 413, "payload_too_large")
    assert body["limit_bytes"] == settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert str(settings.DATA_UPLOAD_MAX_MEMORY_SIZE) in body["detail"]
    assert _state() == before


def test_a_form_body_over_the_limit_is_payload_too_large(client_for, member_admin, settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client_for(member_admin).post(
        "/api/v1/users/",
        data=f"username=p&email=p%40own.example&role=analyst&first_name={'x' * 2000}",
        content_type="application/x-www-form-urlencoded",
    )
    assert assert_problem(response, 413, "payload_too_large")["limit_bytes"] == 1000
    assert not User.objects.filter(username="p").exists()


def test_a_form_with_too_many_fields_is_a_problem(client_for, member_admin, settings) -> None:
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    fields = "&".join(f"f{index}=1" for index in range(20))
    response = client_for(member_admin).post(
        "/api/v1/users/", data=fields, content_type="application/x-www-form-urlencoded"
    )
    assert assert_problem(response, 400, "too_many_fields")["limit"] == 10


def test_a_portal_form_over_the_limit_gets_a_page_that_says_so(client, settings) -> None:
    # The CSRF check reads the form before any view: Django's answer was a bare "Bad Request (400)".
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client.handler.enforce_csrf_checks = True
    token = client.get("/login/").cookies["csrftoken"].value
    response = client.post("/login/", {"csrfmiddlewaretoken": token, "username": "x" * 2000, "password": "p"})
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/html")
    assert b"too large" in response.content
    assert b"1000 bytes" in response.content or b"1 KB" in response.content


def test_an_api_request_django_refuses_before_any_view_is_a_problem(api_client) -> None:
    # A Host header not in ALLOWED_HOSTS is refused by CommonMiddleware: handler400, not DRF's handler.
    response = api_client.get("/api/v1/health/", HTTP_HOST="unknown.example")
    assert_problem(response, 400, "bad_request")


def test_a_refused_body_in_an_api_view_is_still_logged_as_a_security_event(
    client_for, member_admin, settings, caplog
) -> None:
    # Django logs every SuspiciousOperation to django.security.<class> (operators alert on it); the problem
    # handler answers these itself now, so it must log them as Django would have.
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    fields = "&".join(f"f{index}=1" for index in range(20))
    with caplog.at_level("ERROR", logger="django.security"):
        response = client_for(member_admin).post(
            "/api/v1/users/", data=fields, content_type="application/x-www-form-urlencoded"
        )
    assert_problem(response, 400, "too_many_fields")
    records = [record for record in caplog.records if record.name == "django.security.TooManyFieldsSent"]
    assert len(records) == 1
    assert records[0].levelname == "ERROR" and records[0].exc_info is not None
