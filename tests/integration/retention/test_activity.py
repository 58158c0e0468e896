"""Retention of what is kept from the subject's last activity (profile, identifiers, consent ledger) and of
the audit log, whose oldest entries expire while its chains stay verifiable."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

import boto3
import pytest

from tests.integration.helpers import bearer, verify
from tests.integration.retention.conftest import lift_hold, now_epoch, place_hold

pytestmark = pytest.mark.integration

DAY = 86400
DATAMAP = Path(__file__).resolve().parents[3] / "layers/habeas/habeas/config/datamap.yaml"
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


def _report(call, env) -> dict[str, int]:
    answer = call("AdminFunction", "GET", "/v1/admin/retention", headers=bearer(env.aws.staff_token("dpo-3", ["dpo"])))
    assert answer.status == 200, answer.body
    return {c["category"]: c["items_kept"] for c in answer.body["categories"]}


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
    """Make the subject's last activity ``days`` (+ ``seconds``) older than today (anchors and expiries).

    A held item's expiry is the one its hold parked (``held_expires_at``); it moves back the same way.
    """
    shift = days * DAY + seconds
    tables = {"profiles": "SUBJECTS_TABLE", "identifiers": "IDENTIFIERS_TABLE", "consents": "CONSENTS_TABLE"}
    keys = {"profiles": ["subject_id"], "identifiers": ["blind_index"], "consents": ["subject_id", "sk"]}
    for store, items in subject_items(env, subject_id).items():
        for item in items:
            expiry = "held_expires_at" if "held_expires_at" in item else "expires_at"
            names = {"#a": "retention_anchor", "#e": expiry}
            sets = "#a = :a, #e = :e"
            values = {":a": int(item["retention_anchor"]) - shift, ":e": int(item[expiry]) - shift}
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
    kept_before = _report(call, env)
    confirmed = verify(call, outbox, f"active-{uuid.uuid4().hex[:10]}@example.com")
    subject_id, token = confirmed["subject_id"], confirmed["access_token"]
    _consent(call, token, True)
    env.drain()
    kept = _report(call, env)
    assert kept["profile"] == kept_before["profile"] + 1  # the report counts them (stream-kept counters)
    assert kept["identifiers"] == kept_before["identifiers"] + 1
    assert kept["consent"] == kept_before["consent"] + 3  # the ledger head, the event, the current state

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


def test_verifying_again_after_a_quiet_year_is_activity(retention_env, call, outbox):
    env = retention_env
    email = f"quiet-{uuid.uuid4().hex[:10]}@example.com"
    subject_id = verify(call, outbox, email)["subject_id"]
    env.drain()
    move_back(env, subject_id, 365)

    assert verify(call, outbox, email)["subject_id"] == subject_id
    env.drain()

    stored = subject_items(env, subject_id)
    assert int(stored["profiles"][0]["last_activity"]) == today()
    assert [int(i["retention_anchor"]) for i in stored["identifiers"]] == [today()]


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

    entries = list(audit.entries(subject_id))
    profile_entry = next(
        e for e in entries if e["action"] == "retention.expired" and e["detail"]["store"] == "profiles"
    )
    assert profile_entry["detail"]["cause"] == "ttl" and profile_entry["detail"]["category"] == "profile"
    [retired] = [e for e in entries if e["action"] == "retention.retired"]
    assert retired["detail"]["removed"]["keyring"] >= 1
    assert "Ana" not in str(entries) and email not in str(entries)


def test_an_identifier_claimed_by_a_rectification_expires_with_its_profile(retention_env, call, outbox, use_function):
    env = retention_env
    subject_id = verify(call, outbox, f"moved-{uuid.uuid4().hex[:10]}@example.com")["subject_id"]
    env.drain()
    move_back(env, subject_id, 200)
    use_function("AdminFunction")
    from habeas import profiles

    profiles.put_profile(subject_id, {"email": f"new-{uuid.uuid4().hex[:10]}@example.com"})  # staff: not activity

    stored = subject_items(env, subject_id)
    [profile], [identifier] = stored["profiles"], stored["identifiers"]
    assert int(identifier["retention_anchor"]) == int(profile["retention_anchor"]) == today() - 200 * DAY
    assert int(identifier["expires_at"]) == int(profile["expires_at"])


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


def test_a_consent_ledger_expires_whole_and_is_neither_served_nor_reported_broken(retention_env, use_function):
    env = retention_env
    use_function("ApiFunction")
    from habeas import consent

    subject_id = f"sub_{uuid.uuid4().hex}"
    then = datetime.now(UTC) - timedelta(days=1826)  # decided once, five years and a day ago, never again
    for granted in (True, False):
        _consent_at(then, subject_id, granted=granted)
    stored = subject_items(env, subject_id)["consents"]
    assert len(stored) == 4 and all(int(i["expires_at"]) <= now_epoch() for i in stored)  # head, 2 events, state

    assert consent.current_consents(subject_id) == []
    assert consent.history(subject_id, "marketing") == []
    report = consent.verify_ledger(subject_id)
    assert report.ok and report.reason == "expired"

    _table(env, "CONSENTS_TABLE").delete_item(Key={"subject_id": subject_id, "sk": "HEAD"})  # TTL: lazily, any order
    assert consent.verify_ledger(subject_id).ok
    env.reap()
    env.drain()
    assert subject_items(env, subject_id)["consents"] == []
    assert consent.verify_ledger(subject_id).ok


def _consent_at(then: datetime, subject_id: str, *, granted: bool) -> None:
    """A consent decision recorded as if at ``then`` (ApiFunction's environment in use)."""
    from habeas import audit, clock, consent

    with mock.patch.object(clock, "now", return_value=then):
        consent.record_consent(
            subject_id,
            "marketing",
            granted=granted,
            policy_version="2026-01",
            channel="portal",
            locale=None,
            actor=audit.Actor(id=subject_id, role="subject"),
        )


def _record(subject_id: str, action: str, at: datetime | None = None) -> dict:
    from habeas import audit, clock

    with mock.patch.object(clock, "now", return_value=at or datetime.now(UTC)):
        return audit.record(
            audit.Actor(id="tester", role="system"), audit.AuditEvent(action=action, subject_id=subject_id)
        )


def _young_chain(count: int) -> tuple[str, list[dict]]:
    """A new subject's audit chain of ``count`` entries recorded now."""
    subject_id = f"sub_{uuid.uuid4().hex}"
    return subject_id, [_record(subject_id, f"a.{n}") for n in range(count)]


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


def test_a_forged_expiry_on_a_young_chain_head_does_not_silence_verification(retention_env, use_function):
    env = retention_env
    use_function("ApiFunction")
    from habeas import audit

    subject_id, _ = _young_chain(2)
    _table(env, "AUDIT_TABLE").update_item(
        Key={"chain": f"subject#{subject_id}", "seq": 0},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": now_epoch() - 60},
    )

    report = audit.verify(subject_id)
    assert not report.ok and report.reason == "chain head missing or expired before its events"


def test_deleting_the_start_of_a_young_audit_chain_is_a_break(retention_env, use_function):
    env = retention_env
    use_function("ApiFunction")
    from habeas import audit

    subject_id, _ = _young_chain(3)
    _table(env, "AUDIT_TABLE").delete_item(Key={"chain": f"subject#{subject_id}", "seq": 1})

    report = audit.verify(subject_id)
    assert not report.ok and report.broken_at == 1


def _audit_items(env, subject_id: str) -> list[dict]:
    return _table(env, "AUDIT_TABLE").query(
        KeyConditionExpression="chain = :c", ExpressionAttributeValues={":c": f"subject#{subject_id}"}
    )["Items"]


def test_a_held_subject_keeps_profile_ledger_and_audit_past_their_policy_until_the_hold_is_lifted(
    retention_env, call, outbox
):
    env = retention_env
    confirmed = verify(call, outbox, f"kept-{uuid.uuid4().hex[:10]}@example.com")
    subject_id, token = confirmed["subject_id"], confirmed["access_token"]
    _consent(call, token, True)
    env.drain()
    hold_id = place_hold(env, call, subject_id)
    env.drain()
    _consent(call, token, False)  # activity while held: its new items and new anchor get no expiry either
    env.drain()

    held = subject_items(env, subject_id)
    everything = [*held["profiles"], *held["identifiers"], *held["consents"], *_audit_items(env, subject_id)]
    assert len(everything) >= 8
    assert [i for i in everything if "expires_at" in i] == []  # nothing DynamoDB's TTL could delete
    assert all("held_expires_at" in i for i in everything)

    # Years go by (anchors move back past every policy), DynamoDB's TTL and the sweep run: nothing goes.
    move_back(env, subject_id, 2200)
    env.use_function("RetentionCascadeFunction")
    from habeas.retention import activity

    assert activity.retire(subject_id) == {}  # a profile deleted despite the hold would not take its keys
    env.reap()
    env.use_function("RetentionSweepFunction")
    from habeas.retention import sweep

    assert sweep.run()["status"] == "completed"
    env.drain()
    assert subject_items(env, subject_id)["profiles"]
    assert len(subject_items(env, subject_id)["consents"]) == len(held["consents"])

    lift_hold(env, call, subject_id, hold_id)
    env.drain()  # expiries come back from anchor + policy: long past now
    env.reap()
    env.drain()
    gone = subject_items(env, subject_id)
    assert gone == {"profiles": [], "identifiers": [], "consents": []}


def _sweep(env) -> dict:
    env.use_function("RetentionSweepFunction")
    from habeas.retention import sweep

    report = sweep.run()
    assert report["status"] == "completed", report
    return report


def test_a_profile_policy_change_restamps_existing_profiles_through_the_sweep(
    retention_env, call, outbox, tmp_path, monkeypatch
):
    env = retention_env
    subject_id = verify(call, outbox, f"policy-{uuid.uuid4().hex[:10]}@example.com")["subject_id"]
    _sweep(env)  # records the policies in force
    original = "  profile:\n    description: The subject's profile record as a whole"
    text = DATAMAP.read_text()
    assert text.count(original) == 1
    changed = text.replace(
        "retention: {days: 1095, anchor: last_activity}", "retention: {days: 730, anchor: last_activity}", 1
    )
    assert changed.index("days: 730") > changed.index(original)  # the profile category's own line
    path = tmp_path / "datamap.yaml"
    path.write_text(changed)
    monkeypatch.setenv("DATA_MAP_PATH", str(path))
    try:
        report = _sweep(env)
        assert report["restamped"]["profile"] >= 1
        [profile] = subject_items(env, subject_id)["profiles"]
        assert int(profile["expires_at"]) == int(profile["retention_anchor"]) + 730 * DAY
        assert profile["retention_policy"] == f"profile#{730 * DAY}"
    finally:
        monkeypatch.delenv("DATA_MAP_PATH")
        _sweep(env)  # back to the deployment's policy for the tests after this one
    [profile] = subject_items(env, subject_id)["profiles"]
    assert int(profile["expires_at"]) == int(profile["retention_anchor"]) + PROFILE


def test_the_sweep_deletes_an_expired_profile_and_old_audit_entries_before_ttl_does(
    retention_env, call, outbox, use_function
):
    env = retention_env
    subject_id = verify(call, outbox, f"swept-{uuid.uuid4().hex[:10]}@example.com")["subject_id"]
    env.drain()
    chain_subject = f"sub_{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    for day in range(2):
        _record(chain_subject, f"old.{day}", now - timedelta(days=2195 - day))
    _record(chain_subject, "new")
    move_back(env, subject_id, 1095, seconds=120)

    report = _sweep(env)
    env.drain()

    assert report["deleted"]["profile"] >= 1 and report["deleted"]["audit"] >= 2
    left = subject_items(env, subject_id)
    assert left["profiles"] == [] and left["identifiers"] == []  # the profile's identifiers retired with it
    use_function("ApiFunction")
    from habeas import audit

    assert [e["action"] for e in audit.entries(chain_subject)] == ["new"]
    report = audit.verify(chain_subject)
    assert report.ok and report.events == 1
    swept = [e for e in audit.entries(subject_id) if e["action"] == "retention.expired"]
    assert any(e["detail"]["store"] == "profiles" and e["detail"]["cause"] == "sweep" for e in swept)


def test_a_ledger_cut_short_while_its_subject_is_active_is_a_break(retention_env, call, outbox, use_function):
    subject_id = verify(call, outbox, f"cut-{uuid.uuid4().hex[:10]}@example.com")["subject_id"]  # a live profile
    use_function("ApiFunction")
    from habeas import consent

    # Events old enough to pass as expired...
    _consent_at(datetime.now(UTC) - timedelta(days=1826), subject_id, granted=True)
    report = consent.verify_ledger(subject_id)  # ...but the subject is active: the ledger was cut short
    assert not report.ok and report.reason == "ledger expired while its subject is active"


def test_an_append_after_the_head_expired_first_goes_on_after_the_events_left(retention_env, use_function):
    env = retention_env
    use_function("ApiFunction")
    from habeas import audit

    subject_id, first = _young_chain(2)
    _table(env, "AUDIT_TABLE").delete_item(Key={"chain": f"subject#{subject_id}", "seq": 0})  # e.g. TTL, head first

    later = _record(subject_id, "b")  # no Conflict: it links to the newest event still there

    assert later["seq"] == first[-1]["seq"] + 1 and later["prev_hash"] == first[-1]["hash"]
    assert audit.verify(subject_id).ok
