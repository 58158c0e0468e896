"""RetentionTable: the counters behind the retention report, the sweep's lease and cursors, receipts.

Items (pk / sk), none holding personal data:

- ``stats`` / ``kept#<category>``                 items currently stored under a policy (ADD on stream)
- ``stats`` / ``due#<category>#<yyyy-mm-dd>``     items expiring that day (moved when re-stamped or held)
- ``stats`` / ``deleted#<category>#<yyyy-mm-dd>`` items deleted by retention that day
- ``sweep`` / ``lease`` · ``sweep`` / ``last``     who runs the sweep until when · the last run's result
- ``policy`` / ``<category>``                     the policy last applied and older ones still to re-stamp
- ``cursor`` / ``s3-due``                         the last date partition of S3 markers fully swept
- ``done#<hash>`` / ``-``                          how far a deletion's cascade got (pending / done)

Counters are kept by the writes' own stream records and by the sweep, so the report never scans.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from habeas import aws, clock
from habeas.config import get_settings
from habeas.dynamo import cancelled_by_condition, from_item, to_item

STATS = "stats"
_DAY = 86400


def _table() -> str:
    return get_settings().require("retention_table")


def day_of(epoch_seconds: int | float) -> str:
    """The UTC date (yyyy-mm-dd) of an epoch time."""
    return datetime.fromtimestamp(int(epoch_seconds), tz=UTC).date().isoformat()


def _add(sk: str, delta: int, *, expires_at: int | None = None) -> None:
    values: dict[str, Any] = {":d": delta}
    update = "ADD #n :d"
    names = {"#n": "count"}
    if expires_at is not None:
        update += " SET expires_at = if_not_exists(expires_at, :exp)"
        values[":exp"] = expires_at
    aws.client("dynamodb").update_item(
        TableName=_table(),
        Key=to_item({"pk": STATS, "sk": sk}),
        UpdateExpression=update,
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=to_item(values),
    )


def count_kept(category: str, delta: int) -> None:
    """Items stored under ``category``'s policy changed by ``delta``."""
    if delta:
        _add(f"kept#{category}", delta)


def count_due(category: str, expires_at: int, delta: int) -> None:
    """Items of ``category`` due on ``expires_at``'s date changed by ``delta``."""
    if delta:
        _add(f"due#{category}#{day_of(expires_at)}", delta, expires_at=int(expires_at) + 2 * _DAY)


def count_deleted(category: str, delta: int = 1, when: datetime | None = None) -> None:
    """``delta`` items of ``category`` were deleted by retention (TTL, cascade or sweep)."""
    if delta:
        moment = when or clock.now()
        _add(f"deleted#{category}#{moment.date().isoformat()}", delta, expires_at=int(moment.timestamp()) + 40 * _DAY)


def _sum(prefix: str, first: str, last: str) -> int:
    total, kwargs = (
        0,
        {
            "TableName": _table(),
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :a AND :b",
            "ExpressionAttributeValues": to_item({":pk": STATS, ":a": f"{prefix}{first}", ":b": f"{prefix}{last}"}),
        },
    )
    while True:
        page = aws.client("dynamodb").query(**kwargs)
        total += sum(int(from_item(item).get("count", 0)) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return total
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def category_report(category: str, today: date, window_days: int = 30) -> dict[str, int]:
    """Kept now, due in the next ``window_days`` days, deleted in the last ``window_days`` days."""
    kept = get(STATS, f"kept#{category}") or {}
    ahead = (today + timedelta(days=window_days)).isoformat()
    behind = (today - timedelta(days=window_days - 1)).isoformat()
    return {
        "items_kept": max(int(kept.get("count", 0)), 0),
        "expiring_next_30_days": max(_sum(f"due#{category}#", today.isoformat(), ahead), 0),
        "deleted_last_30_days": _sum(f"deleted#{category}#", behind, today.isoformat()),
    }


def get(pk: str, sk: str) -> dict[str, Any] | None:
    """One bookkeeping item."""
    item = aws.client("dynamodb").get_item(TableName=_table(), Key=to_item({"pk": pk, "sk": sk}), ConsistentRead=True)
    return from_item(item["Item"]) if "Item" in item else None


def put(pk: str, sk: str, values: dict[str, Any]) -> None:
    """Write one bookkeeping item (whole)."""
    aws.client("dynamodb").put_item(TableName=_table(), Item=to_item({"pk": pk, "sk": sk, **values}))


def receipt_state(receipt: str) -> str | None:
    """``pending`` (a run began handling this deletion), ``done``, or None (never seen)."""
    item = get(f"done#{receipt}", "-")
    return str(item.get("state", "done")) if item else None


def mark_receipt(receipt: str, state: str, ttl_days: int = 30) -> None:
    """Record how far the handling of a deletion got (``pending`` before its effects, ``done`` after)."""
    now = clock.now()
    put(
        f"done#{receipt}",
        "-",
        {"state": state, "at": clock.rfc3339(now), "expires_at": int(now.timestamp()) + ttl_days * _DAY},
    )


# ---------------------------------------------------------------- the sweep's lease


def acquire_lease(holder: str, seconds: int) -> bool:
    """Take the sweep lease if it is free or lapsed (conditional write); False if another run holds it."""
    now = int(clock.now().timestamp())
    try:
        aws.client("dynamodb").put_item(
            TableName=_table(),
            Item=to_item({"pk": "sweep", "sk": "lease", "holder": holder, "until": now + seconds}),
            ConditionExpression="attribute_not_exists(pk) OR #until < :now OR holder = :me",
            ExpressionAttributeNames={"#until": "until"},
            ExpressionAttributeValues=to_item({":now": now, ":me": holder}),
        )
    except ClientError as error:
        if cancelled_by_condition(error):
            return False
        raise
    return True


def release_lease(holder: str) -> None:
    """Give the lease back (only if still ours)."""
    try:
        aws.client("dynamodb").delete_item(
            TableName=_table(),
            Key=to_item({"pk": "sweep", "sk": "lease"}),
            ConditionExpression="holder = :me",
            ExpressionAttributeValues=to_item({":me": holder}),
        )
    except ClientError as error:
        if not cancelled_by_condition(error):
            raise
