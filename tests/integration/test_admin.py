import json
import time

import jwt
import pytest

from tests.integration.helpers import bearer, verify

pytestmark = pytest.mark.integration


@pytest.fixture
def staff(embedded_aws):
    def token(groups, **overrides):
        return bearer(embedded_aws.staff_token("staff-7", groups, **overrides))

    return token


def test_staff_find_a_subject_by_identifier_through_the_blind_index(call, outbox, staff):
    subject = verify(call, outbox, "+34 612 345 678")
    found = call(
        "AdminFunction", "GET", "/v1/admin/subjects", query={"identifier": "+34612345678"}, headers=staff(["agent"])
    )
    assert found.status == 200 and found.body == {"subject_id": subject["subject_id"]}
    missing = call(
        "AdminFunction",
        "GET",
        "/v1/admin/subjects",
        query={"identifier": "ghost@example.com"},
        headers=staff(["agent"]),
    )
    assert missing.status == 404 and "ghost" not in json.dumps(missing.body)
    malformed = call(
        "AdminFunction",
        "GET",
        "/v1/admin/subjects",
        query={"identifier": "not-an-identifier"},
        headers=staff(["agent"]),
    )
    assert malformed.status == 422


def test_only_a_dpo_reads_the_audit_log_and_it_holds_no_personal_data(call, outbox, staff):
    subject = verify(call, outbox, "audited.person@example.com")
    query = {"subject_id": subject["subject_id"]}
    assert call("AdminFunction", "GET", "/v1/admin/audit", query=query, headers=staff(["agent"])).status == 403
    assert call("AdminFunction", "GET", "/v1/admin/audit", query=query, headers=staff(["supervisor"])).status == 403
    answer = call("AdminFunction", "GET", "/v1/admin/audit", query=query, headers=staff(["dpo"]))
    assert answer.status == 200 and answer.body["chain_ok"] is True
    event = answer.body["events"][-1]
    assert {"at", "actor", "role", "action", "subject_id", "fields", "purpose", "source_ip"} <= set(event) | {"purpose"}
    assert event["action"] == "subject.created" and event["subject_id"] == subject["subject_id"]
    assert "audited.person" not in json.dumps(answer.body)


@pytest.mark.parametrize(
    "overrides",
    [
        {"expired": True},
        {"audience": "some-other-client"},
        {"issuer": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_forged"},
    ],
)
def test_expired_wrong_audience_and_wrong_issuer_staff_tokens_are_401(call, staff, overrides):
    answer = call(
        "AdminFunction",
        "GET",
        "/v1/admin/subjects",
        query={"identifier": "x@example.com"},
        headers=staff(["dpo"], **overrides),
    )
    assert answer.status == 401


def test_forged_staff_tokens_are_401(call):
    now = int(time.time())
    forged = jwt.encode(
        {"sub": "x", "cognito:groups": ["dpo"], "iat": now, "exp": now + 600}, "guess", algorithm="HS256"
    )
    for header in ({}, bearer(forged), bearer("garbage")):
        answer = call(
            "AdminFunction", "GET", "/v1/admin/subjects", query={"identifier": "x@example.com"}, headers=header
        )
        assert answer.status == 401


def test_a_staff_token_without_a_habeas_role_is_403(call, staff):
    answer = call(
        "AdminFunction",
        "GET",
        "/v1/admin/subjects",
        query={"identifier": "x@example.com"},
        headers=staff(["marketing-team"]),
    )
    assert answer.status == 403
