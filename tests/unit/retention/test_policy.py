"""Retention policies from the data map, stamps, the expired-item filter and the cascade's record rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from habeas import retention
from habeas.datamap import data_map
from habeas.retention import cascade, objects
from habeas.retention.stores import restored_expiry

pytestmark = pytest.mark.unit

DAY = 86400
T0 = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)


def test_stamps_come_from_the_data_map_policy_of_the_category():
    stamp = retention.stamp("conversation", T0)
    assert stamp == {
        "expires_at": int(T0.timestamp()) + 90 * DAY,
        "retention_policy": f"conversation#{90 * DAY}",
        "retention_anchor": int(T0.timestamp()),
    }
    assert retention.expires_at_for("conversation_original", T0) == int(T0.timestamp()) + 7 * DAY
    assert retention.expires_at_for("verification", "2026-11-23T10:30:00Z") == int(T0.timestamp()) + 600
    assert retention.policy("conversation").anchor == "created"


def test_a_category_without_policy_gets_no_stamp():
    assert data_map().category("keys").retention is None
    assert retention.stamp("keys", T0) == {}
    assert retention.expires_at_for("keys", T0) is None


def test_expired_items_are_filtered_out_at_and_after_their_expiry():
    now = int(T0.timestamp())
    items = [
        {"id": "past", "expires_at": now - 1},
        {"id": "exactly", "expires_at": now},
        {"id": "future", "expires_at": now + 1},
        {"id": "never"},
        {"id": "not-a-number", "expires_at": "soon"},  # DynamoDB's TTL ignores it; so do reads
    ]
    assert [item["id"] for item in retention.unexpired(items, now)] == ["future", "never", "not-a-number"]
    assert retention.is_expired({"expires_at": now - 1}, T0)


def test_a_lifted_hold_restamps_from_the_current_policy_or_the_parked_value():
    anchor = int(T0.timestamp())
    stale = {"retention_policy": "conversation#123", "retention_anchor": anchor, "held_expires_at": anchor + 123}
    assert restored_expiry(stale) == (anchor + 90 * DAY, f"conversation#{90 * DAY}")
    assert restored_expiry({"held_expires_at": anchor + 5}) == (anchor + 5, None)
    assert restored_expiry({}) is None


def test_only_dynamodbs_own_service_principal_marks_a_ttl_deletion():
    ttl = {"eventName": "REMOVE", "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"}}
    assert cascade.is_ttl_deletion(ttl)
    assert not cascade.is_ttl_deletion({**ttl, "eventName": "MODIFY"})
    assert not cascade.is_ttl_deletion({"eventName": "REMOVE"})  # an application's DeleteItem
    assert not cascade.is_ttl_deletion({**ttl, "userIdentity": {"type": "Service", "principalId": "someone.else"}})
    assert not cascade.is_ttl_deletion(
        {**ttl, "userIdentity": {"type": "User", "principalId": "dynamodb.amazonaws.com"}}
    )


def test_the_subject_is_read_back_through_the_store_partition_pattern():
    dm = data_map()
    assert cascade.subject_of(dm.store("conversations"), {"subject_id": "sub_1", "sk": "MSG#x"}) == "sub_1"
    assert cascade.subject_of(dm.store("audit_log"), {"chain": "subject#sub_2", "seq": 3}) == "sub_2"
    assert cascade.subject_of(dm.store("audit_log"), {"chain": "actor#dpo-1", "seq": 3}) is None
    assert cascade.table_of_arn("arn:aws:dynamodb:eu-west-1:1:table/habeas-Conv-1/stream/2026") == "habeas-Conv-1"


def test_counters_move_with_the_images(monkeypatch):
    moves: list[tuple] = []
    monkeypatch.setattr(cascade.ledger, "count_kept", lambda category, delta: moves.append(("kept", category, delta)))
    monkeypatch.setattr(
        cascade.ledger, "count_due", lambda category, at, delta: moves.append(("due", category, at, delta))
    )
    item = {"retention_policy": "conversation#7776000", "expires_at": 1000}
    cascade.keep_counters(None, item)
    assert moves == [("kept", "conversation", 1), ("due", "conversation", 1000, 1)]
    moves.clear()
    held = {"retention_policy": "conversation#7776000", "held_expires_at": 1000}
    cascade.keep_counters(item, held)  # a hold: still kept, no longer due
    assert moves == [("due", "conversation", 1000, -1)]
    moves.clear()
    cascade.keep_counters(item, None)
    assert moves == [("kept", "conversation", -1), ("due", "conversation", 1000, -1)]
    moves.clear()
    cascade.keep_counters({"text": "no policy"}, None)
    assert moves == []


def test_s3_markers_are_date_partitioned_and_never_due_before_the_expiry(monkeypatch):
    put: list[str] = []

    class FakeS3:
        def put_object(self, **kwargs):
            put.append(kwargs["Key"])

    monkeypatch.setattr(objects.aws, "client", lambda service: FakeS3())
    monkeypatch.setenv("ATTACHMENTS_BUCKET", "bucket")
    from habeas import config

    config.get_settings.cache_clear()
    due = objects.register("attachments/sub_9/m1/a.pdf", "export", T0)  # 7 days later at 10:30
    assert due.isoformat() == "2026-12-01"  # the first day starting after 2026-11-30T10:30Z
    assert put == ["retention/due/2026-12-01/export/attachments/sub_9/m1/a.pdf"]
    assert objects.parse_marker(put[0]) == ("2026-12-01", "export", "attachments/sub_9/m1/a.pdf")
    assert objects.subject_in("attachments/sub_9/m1/a.pdf") == "sub_9"
    midnight = datetime(2026, 11, 23, tzinfo=UTC)
    assert objects.register("attachments/sub_9/m2/b.pdf", "export", midnight).isoformat() == "2026-11-30"
    config.get_settings.cache_clear()


def test_attachment_prefixes_are_per_subject_and_per_message():
    prefix = retention.attachment_prefix("sub_1", "MSG#2026-01-01T00:00:00.000Z#whatsapp#wamid.A/B")
    assert prefix.startswith("attachments/sub_1/") and prefix.endswith("/") and prefix.count("/") == 3


def test_a_last_activity_chain_is_past_retention_from_the_start_of_its_activity_day():
    from datetime import UTC, datetime, timedelta

    from habeas.consent import _LEDGER

    day = datetime(2026, 11, 29, tzinfo=UTC)
    recorded = int((day - timedelta(days=1825) + timedelta(hours=23)).timestamp())
    # Its items expired at the start of that day + 1825 days, before 23:00 of it comes round again.
    assert _LEDGER.past_retention(recorded, int(day.timestamp()) + 1)
    assert not _LEDGER.past_retention(recorded, int(day.timestamp()) - 1)
