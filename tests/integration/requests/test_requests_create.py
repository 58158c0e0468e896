"""Filing a data-subject request: 202 with a deadline, one queued message per store, idempotency, 422s, 404s."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from habeas.requests.service import add_months
from tests.integration.helpers import bearer, verify
from tests.integration.requests.conftest import file_request, read_request

pytestmark = pytest.mark.integration


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _queued(worker) -> list[dict]:
    """The bodies on the requests queue (taken off it: the test consumes them)."""
    bodies = []
    while True:
        messages = worker.receive()
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            worker.sqs.delete_message(QueueUrl=worker.queue_url, ReceiptHandle=message["ReceiptHandle"])


def test_access_request_is_accepted_in_progress_with_one_message_per_applicable_store(call, subject, worker):
    answer = file_request(call, subject, {"type": "access"})
    assert answer.status == 202, answer.body
    assert set(answer.body) == {"request_id", "type", "status", "due_at"}
    assert answer.body["type"] == "access" and answer.body["status"] == "in_progress"
    request_id = answer.body["request_id"]

    shown = read_request(call, subject, request_id)
    assert shown.status == 200
    view = shown.body
    assert {"request_id", "type", "status", "created_at", "due_at", "completed_at", "stores"} <= set(view)
    assert view["completed_at"] is None and "export_url" not in view
    assert view["regulation"] == "gdpr"  # the deployment's default
    pending = {store for store, state in view["stores"].items() if state == "pending"}
    assert {"profiles", "identifiers", "conversations", "consent_ledger", "audit_log"} <= pending
    assert {view["stores"][s] for s in ("exports", "requests", "keyring")} == {"not_applicable"}

    queued = [body for body in _queued(worker) if body["request_id"] == request_id]
    assert sorted(body["store"] for body in queued) == sorted(pending)
    assert all(body["subject_id"] == subject["subject_id"] and body["type"] == "access" for body in queued)


@pytest.mark.parametrize(
    ("regulation", "due"),
    [
        ("gdpr", lambda created: add_months(created, 1)),
        ("lgpd", lambda created: created + timedelta(days=15)),
        ("ccpa", lambda created: created + timedelta(days=45)),
    ],
)
def test_due_at_follows_the_regulation(call, subject, worker, regulation, due):
    answer = file_request(call, subject, {"type": "erasure", "regulation": regulation})
    assert answer.status == 202
    view = read_request(call, subject, answer.body["request_id"]).body
    assert view["regulation"] == regulation
    assert _at(view["due_at"]) == due(_at(view["created_at"]))
    assert answer.body["due_at"] == view["due_at"]


def test_one_calendar_month_is_clamped_to_the_shorter_month():
    assert add_months(datetime(2026, 1, 31, 9, 30, tzinfo=UTC), 1) == datetime(2026, 2, 28, 9, 30, tzinfo=UTC)
    assert add_months(datetime(2028, 1, 31, tzinfo=UTC), 1) == datetime(2028, 2, 29, tzinfo=UTC)
    assert add_months(datetime(2026, 12, 15, tzinfo=UTC), 1) == datetime(2027, 1, 15, tzinfo=UTC)


def test_deadlines_are_configurable(call, subject, worker, monkeypatch):
    monkeypatch.setenv("REQUEST_DEADLINES", json.dumps({"gdpr": "P2M", "lgpd": "P10D", "ccpa": "P30D"}))
    from habeas import config

    config.get_settings.cache_clear()
    from habeas.requests import service

    created = datetime(2026, 3, 31, tzinfo=UTC)
    assert service.due_at(created, "gdpr") == datetime(2026, 5, 31, tzinfo=UTC)
    assert service.due_at(created, "lgpd") == created + timedelta(days=10)


def test_same_idempotency_key_and_body_returns_the_first_answer_and_creates_nothing(call, subject, worker):
    key = f"key-{uuid.uuid4().hex}"
    first = file_request(call, subject, {"type": "access"}, key=key)
    again = file_request(call, subject, {"type": "access"}, key=key)
    assert first.status == again.status == 202
    assert again.body == first.body
    listed = call("ApiFunction", "GET", "/v1/requests", headers=subject["auth"]).body["requests"]
    assert [r["request_id"] for r in listed] == [first.body["request_id"]]
    reused = file_request(call, subject, {"type": "erasure"}, key=key)
    assert reused.status in (409, 422) and reused.headers["content-type"] == "application/problem+json"
    assert len(call("ApiFunction", "GET", "/v1/requests", headers=subject["auth"]).body["requests"]) == 1
    queued = {body["request_id"] for body in _queued(worker)}
    assert queued == {first.body["request_id"]}


def test_another_subjects_key_does_not_return_this_subjects_answer(call, outbox, subject, worker):
    key = f"key-{uuid.uuid4().hex}"
    mine = file_request(call, subject, {"type": "access"}, key=key)
    other = verify(call, outbox, f"dsr-other-{uuid.uuid4().hex[:8]}@example.com")
    theirs = file_request(call, {"auth": bearer(other["access_token"])}, {"type": "access"}, key=key)
    assert theirs.status == 202 and theirs.body["request_id"] != mine.body["request_id"]


@pytest.mark.parametrize(
    "body",
    [
        {"type": "forget-me"},
        {"type": "access", "regulation": "hipaa"},
        {"type": "rectification"},
        {"type": "rectification", "changes": {}},
        {"type": "access", "changes": {"name": "Ana"}},
        {"type": "rectification", "changes": {"favourite_colour": "blue"}},
        {"type": "rectification", "changes": {"email": "not-an-email"}},
        {"type": "rectification", "changes": {"phone": "+00 123"}},
        {"type": "rectification", "changes": {"phone": "ana@example.com"}},
        {"type": "rectification", "changes": {"name": 42}},
        {"type": "rectification", "changes": {"name": "   "}},
        {"type": "rectification", "changes": {"address": "x" * 501}},
        {"type": "rectification", "changes": {"subject_id": "sub_someone_else"}},
    ],
)
def test_bad_requests_are_422_and_record_nothing(call, subject, worker, body):
    answer = file_request(call, subject, body)
    assert answer.status == 422, answer.body
    assert answer.headers["content-type"] == "application/problem+json"
    assert "not-an-email" not in json.dumps(answer.body) and "x" * 50 not in json.dumps(answer.body)
    assert call("ApiFunction", "GET", "/v1/requests", headers=subject["auth"]).body == {"requests": []}
    assert _queued(worker) == []


def test_malformed_json_is_400_and_no_token_is_401(call, subject):
    assert call("ApiFunction", "POST", "/v1/requests", raw_body="{nope", headers=subject["auth"]).status == 400
    assert call("ApiFunction", "POST", "/v1/requests", body={"type": "access"}).status == 401
    assert call("ApiFunction", "GET", "/v1/requests").status == 401


def test_rectifying_to_another_subjects_email_is_409_and_records_nothing(call, outbox, subject, worker):
    taken = f"dsr-taken-{uuid.uuid4().hex[:8]}@example.com"
    verify(call, outbox, taken)
    answer = file_request(call, subject, {"type": "rectification", "changes": {"email": taken}})
    assert answer.status == 409
    assert call("ApiFunction", "GET", "/v1/requests", headers=subject["auth"]).body == {"requests": []}


def test_another_subjects_request_is_404_like_an_unknown_one(call, outbox, subject, worker):
    mine = file_request(call, subject, {"type": "access"}).body["request_id"]
    other = verify(call, outbox, f"dsr-other-{uuid.uuid4().hex[:8]}@example.com")
    intruder = {"auth": bearer(other["access_token"])}
    stolen = read_request(call, intruder, mine)
    unknown = read_request(call, intruder, f"req_{uuid.uuid4().hex}")
    assert stolen.status == unknown.status == 404
    assert stolen.body["detail"] == unknown.body["detail"]
    assert read_request(call, intruder, "../../etc").status == 404
    assert call("ApiFunction", "GET", "/v1/requests", headers=intruder["auth"]).body == {"requests": []}


def test_own_requests_are_listed_newest_first(call, subject, worker):
    ids = [file_request(call, subject, {"type": kind}).body["request_id"] for kind in ("access", "portability")]
    listed = call("ApiFunction", "GET", "/v1/requests", headers=subject["auth"])
    assert listed.status == 200
    assert [r["request_id"] for r in listed.body["requests"]] == list(reversed(ids))
    assert all(r["status"] == "in_progress" for r in listed.body["requests"])


@pytest.mark.parametrize("step", ["audit", "queue"])
def test_a_request_whose_filing_breaks_half_way_is_failed_not_left_open(call, subject, worker, monkeypatch, step):
    from habeas import audit
    from habeas.errors import Conflict
    from habeas.requests import service

    def broken(*_args, **_kwargs):
        raise Conflict("too many concurrent writes to the same log; retry")

    if step == "audit":  # the audit chain stayed contended for the whole retry budget
        monkeypatch.setattr(audit, "record", broken)
    else:  # SQS refused the messages
        monkeypatch.setattr(service, "send", broken)
    assert file_request(call, subject, {"type": "access"}).status == 409
    monkeypatch.undo()
    listed = call("ApiFunction", "GET", "/v1/requests", headers=subject["auth"]).body["requests"]
    assert [r["status"] for r in listed] == ["failed"]
    assert _queued(worker) == []
    actions = [e["action"] for e in audit.entries(subject["subject_id"], newest_first=False)]
    if step == "queue":
        assert actions[-2:] == ["request.received", "request.failed"]
    else:  # the audit log refused every entry: the request record alone says what happened
        assert not [action for action in actions if action.startswith("request.")]


def test_a_failed_filing_whose_failure_cannot_be_recorded_still_answers_with_the_first_error(
    call, subject, worker, monkeypatch
):
    from habeas.errors import Conflict
    from habeas.requests import service
    from habeas.requests.store import RequestStore

    def broken(*_args, **_kwargs):
        raise Conflict("too many concurrent writes to the same log; retry")

    def store_down(*_args, **_kwargs):
        raise RuntimeError("the requests table is unreachable")

    monkeypatch.setattr(service, "send", broken)
    monkeypatch.setattr(RequestStore, "fail", store_down)
    assert file_request(call, subject, {"type": "access"}).status == 409
