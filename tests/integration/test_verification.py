import json

import pytest

from tests.integration.helpers import code_sent_to, items, verify

pytestmark = pytest.mark.integration
CONFIRM = "/v1/verifications/{verification_id}/confirm"


def _start(call, identifier, **extra):
    return call("ApiFunction", "POST", "/v1/verifications", body={"identifier": identifier, **extra})


def _confirm(call, verification_id, code):
    return call(
        "ApiFunction", "POST", f"/v1/verifications/{verification_id}/confirm", route=CONFIRM, body={"code": code}
    )


def test_email_verification_issues_a_token_and_creates_the_subject_once(call, outbox):
    first = verify(call, outbox, "maria.lopez@example.com")
    assert first["token_type"] == "Bearer" and first["expires_in"] == 900
    assert first["subject_id"].startswith("sub_")
    again = verify(call, outbox, "Maria.Lopez@Example.com")
    assert again["subject_id"] == first["subject_id"]


def test_sms_verification_normalises_the_phone_to_e164(call, outbox):
    first = verify(call, outbox, "+55 11 98765-4321")
    assert any(m["to"] == "+5511987654321" and m["channel"] == "sms" for m in outbox())
    assert verify(call, outbox, "+5511987654321")["subject_id"] == first["subject_id"]


def test_known_and_unknown_identifiers_get_the_same_answer(call, outbox):
    verify(call, outbox, "known@example.com")
    known = _start(call, "known@example.com")
    unknown = _start(call, "nobody-yet@example.com")
    assert known.status == unknown.status == 202
    assert set(known.body) == set(unknown.body) == {"verification_id"}


def test_the_fifth_wrong_code_kills_the_verification(call, outbox):
    started = _start(call, "guesser@example.com")
    code = code_sent_to(outbox, "guesser@example.com")
    wrong = "000000" if code != "000000" else "111111"
    statuses = [_confirm(call, started.body["verification_id"], wrong).status for _ in range(5)]
    assert statuses == [401, 401, 401, 401, 429]
    assert _confirm(call, started.body["verification_id"], code).status == 429


def test_a_code_works_once(call, outbox):
    started = _start(call, "once@example.com")
    code = code_sent_to(outbox, "once@example.com")
    assert _confirm(call, started.body["verification_id"], code).status == 200
    assert _confirm(call, started.body["verification_id"], code).status == 401


def test_an_expired_code_is_refused(call, outbox, embedded_aws):
    import boto3

    started = _start(call, "late@example.com")
    code = code_sent_to(outbox, "late@example.com")
    table = boto3.resource("dynamodb", endpoint_url=embedded_aws.moto_url).Table(
        embedded_aws.function_env("ApiFunction")["VERIFICATIONS_TABLE"]
    )
    table.update_item(
        Key={"verification_id": started.body["verification_id"]},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": 1},
    )
    answer = _confirm(call, started.body["verification_id"], code)
    assert answer.status == 401 and answer.headers["content-type"] == "application/problem+json"


def test_codes_and_identifiers_are_stored_only_as_hashes(call, outbox, embedded_aws):
    started = _start(call, "hashed.person@example.com")
    code = code_sent_to(outbox, "hashed.person@example.com")
    stored = next(
        i for i in items(embedded_aws, "verifications_table") if i["verification_id"] == started.body["verification_id"]
    )
    text = json.dumps(stored, default=str)
    assert code not in text and "hashed.person" not in text
    assert len(stored["code_hash"]) == 64 and len(stored["blind_index"]) == 64
    # Kept for the data map's verification policy (10 minutes), then DynamoDB's TTL removes it.
    assert int(stored["expires_at"]) - int(stored["created_at"]) == 10 * 60


def test_unknown_verification_id_is_404(call):
    assert _confirm(call, "ver_0000000000000000000000000000dead", "123456").status == 404
    assert _confirm(call, "rate#anything", "123456").status == 404


def test_idempotency_key_repeats_the_first_answer_and_sends_one_code(call, outbox):
    headers = {"Idempotency-Key": "portal-key-0001"}
    first = call("ApiFunction", "POST", "/v1/verifications", body={"identifier": "idem@example.com"}, headers=headers)
    again = call("ApiFunction", "POST", "/v1/verifications", body={"identifier": "idem@example.com"}, headers=headers)
    assert first.status == again.status == 202
    assert first.body == again.body
    assert len([m for m in outbox() if m["to"] == "idem@example.com"]) == 1
    other = call("ApiFunction", "POST", "/v1/verifications", body={"identifier": "idem2@example.com"}, headers=headers)
    assert other.status == 422
    assert not [m for m in outbox() if m["to"] == "idem2@example.com"]


def test_too_many_verifications_for_one_identifier_is_429(call):
    statuses = [_start(call, "pumped@example.com").status for _ in range(6)]
    assert statuses == [202] * 5 + [429]


@pytest.mark.parametrize(
    ("raw_body", "status"),
    [
        ('{"identifier": "bad-json@example.com"', 400),
        ('["bad-json@example.com"]', 400),
        ('{"identifier": 12345}', 422),
        ('{"identifier": "not an identifier"}', 422),
        ('{"identifier": "+123"}', 422),
        ('{"identifier": "bad-json@example.com", "channel": "sms"}', 422),
        ('{"identifier": "bad-json@example.com", "channel": "pigeon"}', 422),
        ('{"channel": "email"}', 422),
        (json.dumps({"identifier": "bad-json@example.com", "pad": "x" * 270_000}), 413),
    ],
)
def test_bad_verification_input_is_a_problem_and_writes_nothing(call, outbox, embedded_aws, raw_body, status):
    before = len(items(embedded_aws, "verifications_table"))
    sent = len(outbox())
    answer = call("ApiFunction", "POST", "/v1/verifications", raw_body=raw_body)
    assert answer.status == status
    assert answer.headers["content-type"] == "application/problem+json"
    assert {"type", "title", "status", "detail"} <= set(answer.body) and answer.body["status"] == status
    assert "bad-json" not in json.dumps(answer.body)  # rejected values are never echoed
    assert len(items(embedded_aws, "verifications_table")) == before
    assert len(outbox()) == sent


def test_bad_confirm_input_is_a_problem(call, outbox):
    started = _start(call, "confirm-input@example.com")
    vid = started.body["verification_id"]
    for body, status in (({"code": "12345"}, 422), ({"code": 123456}, 422), ({}, 422)):
        assert (
            call("ApiFunction", "POST", f"/v1/verifications/{vid}/confirm", route=CONFIRM, body=body).status == status
        )
    code = code_sent_to(outbox, "confirm-input@example.com")
    assert _confirm(call, vid, code).status == 200  # the malformed tries did not count against the code
