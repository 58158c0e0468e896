"""Subjects and the blind index that finds them by identifier."""

from __future__ import annotations

import uuid

from botocore.exceptions import ClientError

from habeas import aws, clock
from habeas.config import get_settings
from habeas.dynamo import cancelled_by_condition, from_item, to_item


def find(blind_index: str) -> str | None:
    """The subject id behind a blind index, if any."""
    response = aws.client("dynamodb").get_item(
        TableName=get_settings().require("identifiers_table"),
        Key=to_item({"blind_index": blind_index}),
        ConsistentRead=True,
    )
    item = response.get("Item")
    return str(from_item(item)["subject_id"]) if item else None


def find_or_create(blind_index: str, kind: str) -> tuple[str, bool]:
    """The subject behind ``blind_index``, created (subject + index entry, atomically) if new.

    Returns ``(subject_id, created)``. Two concurrent confirmations of the same new identifier
    create one subject: the loser's transaction fails its condition and it reads the winner's.
    """
    existing = find(blind_index)
    if existing:
        return existing, False
    settings = get_settings()
    subject_id = f"sub_{uuid.uuid4().hex}"
    now = clock.rfc3339(clock.now())
    try:
        aws.client("dynamodb").transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": settings.require("identifiers_table"),
                        "Item": to_item(
                            {"blind_index": blind_index, "subject_id": subject_id, "kind": kind, "created_at": now}
                        ),
                        "ConditionExpression": "attribute_not_exists(blind_index)",
                    }
                },
                {
                    "Put": {
                        "TableName": settings.require("subjects_table"),
                        "Item": to_item({"subject_id": subject_id, "created_at": now}),
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
