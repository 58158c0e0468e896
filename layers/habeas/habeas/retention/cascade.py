"""The retention cascade: what happens on the data tables' streams and on the holds table's stream.

- A TTL deletion (``userIdentity`` = service ``dynamodb.amazonaws.com``) of an item under a retention
  policy removes what depends on it in other stores (the S3 attachments of an expired message; the
  identifiers and data keys of an expired profile), writes one audit entry (ids, field names, a hash
  of the item key; never the data) and counts it. A receipt per deletion makes a retried record
  change nothing a second time.
- A profile whose ``last_activity`` moved re-anchors the subject's other items kept from last
  activity (``habeas.retention.activity.reanchor``).
- Any write of an item under a policy keeps the report's counters (kept, due per day) current.
- A new or re-stamped item of a held subject has its expiry taken off at once (a hold must win
  over DynamoDB's TTL, which deletes regardless).
- A hold placed takes the expiry off the subject's items; the last hold lifted puts it back.

Each record is handled alone (Powertools BatchProcessor, partial batch failures).
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from habeas import audit, aws, clock, holds
from habeas.config import get_settings
from habeas.datamap import Store
from habeas.dynamo import from_item
from habeas.observability import logger, metrics
from habeas.retention import (
    ANCHOR_ATTRIBUTE,
    POLICY_ATTRIBUTE,
    TTL_ATTRIBUTE,
    activity,
    attachment_prefix,
    category_of_marker,
    ledger,
    objects,
    restore_expiry,
    suspend_expiry,
)
from habeas.retention.stores import held_by_hold, retained_stores, suspend_item_while_held

TTL_PRINCIPAL = "dynamodb.amazonaws.com"
SYSTEM = audit.Actor(id="retention", role="system")

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def is_ttl_deletion(raw: dict[str, Any]) -> bool:
    """True for a REMOVE that DynamoDB's TTL process made (not an application's DeleteItem)."""
    identity = raw.get("userIdentity") or {}
    return (
        raw.get("eventName") == "REMOVE"
        and identity.get("type") == "Service"
        and identity.get("principalId") == TTL_PRINCIPAL
    )


def table_of_arn(arn: str) -> str:
    """The table name in a stream ARN (``...:table/<name>/stream/<label>``)."""
    return arn.split(":table/", 1)[1].split("/", 1)[0]


def store_for(table: str, item: dict[str, Any]) -> Store | None:
    """The data map store an item of ``table`` belongs to (None: not under retention)."""
    for store in retained_stores():
        if os.environ.get(store.table_env or "") != table:
            continue
        if store.sort_prefix and not str(item.get(store.sort_key or "", "")).startswith(store.sort_prefix):
            continue
        return store
    return None


def subject_of(store: Store, item: dict[str, Any]) -> str | None:
    """The subject id an item belongs to, read back through the store's partition pattern."""
    value = item.get(store.partition_key or "")
    if value is None:
        return None
    before, _, after = store.partition_value.partition("{subject_id}")
    text = str(value)
    if not (text.startswith(before) and text.endswith(after)):
        return None
    return text[len(before) : len(text) - len(after)] or None


def key_of(store: Store, item: dict[str, Any]) -> dict[str, Any]:
    """The item's primary key (plain values)."""
    return {name: item[name] for name in store.primary_key if name in item}


def _key_hash(table_hint: str, key: dict[str, Any]) -> str:
    return hashlib.sha256(f"{table_hint}|{json.dumps(key, sort_keys=True, default=str)}".encode()).hexdigest()


def delete_attachments(subject_id: str, item: dict[str, Any]) -> int:
    """Delete the S3 files attached to a conversation item; returns how many were deleted."""
    bucket = get_settings().attachments_bucket
    sort_key = item.get("sk")
    if not bucket or not sort_key:
        return 0
    s3 = aws.client("s3")
    prefix = attachment_prefix(subject_id, str(sort_key))
    deleted = 0
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    while True:
        page = s3.list_objects_v2(**kwargs)
        keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            deleted += len(keys)
        if not page.get("IsTruncated"):
            return deleted
        kwargs["ContinuationToken"] = page["NextContinuationToken"]


def already_audited(subject_id: str | None, item_hash: str) -> bool:
    """True if the subject's recent audit entries hold this deletion (a run died before its receipt)."""
    if not subject_id:
        return False
    for entry in audit.entries(subject_id, limit=200):
        if entry.get("action") == "retention.expired" and (entry.get("detail") or {}).get("item") == item_hash:
            return True
    return False


def expire(store: Store, item: dict[str, Any], *, cause: str) -> bool:
    """Everything a retention deletion of ``item`` entails, once: dependents, audit entry, counter.

    ``cause`` is ``ttl`` (DynamoDB's TTL deleted it) or ``sweep`` (the sweep deletes it next). Returns
    False if this deletion had already been handled. A receipt marked ``pending`` before any effect
    and ``done`` after them makes a retry (stream redelivery, a sweep killed half-way) finish the
    work without a second audit entry.
    """
    key = key_of(store, item)
    receipt = _key_hash(f"{store.name}|{item.get(TTL_ATTRIBUTE)}", key)
    state = ledger.receipt_state(receipt)
    if state == "done":
        return False
    if state is None:
        ledger.mark_receipt(receipt, "pending")
    subject_id = subject_of(store, item)
    marker = item.get(POLICY_ATTRIBUTE)
    category = category_of_marker(str(marker)) if marker else None
    item_hash = _key_hash(store.name, key)[:24]
    attachments = delete_attachments(subject_id, item) if subject_id and store.name == "conversations" else 0
    # The audit log's own entries are counted, not audited: an entry per expired entry would keep every
    # chain alive for ever. Their removal stays provable in the chain itself (``prev_at``, chain.py).
    audited = store.name != audit.STORE
    write_audit = audited and (state is None or not already_audited(subject_id, item_hash))
    if write_audit:
        audit.record(
            SYSTEM,
            audit.AuditEvent(
                action="retention.expired",
                subject_id=subject_id,
                fields=sorted(name for name in store.fields if name in item),
                detail={
                    "store": store.name,
                    "category": category,
                    "cause": cause,
                    "item": item_hash,
                    "attachments_deleted": attachments,
                },
            ),
        )
    if category and (write_audit or (not audited and state is None)):
        ledger.count_deleted(category)
    ledger.mark_receipt(receipt, "done")
    metrics.add_metric(name="RetentionDeletions", unit="Count", value=1)
    logger.info("retention deletion", extra={"subject_id": subject_id, "store": store.name, "cause": cause})
    return True


def _policy_view(item: dict[str, Any] | None) -> tuple[str | None, int | None]:
    if not item or POLICY_ATTRIBUTE not in item:
        return None, None
    expires_at = item.get(TTL_ATTRIBUTE)
    return category_of_marker(str(item[POLICY_ATTRIBUTE])), int(expires_at) if expires_at is not None else None


def keep_counters(old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
    """Move the kept and due-per-day counters from the old image to the new one."""
    old_category, old_expiry = _policy_view(old)
    new_category, new_expiry = _policy_view(new)
    if old_category != new_category:
        if old_category:
            ledger.count_kept(old_category, -1)
        if new_category:
            ledger.count_kept(new_category, +1)
    if (old_category, old_expiry) != (new_category, new_expiry):
        if old_category and old_expiry is not None:
            ledger.count_due(old_category, old_expiry, -1)
        if new_category and new_expiry is not None:
            ledger.count_due(new_category, new_expiry, +1)


def on_item_change(table: str, raw: dict[str, Any], held: dict[str, dict[str, Any] | None]) -> str:
    """A data table's stream record."""
    images = raw.get("dynamodb") or {}
    old = from_item(images["OldImage"]) if images.get("OldImage") else None
    new = from_item(images["NewImage"]) if images.get("NewImage") else None
    store = store_for(table, new or old or {})
    if store is None:
        return "ignored"
    outcome = "counted"
    subject_id = subject_of(store, new or old or {})
    if is_ttl_deletion(raw) and old is not None and old.get(POLICY_ATTRIBUTE):
        expire(store, old, cause="ttl")
        outcome = "expired"
    elif raw.get("eventName") == "REMOVE" and old is not None and subject_id and store.name == "conversations":
        # Deleted by the application (an erasure, the sweep): its files go with it; that delete is audited
        # by whoever made it.
        delete_attachments(subject_id, old)
    if store.name == activity.PROFILES and subject_id and old is not None and raw.get("eventName") == "REMOVE":
        expires_at = old.get(TTL_ATTRIBUTE)
        if isinstance(expires_at, int) and expires_at <= _record_time(raw):
            retire_profile(subject_id)  # deleted because it expired (by TTL or the sweep): not an erasure
    anchor = (new or {}).get(ANCHOR_ATTRIBUTE)
    if (
        store.name == activity.PROFILES
        and subject_id
        and anchor is not None
        and (old or {}).get(ANCHOR_ATTRIBUTE) != anchor
    ):
        activity.reanchor(subject_id, int(anchor))
        outcome = "reanchored"
    # A new expiry (a new item, a re-stamp) on a held subject's item must not stand; other changes
    # (e.g. a message's processing stage) keep the expiry the hold already dealt with.
    fresh_expiry = new is not None and TTL_ATTRIBUTE in new and (old or {}).get(TTL_ATTRIBUTE) != new[TTL_ATTRIBUTE]
    if fresh_expiry and subject_id and held_by_hold(store, new):
        key = {k: images["NewImage"][k] for k in store.primary_key}
        for _ in range(5):  # each round follows a lift that raced it; a hold table in flux fails the record
            if subject_id not in held:
                held[subject_id] = holds.active_hold(subject_id)
            hold = held[subject_id]
            if hold is None:
                break
            hold_key = {"subject_id": subject_id, "hold_id": hold["hold_id"]}
            suspended = suspend_item_while_held(table, key, get_settings().require("holds_table"), hold_key)
            if suspended is None:  # that hold was lifted meanwhile (its restore may have run): ask again
                del held[subject_id]
                continue
            if suspended:
                outcome = "suspended"  # its MODIFY record will move the counters
            break
        else:
            raise RuntimeError("holds kept changing while an item was being held; the record is retried")
    keep_counters(old, new)
    return outcome


def _record_time(raw: dict[str, Any]) -> int:
    created = (raw.get("dynamodb") or {}).get("ApproximateCreationDateTime")
    return int(float(created)) if created is not None else int(clock.now().timestamp())


def _profile_gone(subject_id: str) -> bool:
    from habeas import profiles

    return not get_settings().subjects_table or profiles.subject_item(subject_id) is None


def retire_profile(subject_id: str) -> None:
    """An expired profile's identifiers and keys go after it (``activity.retire``), audited once."""
    retired = activity.retire(subject_id)
    if any(retired.values()):
        audit.record(
            SYSTEM, audit.AuditEvent(action="retention.retired", subject_id=subject_id, detail={"removed": retired})
        )


def on_hold_change(raw: dict[str, Any]) -> str:
    """The holds table's stream: suspend on a new standing hold, restore when the last one is lifted."""
    images = raw.get("dynamodb") or {}
    old = from_item(images["OldImage"]) if images.get("OldImage") else {}
    new = from_item(images["NewImage"]) if images.get("NewImage") else {}
    subject_id = str((new or old)["subject_id"])
    if new.get("status") == holds.ACTIVE and old.get("status") != holds.ACTIVE:
        if new.get("until"):  # the sweep lifts it when this time comes
            ledger.put("lapse", f"{new['until']}#{subject_id}#{new['hold_id']}", {"subject_id": subject_id})
        changed = suspend_expiry(subject_id)
        audit.record(
            SYSTEM,
            audit.AuditEvent(
                action="retention.suspended",
                subject_id=subject_id,
                detail={"hold_id": new["hold_id"], "items": changed},
            ),
        )
        return "suspended"
    if old.get("status") == holds.ACTIVE and new.get("status") != holds.ACTIVE and not holds.is_held(subject_id):
        changed = restore_expiry(subject_id) + objects.unpark(subject_id)
        if _profile_gone(subject_id):  # it expired while held: what only served it goes now
            retire_profile(subject_id)
        audit.record(
            SYSTEM,
            audit.AuditEvent(
                action="retention.restored", subject_id=subject_id, detail={"hold_id": old["hold_id"], "items": changed}
            ),
        )
        _resume_held_requests(subject_id)
        return "restored"
    return "ignored"


def _resume_held_requests(subject_id: str) -> None:
    """Erasures the hold kept waiting continue (where the request lifecycle is deployed)."""
    settings = get_settings()
    if not (getattr(settings, "requests_table", None) and getattr(settings, "requests_queue_url", None)):
        return
    from habeas.requests import service

    resumed = service.resume_held(subject_id, actor=SYSTEM)
    if resumed:
        logger.info("held requests resumed", extra={"subject_id": subject_id, "requests": len(resumed)})


class Cascade:
    """Per-invocation state (which subjects are held), so a batch asks once per subject."""

    def __init__(self) -> None:
        self.held: dict[str, dict[str, Any] | None] = {}  # each subject's standing hold, asked once

    def __call__(self, record: DynamoDBRecord) -> str:
        raw = record.raw_event
        table = table_of_arn(str(raw.get("eventSourceARN") or ""))
        if table == get_settings().holds_table:
            return on_hold_change(raw)
        return on_item_change(table, raw, self.held)
