"""Subjects and the blind index that finds them by identifier.

Both items carry the retention stamp of their store (kept from the subject's last activity); an
expired entry (awaiting DynamoDB's TTL) finds nobody, and a new subject may take its blind index.
"""

from __future__ import annotations

import uuid
from typing import Any

from botocore.exceptions import ClientError

from habeas import aws, clock, retention
from habeas.config import get_settings
from habeas.dynamo import cancelled_by_condition, from_item, to_item
from habeas.retention import activity


def _entry(blind_index: str) -> dict[str, Any] | None:
    """The unexpired identifier row of a blind index, if any."""
    response = aws.client("dynamodb").get_item(
        TableName=get_settings().require("identifiers_table"),
        Key=to_item({"blind_index": blind_index}),
        ConsistentRead=True,
    )
    item = from_item(response["Item"]) if response.get("Item") else None
    return item if item and not retention.is_expired(item) else None


def find(blind_index: str) -> str | None:
    """The subject id behind a blind index, if any."""
    entry = _entry(blind_index)
    return str(entry["subject_id"]) if entry else None


def find_or_create(blind_index: str, kind: str) -> tuple[str, bool]:
    """The subject behind ``blind_index``, created (subject + index entry, atomically) if new.

    Returns ``(subject_id, created)``. Two concurrent confirmations of the same new identifier
    create one subject: the loser's transaction fails its condition and it reads the winner's. Finding
    the subject is their activity (``retention.activity.touch``).
    """
    entry = _entry(blind_index)
    if entry:
        subject_id = str(entry["subject_id"])
        # The row carries the profile's anchor (re-anchored with it): today's means nothing to record.
        if int(entry.get(retention.ANCHOR_ATTRIBUTE, 0)) < retention.activity_day():
            activity.touch(subject_id)
        return subject_id, False
    settings = get_settings()
    subject_id = f"sub_{uuid.uuid4().hex}"
    moment = clock.now()
    now = clock.rfc3339(moment)
    day = retention.activity_day(moment)
    try:
        aws.client("dynamodb").transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": settings.require("identifiers_table"),
                        "Item": to_item(
                            {
                                "blind_index": blind_index,
                                "subject_id": subject_id,
                                "kind": kind,
                                "created_at": now,
                                **retention.store_stamp("identifiers", day),
                            }
                        ),
                        # An expired entry (its subject is gone but for DynamoDB's TTL) can be taken.
                        "ConditionExpression": "attribute_not_exists(blind_index) OR expires_at <= :now",
                        "ExpressionAttributeValues": to_item({":now": int(moment.timestamp())}),
                    }
                },
                {
                    "Put": {
                        "TableName": settings.require("subjects_table"),
                        "Item": to_item(
                            {
                                "subject_id": subject_id,
                                "created_at": now,
                                activity.LAST_ACTIVITY: day,
                                **retention.store_stamp(activity.PROFILES, day),
                            }
                        ),
                        "ConditionExpression": "attribute_not_exists(subject_id)",
                    }
                },
            ]
        )
    except ClientError as error:
        if not cancelled_by_condition(error):
            raise
        winner = find(blind_index)
        if winner is None:
            raise
        return winner, False
    return subject_id, True
