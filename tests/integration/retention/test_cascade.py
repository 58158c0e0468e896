"""TTL deletions cascade (S3 attachments, audit log, counters); holds take the expiry off and put it back."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.integration.helpers import bearer, verify
from tests.integration.retention.conftest import lift_hold, now_epoch, place_hold

pytestmark = pytest.mark.integration

DAY = 86400
CONVERSATION_SECONDS = 90 * DAY


def message(subject_id: str, *, age_days: float, text: str = "hola [email]", n: int = 0) -> dict:
    """A conversation item as the channel worker stamps it, created ``age_days`` ago."""
    anchor = now_epoch() - int(age_days * DAY)
    return {
        "subject_id": subject_id,
        "sk": f"MSG#2026-01-01T00:00:0{n}.000Z#whatsapp#wamid.{uuid.uuid4().hex[:8]}",
        "text": text,
        "expires_at": anchor + CONVERSATION_SECONDS,
        "retention_policy": f"conversation#{CONVERSATION_SECONDS}",
        "retention_anchor": anchor,
    }


def attach(env, subject_id: str, item: dict, name: str = "photo.jpg") -> str:
    from habeas.retention import attachment_prefix

    key = attachment_prefix(subject_id, item["sk"]) + name
    env.s3().put_object(Bucket=env.bucket, Key=key, Body=b"\xff\xd8 jpeg bytes")
    return key


def audit_actions(env, subject_id: str) -> list[dict]:
    env.use_function("RetentionCascadeFunction")
    from habeas import audit

    return list(audit.entries(subject_id, newest_first=False))


def counter(env, sk: str) -> int:
    item = env.table("RETENTION_TABLE").get_item(Key={"pk": "stats", "sk": sk}).get("Item") or {}
    return int(item.get("count", 0))


def test_a_ttl_deletion_removes_the_attachments_and_writes_one_audit_entry_without_plaintext(retention_env):
    env = retention_env
    subject_id = f"sub_{uuid.uuid4().hex}"
    conversations = env.table("CONVERSATIONS_TABLE")
    expired = message(subject_id, age_days=91, text="mi correo es [email]")
    kept = message(subject_id, age_days=1, n=1)
    expired_file, kept_file = attach(env, subject_id, expired), attach(env, subject_id, kept)
    conversations.put_item(Item=expired)
    conversations.put_item(Item=kept)
    env.drain()
    deleted_before = counter(env, f"deleted#conversation#{_today()}")

    assert env.reap() >= 1
    env.drain()

    assert "Item" not in conversations.get_item(Key={"subject_id": subject_id, "sk": expired["sk"]})
    assert env.object_keys(f"attachments/{subject_id}/") == [kept_file]
    assert expired_file not in env.object_keys("attachments/")
    entries = [e for e in audit_actions(env, subject_id) if e["action"] == "retention.expired"]
    assert len(entries) == 1
    entry = entries[0]
    assert entry["actor"] == "retention" and entry["role"] == "system"
    assert entry["fields"] == ["text"]
    assert entry["detail"]["cause"] == "ttl" and entry["detail"]["category"] == "conversation"
    assert entry["detail"]["attachments_deleted"] == 1
    assert "correo" not in json.dumps(entry) and expired["sk"] not in json.dumps(entry)
    assert counter(env, f"deleted#conversation#{_today()}") == deleted_before + 1


def test_a_retried_ttl_record_changes_nothing_twice_and_an_application_delete_is_not_audited_as_retention(
    retention_env,
):
    env = retention_env
    subject_id = f"sub_{uuid.uuid4().hex}"
    conversations = env.table("CONVERSATIONS_TABLE")
    expired = message(subject_id, age_days=100)
    erased = message(subject_id, age_days=2, n=1)
    attach(env, subject_id, erased)
    conversations.put_item(Item=expired)
    conversations.put_item(Item=erased)
    env.drain()
    conversations.delete_item(Key={"subject_id": subject_id, "sk": erased["sk"]})  # e.g. an erasure
    env.reap()
    env.drain()
    ttl_batches = [event for event in env.invocations if any(r.get("userIdentity") for r in event["Records"])]
    assert ttl_batches
    # Lambda may deliver the same record again: replay it.
    from tests.conftest import import_handler

    env.use_function("RetentionCascadeFunction")
    replay = {"Records": [r for r in ttl_batches[-1]["Records"] if r.get("userIdentity")]}
    result = import_handler("retention_cascade").handler(replay, _context())
    assert result == {"batchItemFailures": []}

    entries = [e for e in audit_actions(env, subject_id) if e["action"] == "retention.expired"]
    assert len(entries) == 1  # the TTL deletion, once; the application's delete is not retention's
    assert env.object_keys(f"attachments/{subject_id}/") == []  # but the erased message's files go with it


def test_a_failing_record_is_reported_alone(retention_env, monkeypatch):
    env = retention_env
    from habeas.retention import cascade

    env.use_function("RetentionCascadeFunction")
    good, bad = (message(f"sub_{uuid.uuid4().hex}", age_days=1, n=i) for i in range(2))
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/{}/stream/x".format(
        env.aws.function_env("RetentionCascadeFunction")["CONVERSATIONS_TABLE"]
    )
    from habeas.dynamo import to_item

    records = [
        {
            "eventID": str(i),
            "eventName": "INSERT",
            "eventSource": "aws:dynamodb",
            "eventSourceARN": arn,
            "awsRegion": "us-east-1",
            "dynamodb": {"NewImage": to_item(item), "SequenceNumber": str(100 + i), "Keys": {}},
        }
        for i, item in enumerate((good, bad))
    ]
    real = cascade.keep_counters

    def flaky(old, new):
        if new and new["subject_id"] == bad["subject_id"]:
            raise RuntimeError("throttled")
        return real(old, new)

    monkeypatch.setattr(cascade, "keep_counters", flaky)
    from tests.conftest import import_handler

    result = import_handler("retention_cascade").handler({"Records": records}, _context())
    assert result == {"batchItemFailures": [{"itemIdentifier": "101"}]}


def test_a_hold_keeps_a_subject_through_ttl_and_its_expiry_returns_when_lifted(retention_env, call, outbox):
    env = retention_env
    subject_id = verify(call, outbox, f"held.{uuid.uuid4().hex[:6]}@example.com")["subject_id"]
    conversations = env.table("CONVERSATIONS_TABLE")
    old = message(subject_id, age_days=95)  # already past its 90 days: TTL would delete it now
    recent = message(subject_id, age_days=3, n=1)
    attach(env, subject_id, old)
    conversations.put_item(Item=recent)
    env.drain()
    hold_id = place_hold(env, call, subject_id)
    env.drain()  # the hold's stream record: expiry taken off the subject's items
    stored = conversations.get_item(Key={"subject_id": subject_id, "sk": recent["sk"]})["Item"]
    assert "expires_at" not in stored and int(stored["held_expires_at"]) == recent["expires_at"]

    conversations.put_item(Item=old)  # written while held (e.g. a late import): its expiry goes too
    env.drain()
    assert "expires_at" not in conversations.get_item(Key={"subject_id": subject_id, "sk": old["sk"]})["Item"]
    env.reap()
    env.drain()
    assert "Item" in conversations.get_item(Key={"subject_id": subject_id, "sk": old["sk"]})
    assert env.object_keys(f"attachments/{subject_id}/")

    lift_hold(env, call, subject_id, hold_id)
    env.drain()  # expiry restored from the policy: the old message is due at once
    restored = conversations.get_item(Key={"subject_id": subject_id, "sk": recent["sk"]})["Item"]
    assert int(restored["expires_at"]) == recent["expires_at"] and "held_expires_at" not in restored
    env.reap()
    env.drain()
    assert "Item" not in conversations.get_item(Key={"subject_id": subject_id, "sk": old["sk"]})
    assert "Item" in conversations.get_item(Key={"subject_id": subject_id, "sk": recent["sk"]})
    assert env.object_keys(f"attachments/{subject_id}/") == []
    actions = [e["action"] for e in audit_actions(env, subject_id)]
    assert actions.index("hold.placed") < actions.index("retention.suspended") < actions.index("hold.lifted")
    assert actions.index("retention.restored") < actions.index("retention.expired")


def test_an_expired_message_is_not_read_back_before_ttl_deletes_it(retention_env):
    env = retention_env
    subject_id = f"sub_{uuid.uuid4().hex}"
    expired = message(subject_id, age_days=91)
    env.table("CONVERSATIONS_TABLE").put_item(Item=expired)
    env.use_function("ChannelWorkerFunction")
    from habeas.channels.worker import ConversationStore

    store = ConversationStore()
    assert store.get(subject_id, expired["sk"]) is None
    fresh = {**message(subject_id, age_days=0), "sk": expired["sk"]}
    assert store.create(fresh) is True  # expired means gone: the key may be used again
    assert store.get(subject_id, expired["sk"])["expires_at"] == fresh["expires_at"]


def _today() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).date().isoformat()


def _context():
    from tests.conftest import FakeLambdaContext

    return FakeLambdaContext(aws_request_id=str(uuid.uuid4()))


def test_a_hold_keeps_the_subjects_request_records_including_one_filed_while_held(retention_env, call, outbox):
    env = retention_env
    verified = verify(call, outbox, f"held.requests.{uuid.uuid4().hex[:6]}@example.com")
    subject_id, auth = verified["subject_id"], bearer(verified["access_token"])
    requests = env.table("REQUESTS_TABLE")

    def file() -> dict:
        filed = call("ApiFunction", "POST", "/v1/requests", body={"type": "access"}, headers=auth)
        assert filed.status == 202, filed.body
        return requests.get_item(Key={"request_id": filed.body["request_id"]})["Item"]

    before = file()
    assert int(before["expires_at"]) > now_epoch() + 1800 * DAY  # the requests store's 1825 days
    env.drain()
    hold_id = place_hold(env, call, subject_id)
    env.drain()
    during = file()
    env.drain()
    for record in (before, during):
        stored = requests.get_item(Key={"request_id": record["request_id"]})["Item"]
        assert "expires_at" not in stored and stored["held_expires_at"] == record["expires_at"], stored

    lift_hold(env, call, subject_id, hold_id)
    env.drain()
    for record in (before, during):
        stored = requests.get_item(Key={"request_id": record["request_id"]})["Item"]
        assert stored["expires_at"] == record["expires_at"] and "held_expires_at" not in stored, stored


@pytest.mark.parametrize("stale_answers", [1, 99], ids=["once", "always"])
def test_a_hold_lifted_after_the_batch_asked_does_not_take_the_expiry_off(
    retention_env, call, outbox, monkeypatch, stale_answers
):
    # The batch learnt of a standing hold; the DPO lifts it (its restore runs) before the batch writes.
    # A hold table that never settles fails the record (for a retry) after a few rounds, writing nothing.
    env = retention_env
    subject_id = verify(call, outbox, f"stale.{uuid.uuid4().hex[:6]}@example.com")["subject_id"]
    hold_id = place_hold(env, call, subject_id)
    env.drain()
    env.use_function("RetentionCascadeFunction")
    from habeas import holds

    stale = holds.active_hold(subject_id)
    lift_hold(env, call, subject_id, hold_id)
    env.drain()
    real, answers = holds.active_hold, []

    def stale_first(subject):
        answers.append(subject)
        return stale if len(answers) <= stale_answers else real(subject)

    monkeypatch.setattr(holds, "active_hold", stale_first)
    item = message(subject_id, age_days=3)
    env.table("CONVERSATIONS_TABLE").put_item(Item=item)
    env.drain()
    stored = env.table("CONVERSATIONS_TABLE").get_item(Key={"subject_id": subject_id, "sk": item["sk"]})["Item"]
    assert int(stored["expires_at"]) == item["expires_at"] and "held_expires_at" not in stored
    assert len(answers) == (2 if stale_answers == 1 else 5)  # asked again after each refused transaction
