"""S3 objects under retention, found by date-partitioned markers instead of listing the bucket.

S3 has no TTL. An object that must go on its own (not with a parent item, like a message's attachments)
is registered with a zero-byte marker ``retention/due/<yyyy-mm-dd>/<category>/<object key>`` in the
same bucket: the sweep lists only the partitions of the days that came due since its last run, so its
cost follows what expires, never what is stored. Object keys start ``<root>/<subject_id>/`` so a held
subject is recognised from the key; its markers are parked under ``retention/held/<subject_id>/`` and
put back (due at once if their day has passed) when the last hold is lifted.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from habeas import aws, clock
from habeas.config import get_settings

DUE = "retention/due/"
HELD = "retention/held/"


def _bucket() -> str:
    return get_settings().require("attachments_bucket")


def marker_key(due: date, category: str, object_key: str) -> str:
    """The marker that makes ``object_key`` due on ``due``."""
    return f"{DUE}{due.isoformat()}/{category}/{object_key}"


def parse_marker(key: str) -> tuple[str, str, str]:
    """(due date, category, object key) of a due marker."""
    day, category, object_key = key[len(DUE) :].split("/", 2)
    return day, category, object_key


def subject_in(object_key: str) -> str | None:
    """The subject id an object key names (``<root>/<subject_id>/...``)."""
    parts = object_key.split("/")
    return parts[1] if len(parts) > 2 and parts[1] else None


def register(object_key: str, category: str, anchor: datetime) -> date | None:
    """Make an object of ``category`` due by its policy counted from ``anchor``; returns its day."""
    from habeas.retention import expires_at_for

    expires_at = expires_at_for(category, anchor)
    if expires_at is None:
        return None
    # The first day that starts at or after the expiry: an object is never deleted before its time.
    due = (datetime.fromtimestamp(expires_at - 1, tz=UTC) + timedelta(days=1)).date()
    aws.client("s3").put_object(Bucket=_bucket(), Key=marker_key(due, category, object_key), Body=b"")
    return due


def due_markers(day: date) -> Any:
    """Pages of the due markers of one day (one listing of that day's partition only)."""
    kwargs: dict[str, Any] = {"Bucket": _bucket(), "Prefix": f"{DUE}{day.isoformat()}/"}
    while True:
        page = aws.client("s3").list_objects_v2(**kwargs)
        yield [obj["Key"] for obj in page.get("Contents", [])]
        if not page.get("IsTruncated"):
            return
        kwargs["ContinuationToken"] = page["NextContinuationToken"]


def park(marker: str, subject_id: str) -> None:
    """Move a held subject's due marker aside until the hold is lifted."""
    s3 = aws.client("s3")
    s3.put_object(Bucket=_bucket(), Key=f"{HELD}{subject_id}/{marker[len(DUE) :]}", Body=b"")
    s3.delete_object(Bucket=_bucket(), Key=marker)


def unpark(subject_id: str) -> int:
    """Put a subject's parked markers back, due on their day or today if it has passed."""
    if not get_settings().attachments_bucket:
        return 0
    s3, today, moved = aws.client("s3"), clock.now().date(), 0
    prefix = f"{HELD}{subject_id}/"
    kwargs: dict[str, Any] = {"Bucket": _bucket(), "Prefix": prefix}
    while True:
        page = s3.list_objects_v2(**kwargs)
        for obj in page.get("Contents", []):
            day, category, object_key = obj["Key"][len(prefix) :].split("/", 2)
            due = max(date.fromisoformat(day), today)
            s3.put_object(Bucket=_bucket(), Key=marker_key(due, category, object_key), Body=b"")
            s3.delete_object(Bucket=_bucket(), Key=obj["Key"])
            moved += 1
        if not page.get("IsTruncated"):
            return moved
        kwargs["ContinuationToken"] = page["NextContinuationToken"]


def days_between(first: date, last: date) -> list[date]:
    """Every day from ``first`` to ``last`` inclusive."""
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]
