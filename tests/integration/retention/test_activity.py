"""Retention of what is kept from the subject's last activity (profile, identifiers, consent ledger) and of
the audit log, whose oldest entries expire while its chains stay verifiable."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from unittest import mock

import boto3
import pytest

from tests.integration.helpers import bearer, verify
from tests.integration.retention.conftest import now_epoch

pytestmark = pytest.mark.integration

DAY = 86400
PROFILE, IDENTIFIERS, CONSENT, AUDIT = 1095 * DAY, 1095 * DAY, 1825 * DAY, 2190 * DAY
CONSENT_ROUTE = "/v1/consents/{purpose}"


def today() -> int:
    now = now_epoch()
    return now - now % DAY


def _consent(call, token: str, granted: bool):
    answer = call(
        "ApiFunction",
        "PUT",
        "/v1/consents/marketing",
        route=CONSENT_ROUTE,
        body={"granted": granted, "policy_version": "2026-01", "channel": "portal"},
        headers=bearer(token),
    )
    assert answer.status == 200, answer.body
    return answer.body


def _table(env, name: str):
    return boto3.resource("dynamodb", endpoint_url=env.aws.moto_url).Table(
        env.aws.function_env("RetentionCascadeFunction")[name]
    )


def subject_items(env, subject_id: str) -> dict[str, list[dict]]:
    """The subject's profile, identifier rows and consent ledger items, read by key (no scans)."""
    profile = _table(env, "SUBJECTS_TABLE").get_item(Key={"subject_id": subject_id}).get("Item")
    identifiers = _table(env, "IDENTIFIERS_TABLE").query(
        IndexName="by_subject",
        KeyConditionExpression="subject_id = :s",
        ExpressionAttributeValues={":s": subject_id},
    )["Items"]
    consents = _table(env, "CONSENTS_TABLE").query(
        KeyConditionExpression="subject_id = :s", ExpressionAttributeValues={":s": subject_id}, ConsistentRead=True
    )["Items"]
    return {"profiles": [profile] if profile else [], "identifiers": identifiers, "consents": consents}


def move_back(env, subject_id: str, days: int, *, seconds: int = 0) -> None:
    """Make the subject's last activity ``days`` (+ ``seconds``) older than today (anchors and expiries)."""
    shift = days * DAY + seconds
    tables = {"profiles": "SUBJECTS_TABLE", "identifiers": "IDENTIFIERS_TABLE", "consents": "CONSENTS_TABLE"}
    keys = {"profiles": ["subject_id"], "identifiers": ["blind_index"], "consents": ["subject_id", "sk"]}
    for store, items in subject_items(env, subject_id).items():
        for item in items:
            names = {"#a": "retention_anchor", "#e": "expires_at"}
            sets = "#a = :a, #e = :e"
            values = {":a": int(item["retention_anchor"]) - shift, ":e": int(item["expires_at"]) - shift}
            if store == "profiles":
                names["#l"], sets = "last_activity", sets + ", #l = :a"
            _table(env, tables[store]).update_item(
                Key={k: item[k] for k in keys[store]},
                UpdateExpression=f"SET {sets}",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )


def test_a_subject_is_kept_from_its_last_activity_and_new_activity_moves_every_anchor(retention_env, call, outbox):
    env = retention_env
    confirmed = verify(call, outbox, f"active-{uuid.uuid4().hex[:10]}@example.com")
    subject_id, token = confirmed["subject_id"], confirmed["access_token"]
    _consent(call, token, True)
    env.drain()

    stored = subject_items(env, subject_id)
    policies = {
        "profiles": ("profile", PROFILE),
        "identifiers": ("identifiers", IDENTIFIERS),
        "consents": ("consent", CONSENT),
    }
    for store, (category, seconds) in policies.items():
        assert stored[store], store
        for item in stored[store]:  # every item, the ledger's head and current state included
            assert item["retention_policy"] == f"{category}#{seconds}", (store, item.get("sk"))
            assert int(item["retention_anchor"]) == today()
            assert int(item["expires_at"]) == today() + seconds
    assert int(stored["profiles"][0]["last_activity"]) == today()

    move_back(env, subject_id, 400)
    env.drain()
    _consent(call, token, False)  # the subject acts again: withdrawing is activity too
    env.drain()

    after = subject_items(env, subject_id)
    for store, (_category, seconds) in policies.items():
        for item in after[store]:
            assert int(item["retention_anchor"]) == today(), (store, item.get("sk"))
            assert int(item["expires_at"]) == today() + seconds
    assert len(after["consents"]) == len(stored["consents"]) + 1  # the withdrawal's event
    env.use_function("ApiFunction")
    from habeas import consent

    assert consent.verify_ledger(subject_id).ok  # re-stamping never touches what the chain hashes


def test_an_expired_profile_finds_nobody_and_its_ttl_deletion_retires_identifiers_and_keys(
    retention_env, call, outbox, use_function
):
    env = retention_env
    email = f"gone-{uuid.uuid4().hex[:10]}@example.com"
    subject_id = verify(call, outbox, email)["subject_id"]
    use_function("AdminFunction")
    from habeas import profiles, subjects
    from habeas.identifiers import blind_index, normalise

    profiles.put_profile(subject_id, {"name": "Ana Souza"})  # encrypted: the subject now has a data key
    keyring = _table(env, "KEYRING_TABLE")
    assert keyring.query(KeyConditionExpression="subject_id = :s", ExpressionAttributeValues={":s": subject_id})[
        "Items"
    ]
    env.drain()

    move_back(env, subject_id, 1095, seconds=120)  # silent for the whole policy, and two minutes more

    use_function("AdminFunction")
    assert subjects.find(blind_index(normalise(email))) is None  # expired, though not yet deleted
    assert profiles.subject_item(subject_id) is None

    env.reap()
    env.drain()

    left = subject_items(env, subject_id)
    assert left["profiles"] == [] and left["identifiers"] == []
    keys = keyring.query(KeyConditionExpression="subject_id = :s", ExpressionAttributeValues={":s": subject_id})[
        "Items"
    ]
    assert [k.get("state") for k in keys] == ["shredded"]  # only the tombstone: no key material left
    use_function("RetentionCascadeFunction")
    from habeas import audit

    expired = [e for e in audit.entries(subject_id) if e["action"] == "retention.expired"]
    profile_entry = next(e for e in expired if e["detail"]["store"] == "profiles")
    assert profile_entry["detail"]["cause"] == "ttl" and profile_entry["detail"]["category"] == "profile"
    assert profile_entry["detail"]["retired"]["keyring"] >= 1
    assert "Ana" not in str(expired) and email not in str(expired)


def test_verifying_again_after_expiry_starts_a_new_subject_and_leaves_it_alone(retention_env, call, outbox):
    env = retention_env
    email = f"back-{uuid.uuid4().hex[:10]}@example.com"
    old_subject = verify(call, outbox, email)["subject_id"]
    env.drain()
    move_back(env, old_subject, 1095, seconds=120)

    new_subject = verify(call, outbox, email)["subject_id"]  # the expired blind index is taken over
    env.reap()
    env.drain()

    assert new_subject != old_subject
    assert subject_items(env, old_subject)["profiles"] == []
    kept = subject_items(env, new_subject)
    assert kept["profiles"] and len(kept["identifiers"]) == 1  # the old subject's retirement left it alone


def test_a_consent_ledger_expires_whole_and_is_neither_served_nor_reported_broken(retention_env, call, outbox):
    env = retention_env
    confirmed = verify(call, outbox, f"ledger-{uuid.uuid4().hex[:10]}@example.com")
    subject_id, token = confirmed["subject_id"], confirmed["access_token"]
    _consent(call, token, True)
    env.drain()
    move_back(env, subject_id, 1825, seconds=120)

    env.use_function("ApiFunction")
    from habeas import consent

    assert consent.current_consents(subject_id) == []
    assert consent.history(subject_id, "marketing") == []
    report = consent.verify_ledger(subject_id)
    assert report.ok and report.reason == "expired"

    env.reap()
    env.drain()
    assert subject_items(env, subject_id)["consents"] == []
    assert consent.verify_ledger(subject_id).ok


def _record(subject_id: str, action: str, at: datetime | None = None) -> dict:
    from habeas import audit, clock

    with mock.patch.object(clock, "now", return_value=at or datetime.now(UTC)):
        return audit.record(
            audit.Actor(id="tester", role="system"), audit.AuditEvent(action=action, subject_id=subject_id)
        )


def test_an_audit_chain_loses_its_oldest_entries_to_retention_and_stays_verifiable(retention_env, use_function):
    env = retention_env
    use_function("ApiFunction")
    from habeas import audit

    subject_id = f"sub_{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    for day in range(3):  # three entries past the 6-year policy (by a few days)
        _record(subject_id, f"old.{day}", now - timedelta(days=2195 - day))
    young = [_record(subject_id, f"new.{n}") for n in range(2)]

    assert [e["action"] for e in audit.entries(subject_id, newest_first=False)] == ["new.0", "new.1"]
    assert audit.verify(subject_id).ok  # expired entries still there: linked through

    env.reap()  # DynamoDB's TTL deletes the three old ones
    report = audit.verify(subject_id)
    assert report.ok and report.events == 2

    # Deleting an entry that is not past retention is still a break, wherever it is.
    chain = _table(env, "AUDIT_TABLE")
    chain.delete_item(Key={"chain": f"subject#{subject_id}", "seq": young[0]["seq"]})
    broken = audit.verify(subject_id)
    assert not broken.ok and broken.reason == "missing or reordered event"


def test_deleting_the_start_of_a_young_audit_chain_is_a_break(retention_env, use_function):
    env = retention_env
    use_function("ApiFunction")
    from habeas import audit

    subject_id = f"sub_{uuid.uuid4().hex}"
    for n in range(3):
        _record(subject_id, f"a.{n}")
    _table(env, "AUDIT_TABLE").delete_item(Key={"chain": f"subject#{subject_id}", "seq": 1})

    report = audit.verify(subject_id)
    assert not report.ok and report.broken_at == 1
