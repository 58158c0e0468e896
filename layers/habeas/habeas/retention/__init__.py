"""Retention: how long each category of personal data is kept, and the expiry stamped on every item.

Policies come from the data map (``Category.retention``: a duration from creation or from the
subject's last activity). Every write of personal data merges ``stamp(category, anchor)`` into the
item: ``expires_at`` (the DynamoDB TTL attribute, epoch seconds), ``retention_policy``
(``"<category>#<seconds>"``, the policy the stamp was computed from) and ``retention_anchor`` (epoch
seconds of the anchor). The two last ones let the scheduled sweep find, through the ``by_retention``
index (partition ``retention_policy``, sort ``expires_at``), exactly the items stamped under an old
policy or expiring now, without ever scanning a table.

DynamoDB deletes expired items lazily, so every read path drops items past ``expires_at``
(``is_expired`` / ``unexpired``): expired data is never served or exported.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from habeas import clock
from habeas.datamap import Retention, data_map
from habeas.retention.stores import restore_expiry, suspend_expiry

__all__ = [
    "ANCHOR_ATTRIBUTE",
    "HELD_ATTRIBUTE",
    "POLICY_ATTRIBUTE",
    "TTL_ATTRIBUTE",
    "attachment_prefix",
    "activity_day",
    "category_of_marker",
    "epoch",
    "expires_at_for",
    "is_expired",
    "policy",
    "policy_marker",
    "restore_expiry",
    "stamp",
    "store_stamp",
    "suspend_expiry",
    "unexpired",
]

TTL_ATTRIBUTE = "expires_at"
POLICY_ATTRIBUTE = "retention_policy"
ANCHOR_ATTRIBUTE = "retention_anchor"
# Where a legal hold parks the expiry it removed (restored, or recomputed from policy, on lift).
HELD_ATTRIBUTE = "held_expires_at"
RETENTION_INDEX = "by_retention"


def policy(category: str) -> Retention | None:
    """The category's retention policy from the data map (None: kept until erased)."""
    return data_map().category(category).retention


def seconds_of(retention: Retention) -> int:
    """A policy's whole duration in seconds."""
    return int(retention.duration.total_seconds())


def policy_marker(category: str) -> str | None:
    """``"<category>#<seconds>"`` for the category's current policy: the index partition of its items."""
    retention = policy(category)
    return f"{category}#{seconds_of(retention)}" if retention else None


def category_of_marker(marker: str) -> str:
    """The category named by a policy marker."""
    return marker.rsplit("#", 1)[0]


def epoch(moment: datetime | int | float | str) -> int:
    if isinstance(moment, datetime):
        return int(moment.timestamp())
    if isinstance(moment, str):
        return int(datetime.fromisoformat(moment.replace("Z", "+00:00")).timestamp())
    return int(moment)


def expires_at_for(category: str, anchor: datetime | int | float | str) -> int | None:
    """When an item of ``category`` expires (epoch seconds), counted from ``anchor``.

    ``anchor`` is the item's creation time or the subject's last activity, whichever the category's
    policy names (``policy(category).anchor``); None if the category has no retention policy.
    """
    retention = policy(category)
    return epoch(anchor) + seconds_of(retention) if retention else None


def stamp(category: str, anchor: datetime | int | float | str) -> dict[str, Any]:
    """The retention attributes to merge into an item of ``category`` ({} if it has no policy)."""
    retention = policy(category)
    if retention is None:
        return {}
    start = epoch(anchor)
    return {
        TTL_ATTRIBUTE: start + seconds_of(retention),
        POLICY_ATTRIBUTE: f"{category}#{seconds_of(retention)}",
        ANCHOR_ATTRIBUTE: start,
    }


def activity_day(moment: datetime | int | float | str | None = None) -> int:
    """The ``last_activity`` anchor for activity at ``moment`` (now): the start of its UTC day.

    Day granularity keeps the anchor (and every item stamped from it) unchanged by a subject's further
    activity the same day, so recording activity writes at most once a day per subject.
    """
    seconds = epoch(moment) if moment is not None else int(clock.now().timestamp())
    return seconds - seconds % 86_400


def store_stamp(store_name: str, at: datetime | int | float | str | None = None) -> dict[str, Any]:
    """The retention attributes of an item of a store that declares ``retention_category``, written ``at``.

    The anchor is the moment ``at`` (default now) for categories counted from creation, and the start
    of its day for those counted from last activity (a write of the subject's data is their activity).
    """
    category = data_map().store(store_name).retention_category
    retention = policy(category) if category else None
    if category is None or retention is None:
        return {}
    moment = epoch(at) if at is not None else int(clock.now().timestamp())
    return stamp(category, activity_day(moment) if retention.anchor == "last_activity" else moment)


def is_expired(item: dict[str, Any], now: datetime | int | None = None) -> bool:
    """True if the (plain) item's ``expires_at`` has passed (DynamoDB may not have deleted it yet)."""
    expires_at = item.get(TTL_ATTRIBUTE)
    if expires_at is None or isinstance(expires_at, bool):
        return False
    try:
        deadline = int(expires_at)
    except (TypeError, ValueError):
        return False  # DynamoDB ignores a TTL attribute that is not a number; so do we
    current = epoch(now) if now is not None else int(clock.now().timestamp())
    return deadline <= current


def unexpired(items: Iterable[dict[str, Any]], now: datetime | int | None = None) -> list[dict[str, Any]]:
    """The items that have not expired (for every read path that serves or exports data)."""
    current = epoch(now) if now is not None else int(clock.now().timestamp())
    return [item for item in items if not is_expired(item, current)]


def attachment_prefix(subject_id: str, item_sort_key: str) -> str:
    """The S3 prefix (in ATTACHMENTS_BUCKET) of the files attached to one conversation item."""
    message = item_sort_key.split("#", 1)[1] if "#" in item_sort_key else item_sort_key
    return f"attachments/{subject_id}/{_safe(message)}/"


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.:" else "_" for c in text)
