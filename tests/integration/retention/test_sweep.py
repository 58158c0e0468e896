"""The scheduled sweep: policy re-stamps, prompt expiries, S3 date partitions, lease, resumption, report."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.integration.helpers import bearer
from tests.integration.retention.conftest import now_epoch
from tests.integration.retention.test_cascade import attach, audit_actions, message

pytestmark = pytest.mark.integration

DAY = 86400
DATAMAP = Path(__file__).resolve().parents[3] / "layers/habeas/habeas/config/datamap.yaml"


class Killed(BaseException):
    """The Lambda runtime killing the process: no handler, no finally that matters."""


@pytest.fixture
def sweeper(retention_env, monkeypatch):
    def run(**kwargs):
        retention_env.use_function("RetentionSweepFunction")
        from habeas.retention import sweep

        return sweep.run(**kwargs)

    return run


@pytest.fixture
def conversation_policy(tmp_path, monkeypatch, sweeper):
    """Change the conversation category's retention days in a copy of the data map; restored after."""

    def change(days: int) -> None:
        text = DATAMAP.read_text()
        original = "retention: {days: 90, anchor: created}\n    masking: {agent: full, supervisor: full, dpo: full}"
        assert text.count(original) == 1
        changed = text.replace(original, original.replace("days: 90", f"days: {days}"))
        path = tmp_path / "datamap.yaml"
        path.write_text(changed)
        monkeypatch.setenv("DATA_MAP_PATH", str(path))

    yield change
    # Put the deployment's policy back and re-stamp, so later tests see 90 days again.
    monkeypatch.delenv("DATA_MAP_PATH", raising=False)
    assert sweeper()["status"] == "completed"


def put(env, *items):
    table = env.table("CONVERSATIONS_TABLE")
    for item in items:
        table.put_item(Item=item)


def get(env, item):
    return (
        env.table("CONVERSATIONS_TABLE").get_item(Key={"subject_id": item["subject_id"], "sk": item["sk"]}).get("Item")
    )


def test_a_policy_change_restamps_existing_items_and_expires_those_now_past_it(
    retention_env, sweeper, conversation_policy
):
    env = retention_env
    subject_id = f"sub_{uuid.uuid4().hex}"
    young, old = message(subject_id, age_days=10), message(subject_id, age_days=40, n=1)
    put(env, young, old)
    assert sweeper()["status"] == "completed"  # records the policy in force (90 days)
    assert int(get(env, young)["expires_at"]) == young["retention_anchor"] + 90 * DAY

    conversation_policy(30)
    report = sweeper()

    assert report["status"] == "completed"
    assert report["restamped"]["conversation"] >= 2
    stamped = get(env, young)
    assert int(stamped["expires_at"]) == young["retention_anchor"] + 30 * DAY
    assert stamped["retention_policy"] == f"conversation#{30 * DAY}"
    assert get(env, old) is None  # 40 days old under a 30-day policy: deleted in the same run
    assert report["deleted"]["conversation"] >= 1
    expired = [e for e in audit_actions(env, subject_id) if e["action"] == "retention.expired"]
    assert [e["detail"]["cause"] for e in expired] == ["sweep"]


def test_the_sweep_deletes_due_objects_by_day_partition_and_parks_a_held_subjects(retention_env, sweeper, call, outbox):
    env = retention_env
    from tests.integration.helpers import verify

    free_subject = f"sub_{uuid.uuid4().hex}"
    held_subject = verify(call, outbox, f"sweep.held.{uuid.uuid4().hex[:6]}@example.com")["subject_id"]
    dpo = bearer(env.aws.staff_token("dpo-3", ["dpo"]))
    placed = call(
        "AdminFunction",
        "POST",
        f"/v1/admin/subjects/{held_subject}/holds",
        route="/v1/admin/subjects/{subject_id}/holds",
        body={"reason": "regulator inquiry"},
        headers=dpo,
    )
    assert placed.status == 201
    s3 = env.s3()
    yesterday = datetime.now(UTC).date().isoformat()  # due today: a partition the sweep lists
    later = (datetime.now(UTC) + timedelta(days=5)).date().isoformat()
    objects = {
        "due": f"attachments/{free_subject}/export-1/statement.pdf",
        "not_yet": f"attachments/{free_subject}/export-2/statement.pdf",
        "held": f"attachments/{held_subject}/export-3/statement.pdf",
    }
    for key in objects.values():
        s3.put_object(Bucket=env.bucket, Key=key, Body=b"%PDF")
    for name, day in (("due", yesterday), ("not_yet", later), ("held", yesterday)):
        s3.put_object(Bucket=env.bucket, Key=f"retention/due/{day}/export/{objects[name]}", Body=b"")
    expired_message = message(free_subject, age_days=92)
    attach(env, free_subject, expired_message)
    put(env, expired_message)

    report = sweeper()

    assert report["status"] == "completed" and report["deleted"]["export"] >= 1
    assert report["deleted"]["conversation"] >= 1 and report["held_skipped"] >= 1
    remaining = env.object_keys(f"attachments/{free_subject}/")
    assert remaining == [objects["not_yet"]]  # the due one and the expired message's photo are gone
    assert env.object_keys(f"attachments/{held_subject}/") == [objects["held"]]
    assert env.object_keys(f"retention/held/{held_subject}/")
    assert not env.object_keys(f"retention/due/{yesterday}/export/attachments/{free_subject}/")
    causes = sorted(
        e["detail"]["store"] for e in audit_actions(env, free_subject) if e["action"] == "retention.expired"
    )
    assert causes == ["attachments", "conversations"]

    answer = call("AdminFunction", "GET", "/v1/admin/retention", headers=dpo)
    assert answer.status == 200
    assert answer.body["last_sweep"]["status"] == "completed"
    assert answer.body["last_sweep"]["deleted"]["export"] >= 1
    export = next(c for c in answer.body["categories"] if c["category"] == "export")
    assert export["deleted_last_30_days"] >= 1 and export["days"] == 7


def test_a_second_sweep_while_one_runs_does_nothing(retention_env, sweeper):
    env = retention_env
    item = message(f"sub_{uuid.uuid4().hex}", age_days=95)
    put(env, item)
    env.use_function("RetentionSweepFunction")
    from habeas.retention import ledger

    assert ledger.acquire_lease("another-run", 600)
    try:
        assert sweeper() == {"status": "busy"}
        assert get(env, item) is not None
    finally:
        env.use_function("RetentionSweepFunction")
        ledger.release_lease("another-run")
    assert sweeper()["status"] == "completed"
    assert get(env, item) is None


def test_a_sweep_killed_halfway_and_run_again_ends_as_one_whole_run(retention_env, sweeper, monkeypatch):
    env = retention_env
    subject_id = f"sub_{uuid.uuid4().hex}"
    expired = [message(subject_id, age_days=91 + n, n=n) for n in range(5)]
    kept = message(subject_id, age_days=1, n=7)
    for item in expired:
        attach(env, subject_id, item)
    put(env, *expired, kept)
    env.use_function("RetentionSweepFunction")
    from habeas import clock
    from habeas.retention import ledger

    real_mark, done = ledger.mark_receipt, []

    def mark_then_die(receipt, state, *args, **kwargs):
        if state == "done":
            done.append(receipt)
            if len(done) == 3:
                raise Killed  # after the third deletion's audit entry, before its receipt and delete
        return real_mark(receipt, state, *args, **kwargs)

    monkeypatch.setattr(ledger, "mark_receipt", mark_then_die)
    monkeypatch.setattr(ledger, "release_lease", lambda holder: None)  # a killed process releases nothing
    with pytest.raises(Killed):
        sweeper()
    monkeypatch.undo()
    assert 0 < sum(get(env, item) is None for item in expired) < len(expired)

    assert sweeper() == {"status": "busy"}  # the dead run's lease still stands
    lease_over = datetime.now(UTC) + timedelta(seconds=901)
    monkeypatch.setattr(clock, "now", lambda: lease_over)
    report = sweeper()
    monkeypatch.undo()

    assert report["status"] == "completed"
    assert all(get(env, item) is None for item in expired) and get(env, kept) is not None
    assert env.object_keys(f"attachments/{subject_id}/") == []
    entries = [e for e in audit_actions(env, subject_id) if e["action"] == "retention.expired"]
    assert len(entries) == len(expired)  # one entry per deletion, none lost, none twice
    assert len({e["detail"]["item"] for e in entries}) == len(expired)


def test_a_sweep_out_of_time_stops_cleanly_and_the_next_run_finishes(retention_env, sweeper):
    env = retention_env
    subject_id = f"sub_{uuid.uuid4().hex}"
    expired = [message(subject_id, age_days=91, n=n) for n in range(4)]
    put(env, *expired)
    budget = iter([True] * 4 + [False] * 1000)  # a few reads and deletions, then time is up
    first = sweeper(time_left=lambda: next(budget))
    assert first["status"] == "partial"
    assert 0 < sum(get(env, item) is None for item in expired) < len(expired)
    second = sweeper()
    assert second["status"] == "completed"
    assert all(get(env, item) is None for item in expired)
    assert len([e for e in audit_actions(env, subject_id) if e["action"] == "retention.expired"]) == len(expired)


def test_only_a_dpo_reads_the_retention_report(call, embedded_aws):
    for groups in (["agent"], ["supervisor"]):
        answer = call(
            "AdminFunction",
            "GET",
            "/v1/admin/retention",
            headers=bearer(embedded_aws.staff_token("staff-1", groups)),
        )
        assert answer.status == 403
    answer = call(
        "AdminFunction", "GET", "/v1/admin/retention", headers=bearer(embedded_aws.staff_token("dpo-1", ["dpo"]))
    )
    assert answer.status == 200
    names = {c["category"] for c in answer.body["categories"]}
    assert {"conversation", "conversation_original", "export", "verification"} <= names
    assert "keys" not in names  # no policy of its own
    assert all(c["items_kept"] >= 0 and c["expiring_next_30_days"] >= 0 for c in answer.body["categories"])


def test_counters_follow_writes_holds_and_deletions(retention_env):
    env = retention_env
    env.use_function("RetentionCascadeFunction")
    from habeas.retention import ledger

    def kept() -> int:
        env.use_function("RetentionCascadeFunction")
        return int((ledger.get("stats", "kept#conversation_original") or {}).get("count", 0))

    before = kept()
    anchor = now_epoch()
    item = {
        "subject_id": f"sub_{uuid.uuid4().hex}",
        "sk": "ORIGINAL#2026-01-01T00:00:00.000Z#whatsapp#wamid.C",
        "original_text": "ciphertext",
        "expires_at": anchor + 7 * DAY,
        "retention_policy": f"conversation_original#{7 * DAY}",
        "retention_anchor": anchor,
    }
    put(env, item)
    env.drain()
    assert kept() == before + 1
    env.table("CONVERSATIONS_TABLE").delete_item(Key={"subject_id": item["subject_id"], "sk": item["sk"]})
    env.drain()
    assert kept() == before


def test_a_hold_whose_until_has_passed_is_lifted_by_the_sweep_and_the_expiry_returns(
    retention_env, sweeper, call, outbox, monkeypatch
):
    env = retention_env
    from tests.integration.helpers import verify

    subject_id = verify(call, outbox, f"lapse.{uuid.uuid4().hex[:6]}@example.com")["subject_id"]
    item = message(subject_id, age_days=95)
    put(env, item)
    env.drain()
    dpo = bearer(env.aws.staff_token("dpo-4", ["dpo"]))
    until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    placed = call(
        "AdminFunction",
        "POST",
        f"/v1/admin/subjects/{subject_id}/holds",
        route="/v1/admin/subjects/{subject_id}/holds",
        body={"reason": "audit window", "until": until},
        headers=dpo,
    )
    assert placed.status == 201
    env.drain()
    assert "expires_at" not in get(env, item)
    assert sweeper()["holds_lapsed"] == 0  # not yet
    assert get(env, item) is not None

    env.use_function("RetentionSweepFunction")
    from habeas import clock

    later = datetime.now(UTC) + timedelta(hours=2)
    monkeypatch.setattr(clock, "now", lambda: later)
    report = sweeper()
    monkeypatch.undo()
    assert report["holds_lapsed"] == 1
    env.drain()  # the lapse is a lift: the cascade restores the expiry (past: 95 days under 90)
    assert int(get(env, item)["expires_at"]) == item["expires_at"]
    assert sweeper()["deleted"].get("conversation", 0) >= 1
    assert get(env, item) is None
    actions = [e["action"] for e in audit_actions(env, subject_id)]
    assert actions.index("hold.placed") < actions.index("hold.lapsed") < actions.index("retention.restored")
