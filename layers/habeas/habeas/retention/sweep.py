"""The scheduled retention sweep: policy changes applied to existing items, expiries, S3 date partitions.

Three phases, each proportional to what it has to change, never to what is stored:

1. **Re-stamp.** The policy each (store, category) was last swept with is remembered; when the data map
   changes it, the old policy's marker joins a ``stale`` list. Items stamped under a stale marker are
   read page by page from the ``by_retention`` index partition of that marker (and only those), and
   each gets ``expires_at = retention_anchor + new duration`` and the new marker, conditionally on still
   carrying the old one. A partition that is empty is done; the marker leaves the list.
2. **Expire.** Items whose ``expires_at`` has passed are read from their current marker's partition
   (``expires_at <= now``: a range on the index sort key); each cascades exactly like a TTL deletion
   (``habeas.retention.cascade.expire``), then is deleted conditionally on still being expired (a hold
   removes ``expires_at``, so held items are never in the index and never deleted).
   DynamoDB's TTL would delete them too, within days; the sweep makes it prompt and provable.
3. **S3.** Due markers (``habeas.retention.objects``) are listed one day partition at a time, from
   the day after the last fully swept one to today; held subjects' markers are parked.

Safe to run twice at once: a lease (conditional write with an expiry) lets one run work; the other
answers ``busy``. Resumable: every step is a conditional, idempotent change and progress is the
data itself (a stale partition shrinks, expired items disappear, markers are deleted after their
object), so a run killed half-way is finished by the next one. A run stops cleanly before the
Lambda's time runs out (``status: partial``) and the next scheduled run continues.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from habeas import audit, aws, clock, holds
from habeas.config import get_settings
from habeas.datamap import Store, data_map
from habeas.dynamo import cancelled_by_condition, from_item, to_item
from habeas.errors import Conflict, NotFound
from habeas.observability import logger, metrics
from habeas.retention import (
    POLICY_ATTRIBUTE,
    RETENTION_INDEX,
    TTL_ATTRIBUTE,
    ledger,
    objects,
    policy,
    seconds_of,
)
from habeas.retention.cascade import SYSTEM, already_audited, expire
from habeas.retention.stores import table_of


class OutOfTime(Exception):
    """The run's time budget is spent; the next run continues."""


class Sweep:
    """One run of the sweep. ``time_left()`` says whether there is time for more work."""

    def __init__(self, *, now: datetime | None = None, time_left: Callable[[], bool] | None = None) -> None:
        self.now = now or clock.now()
        self.epoch = int(self.now.timestamp())
        self.time_left = time_left or (lambda: True)
        self.page_size = get_settings().retention_sweep_page_size
        self.restamped: Counter[str] = Counter()
        self.deleted: Counter[str] = Counter()
        self.s3_deleted: Counter[str] = Counter()
        self.held_skipped = 0
        self.holds_lapsed = 0
        self._held: dict[str, bool] = {}

    # ------------------------------------------------------------ helpers

    def _check_time(self) -> None:
        if not self.time_left():
            raise OutOfTime

    def _is_held(self, subject_id: str) -> bool:
        if subject_id not in self._held:
            self._held[subject_id] = holds.is_held(subject_id)
        return self._held[subject_id]

    def _index_pages(self, store: Store, marker: str, *, expired_only: bool) -> Any:
        table = table_of(store)
        condition = "#pol = :pol" + (" AND #ttl <= :now" if expired_only else "")
        values: dict[str, Any] = {":pol": marker, **({":now": self.epoch} if expired_only else {})}
        kwargs: dict[str, Any] = {
            "TableName": table,
            "IndexName": RETENTION_INDEX,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": {"#pol": POLICY_ATTRIBUTE, **({"#ttl": TTL_ATTRIBUTE} if expired_only else {})},
            "ExpressionAttributeValues": to_item(values),
            "Limit": self.page_size,
        }
        while True:
            self._check_time()
            page = aws.client("dynamodb").query(**kwargs)
            yield page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # ------------------------------------------------------------ phase 0: holds whose time is up

    def lapse_holds(self) -> None:
        """Lift holds whose ``until`` has passed (their stream record restores the subject's expiry)."""
        kwargs: dict[str, Any] = {
            "TableName": get_settings().require("retention_table"),
            "KeyConditionExpression": "pk = :pk AND sk < :bound",
            "ExpressionAttributeValues": to_item({":pk": "lapse", ":bound": f"{clock.rfc3339(self.now)}$"}),
        }
        while True:
            self._check_time()
            page = aws.client("dynamodb").query(**kwargs)
            for raw in page.get("Items", []):
                marker = from_item(raw)
                _, subject_id, hold_id = str(marker["sk"]).split("#", 2)
                with contextlib.suppress(NotFound, Conflict):  # lifted by hand meanwhile
                    holds.lift_hold(subject_id, hold_id, SYSTEM, lapsed=True)
                aws.client("dynamodb").delete_item(
                    TableName=kwargs["TableName"], Key=to_item({"pk": "lapse", "sk": marker["sk"]})
                )
                self.holds_lapsed += 1
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # ------------------------------------------------------------ phase 1: re-stamp

    def restamp(self, store: Store, category: str) -> None:
        """Apply a changed policy of ``category`` to the store's items stamped under an older one."""
        retention = policy(category)
        if retention is None:
            return
        current = seconds_of(retention)
        record_key = f"{store.name}#{category}"
        record = ledger.get("policy", record_key)
        stale = set(int(s) for s in (record or {}).get("stale", []))
        if record is not None and int(record["seconds"]) != current:
            stale.add(int(record["seconds"]))
        stale.discard(current)
        if record is None or int(record["seconds"]) != current or sorted(stale) != sorted(record.get("stale", [])):
            ledger.put(
                "policy", record_key, {"seconds": current, "stale": sorted(stale), "at": clock.rfc3339(self.now)}
            )
        table = table_of(store)
        new_marker = f"{category}#{current}"
        for old in sorted(stale):
            old_marker = f"{category}#{old}"
            for items in self._index_pages(store, old_marker, expired_only=False):
                for raw in items:
                    anchor = from_item(raw).get("retention_anchor")
                    if anchor is None:
                        continue
                    key = {name: raw[name] for name in store.primary_key}
                    try:
                        aws.client("dynamodb").update_item(
                            TableName=table,
                            Key=key,
                            UpdateExpression="SET #ttl = :exp, #pol = :new",
                            # Not an item already past its old expiry: expired data stays expired.
                            ConditionExpression="#pol = :old AND #ttl > :now",
                            ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE, "#pol": POLICY_ATTRIBUTE},
                            ExpressionAttributeValues=to_item(
                                {
                                    ":exp": int(anchor) + current,
                                    ":new": new_marker,
                                    ":old": old_marker,
                                    ":now": self.epoch,
                                }
                            ),
                        )
                    except ClientError as error:
                        if not cancelled_by_condition(error):
                            raise
                        continue
                    self.restamped[category] += 1
            stale.discard(old)
            ledger.put(
                "policy", record_key, {"seconds": current, "stale": sorted(stale), "at": clock.rfc3339(self.now)}
            )

    # ------------------------------------------------------------ phase 2: expire

    def expire(self, store: Store, category: str) -> None:
        """Delete the store's items of ``category`` whose expiry has passed, each with its cascade."""
        retention = policy(category)
        if retention is None:
            return
        table = table_of(store)
        marker = f"{category}#{seconds_of(retention)}"
        for items in self._index_pages(store, marker, expired_only=True):
            for raw in items:
                self._check_time()
                key = {name: raw[name] for name in store.primary_key}
                current = aws.client("dynamodb").get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
                if not current:
                    continue
                item = from_item(current)
                if item.get(POLICY_ATTRIBUTE) != marker or int(item.get(TTL_ATTRIBUTE, self.epoch + 1)) > self.epoch:
                    continue  # held or re-stamped since the index was read
                # Cascade first, then delete: a run killed in between finds the item again next time,
                # and the cascade's receipt keeps it from being audited twice.
                expire(store, item, cause="sweep")
                try:
                    aws.client("dynamodb").delete_item(
                        TableName=table,
                        Key=key,
                        ConditionExpression="#ttl <= :now AND #pol = :pol",
                        ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE, "#pol": POLICY_ATTRIBUTE},
                        ExpressionAttributeValues=to_item({":now": self.epoch, ":pol": marker}),
                    )
                except ClientError as error:
                    if not cancelled_by_condition(error):
                        raise
                    continue  # held, re-stamped or already deleted (by TTL) meanwhile
                self.deleted[category] += 1

    # ------------------------------------------------------------ phase 3: S3 date partitions

    def sweep_objects(self) -> None:
        """Delete S3 objects whose due day has come, one day partition at a time."""
        if not get_settings().attachments_bucket:
            return
        today = self.now.date()
        cursor = ledger.get("cursor", "s3-due")
        first = date.fromisoformat(cursor["through"]) + timedelta(days=1) if cursor else today - timedelta(days=7)
        bucket = get_settings().require("attachments_bucket")
        for day in objects.days_between(first, today):
            for markers in objects.due_markers(day):
                for marker in markers:
                    self._check_time()
                    _, category, object_key = objects.parse_marker(marker)
                    subject_id = objects.subject_in(object_key)
                    if subject_id and self._is_held(subject_id):
                        objects.park(marker, subject_id)
                        self.held_skipped += 1
                        continue
                    self._expire_object(bucket, marker, object_key, category, subject_id)
                    self.s3_deleted[category] += 1
            if day < today:  # today's partition may still grow: list it again next time
                ledger.put("cursor", "s3-due", {"through": day.isoformat()})

    def _expire_object(self, bucket: str, marker: str, object_key: str, category: str, subject_id: str | None) -> None:
        """Delete one due object, audited once (receipt pending → done), then its marker."""
        s3 = aws.client("s3")
        receipt = f"s3#{hashlib.sha256(marker.encode()).hexdigest()}"
        item_hash = hashlib.sha256(object_key.encode()).hexdigest()[:24]
        state = ledger.receipt_state(receipt)
        if state is None:
            ledger.mark_receipt(receipt, "pending")
        s3.delete_object(Bucket=bucket, Key=object_key)
        if state is None or (state == "pending" and not already_audited(subject_id, item_hash)):
            audit.record(
                SYSTEM,
                audit.AuditEvent(
                    action="retention.expired",
                    subject_id=subject_id,
                    detail={"store": "attachments", "category": category, "cause": "sweep", "item": item_hash},
                ),
            )
            ledger.count_deleted(category)
        ledger.mark_receipt(receipt, "done")
        s3.delete_object(Bucket=bucket, Key=marker)

    # ------------------------------------------------------------ the run

    def run(self) -> dict[str, Any]:
        """All three phases; returns (and records) the report."""
        holder = f"sweep_{uuid.uuid4().hex}"
        if not ledger.acquire_lease(holder, get_settings().retention_sweep_lease_seconds):
            logger.info("retention sweep: another run holds the lease")
            return {"status": "busy"}
        status = "completed"
        try:
            try:
                self.lapse_holds()
                for store, category in swept_categories():
                    self.restamp(store, category)
                for store, category in swept_categories():
                    self.expire(store, category)
                self.sweep_objects()
            except OutOfTime:
                status = "partial"
            report = self.report(status)
            ledger.put("sweep", "last", report)
        finally:
            ledger.release_lease(holder)
        metrics.add_metric(name="RetentionSweepDeletions", unit="Count", value=sum(self.deleted.values()))
        logger.info("retention sweep", extra={"status": status, "deleted": dict(self.deleted)})
        return report

    def report(self, status: str) -> dict[str, Any]:
        """What this run did, per category."""
        deleted = Counter(self.deleted)
        deleted.update(self.s3_deleted)
        return {
            "status": status,
            "at": clock.rfc3339(self.now),
            "finished_at": clock.rfc3339(clock.now()),
            "deleted": dict(deleted),
            "restamped": dict(self.restamped),
            "held_skipped": self.held_skipped,
            "holds_lapsed": self.holds_lapsed,
        }


def swept_categories() -> list[tuple[Store, str]]:
    """(store, category) pairs the sweep applies: the configured stores' fields with a policy."""
    dm = data_map()
    pairs: list[tuple[Store, str]] = []
    for name in get_settings().retention_sweep_stores:
        store = dm.store(name)
        if table_of(store) is None:
            continue
        # A store kept whole by one category is swept by it; others by each field's category.
        categories = (
            [store.retention_category] if store.retention_category else [s.category for s in store.fields.values()]
        )
        for category in dict.fromkeys(categories):
            if dm.category(category).retention is not None:
                pairs.append((store, category))
    return pairs


def run(*, time_left: Callable[[], bool] | None = None, now: datetime | None = None) -> dict[str, Any]:
    """One sweep run (the scheduled handler's body)."""
    return Sweep(now=now, time_left=time_left).run()
