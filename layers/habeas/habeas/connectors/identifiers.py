"""Moving a subject's blind index when a rectification changes their email or phone.

The identifiers table (``habeas.subjects``) holds one row per identifier: ``{blind_index, subject_id,
kind, created_at}``. After a change the new identifier's row points at the subject (created only if
no other subject owns it) and the subject's earlier rows of that kind are deleted, so the new
identifier verifies to the same subject and the old one no longer finds it. Every step is
conditional and idempotent: a rerun after a crash completes the move.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from habeas import aws, clock, retention
from habeas.config import get_settings
from habeas.dynamo import cancelled_by_condition, from_item, to_item
from habeas.errors import Conflict
from habeas.identifiers import Identifier, blind_index

BY_SUBJECT = "by_subject"


def _table() -> str:
    return get_settings().require("identifiers_table")


def owner_of(identifier: Identifier) -> str | None:
    """The subject the identifier verifies to, if any."""
    response = aws.client("dynamodb").get_item(
        TableName=_table(), Key=to_item({"blind_index": blind_index(identifier)}), ConsistentRead=True
    )
    item = from_item(response["Item"]) if response.get("Item") else None
    return str(item["subject_id"]) if item and not retention.is_expired(item) else None


def ensure_available(subject_id: str, identifier: Identifier) -> None:
    """Conflict if the identifier already belongs to another subject (check before accepting a change)."""
    owner = owner_of(identifier)
    if owner is not None and owner != subject_id:
        raise Conflict(f"the new {identifier.kind} belongs to another data subject")


def claim(subject_id: str, identifier: Identifier) -> bool:
    """Point the identifier's blind index at the subject; Conflict if another subject owns it.

    Returns True if a row was created, False if the subject already owned it.
    """
    index = blind_index(identifier)
    try:
        aws.client("dynamodb").put_item(
            TableName=_table(),
            Item=to_item(
                {
                    "blind_index": index,
                    "subject_id": subject_id,
                    "kind": identifier.kind,
                    "created_at": clock.rfc3339(clock.now()),
                    # Kept as long as the profile it finds: from the profile's own last-activity anchor.
                    **retention.store_stamp("identifiers", _profile_anchor(subject_id)),
                }
            ),
            ConditionExpression="attribute_not_exists(blind_index) OR expires_at <= :now",
            ExpressionAttributeValues=to_item({":now": int(clock.now().timestamp())}),
        )
        return True
    except ClientError as error:
        if not cancelled_by_condition(error):
            raise
    ensure_available(subject_id, identifier)
    return False


def _profile_anchor(subject_id: str) -> int | None:
    """The subject's current last-activity anchor (None: no stamped profile, so today's)."""
    response = aws.client("dynamodb").get_item(
        TableName=get_settings().require("subjects_table"),
        Key=to_item({"subject_id": subject_id}),
        ProjectionExpression="#anchor",
        ExpressionAttributeNames={"#anchor": retention.ANCHOR_ATTRIBUTE},
        ConsistentRead=True,
    )
    anchor = from_item(response.get("Item", {})).get(retention.ANCHOR_ATTRIBUTE)
    return int(anchor) if anchor is not None else None


def release_others(subject_id: str, identifier: Identifier) -> int:
    """Delete the subject's rows of the identifier's kind other than its own; returns how many."""
    keep = blind_index(identifier)
    released = 0
    for row in _rows_of(subject_id):
        if row.get("kind") != identifier.kind or row["blind_index"] == keep:
            continue
        try:
            aws.client("dynamodb").delete_item(
                TableName=_table(),
                Key=to_item({"blind_index": row["blind_index"]}),
                ConditionExpression="subject_id = :s",
                ExpressionAttributeValues=to_item({":s": subject_id}),
            )
            released += 1
        except ClientError as error:
            if not cancelled_by_condition(error):
                raise
    return released


def _rows_of(subject_id: str) -> list[dict[str, Any]]:
    kwargs: dict[str, Any] = {
        "TableName": _table(),
        "IndexName": BY_SUBJECT,
        "KeyConditionExpression": "subject_id = :s",
        "ExpressionAttributeValues": to_item({":s": subject_id}),
    }
    rows: list[dict[str, Any]] = []
    while True:
        page = aws.client("dynamodb").query(**kwargs)
        rows += [from_item(raw) for raw in page.get("Items", [])]
        if "LastEvaluatedKey" not in page:
            return rows
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
