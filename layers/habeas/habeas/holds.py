"""Legal holds: while one stands on a subject, neither retention nor erasure deletes the subject's data.

Holds live in their own table (pk ``subject_id``, sk ``hold_id``) so that functions which only need to
*ask* whether a subject is held (the request lifecycle, the retention cascade) get read access to that
table alone, and only the staff console may write it. Placing and lifting are conditional writes and
are audited (the reason is stored in the holds table, the audit entry carries only its hash).

DynamoDB's TTL deletes an expired item whatever the application thinks, so a hold cannot just be a
flag: the retention cascade (``RetentionCascadeFunction``, on this table's stream) takes ``expires_at``
off the subject's items when a hold is placed, and stamps it again from the retention policy when the
last standing hold is lifted (``habeas.retention.suspend_expiry`` / ``restore_expiry``). So the staff
console, which writes holds, never needs write access to the data tables.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from habeas import audit, aws, clock
from habeas.config import get_settings
from habeas.dynamo import cancelled_by_condition, from_item, to_item
from habeas.errors import Conflict, NotFound
from habeas.observability import logger

ACTIVE = "active"
LIFTED = "lifted"
_PUBLIC_FIELDS = (
    "hold_id",
    "subject_id",
    "status",
    "reason",
    "placed_at",
    "placed_by",
    "until",
    "lifted_at",
    "lifted_by",
)


def _table() -> str:
    return get_settings().require("holds_table")


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {key: item[key] for key in _PUBLIC_FIELDS if item.get(key) is not None}


def stands(hold: dict[str, Any], now: datetime | None = None) -> bool:
    """True for an active hold whose optional ``until`` has not passed."""
    now = now or clock.now()
    if hold.get("status") != ACTIVE:
        return False
    until = hold.get("until")
    return not until or datetime.fromisoformat(str(until).replace("Z", "+00:00")) > now


def list_holds(subject_id: str) -> list[dict[str, Any]]:
    """Every hold ever placed on a subject (active and lifted), oldest first (one query)."""
    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": _table(),
        "KeyConditionExpression": "subject_id = :s",
        "ExpressionAttributeValues": to_item({":s": subject_id}),
        "ConsistentRead": True,
    }
    while True:
        page = aws.client("dynamodb").query(**kwargs)
        found += [from_item(item) for item in page.get("Items", [])]
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    found.sort(key=lambda hold: (str(hold.get("placed_at", "")), str(hold["hold_id"])))
    return [_public(hold) for hold in found]


def active_hold(subject_id: str) -> dict[str, Any] | None:
    """The standing hold on a subject (the oldest if several), or None. One consistent query."""
    now = clock.now()
    standing = [hold for hold in list_holds(subject_id) if stands(hold, now)]
    return standing[0] if standing else None


def is_held(subject_id: str) -> bool:
    """True while a hold stands on the subject."""
    return active_hold(subject_id) is not None


def subject_exists(subject_id: str) -> bool:
    """True if the subject has an item in SUBJECTS_TABLE."""
    response = aws.client("dynamodb").get_item(
        TableName=get_settings().require("subjects_table"),
        Key=to_item({"subject_id": subject_id}),
        ProjectionExpression="subject_id",
        ConsistentRead=True,
    )
    return "Item" in response


def _reason_hash(reason: str) -> str:
    return hashlib.sha256(reason.encode()).hexdigest()


def place_hold(subject_id: str, reason: str, actor: audit.Actor, *, until: str | None = None) -> dict[str, Any]:
    """Place a hold on a known subject (the cascade then takes the expiry off its items). Returns the hold.

    Unknown subject → NotFound (nothing written). ``until`` (RFC 3339) lets the hold lapse by itself.
    """
    if not subject_exists(subject_id):
        raise NotFound("no such subject")
    hold = {
        "subject_id": subject_id,
        "hold_id": f"hold_{uuid.uuid4().hex}",
        "status": ACTIVE,
        "reason": reason,
        "placed_at": clock.rfc3339(clock.now()),
        "placed_by": actor.id,
        "until": until,
    }
    aws.client("dynamodb").put_item(
        TableName=_table(), Item=to_item(hold), ConditionExpression="attribute_not_exists(hold_id)"
    )
    audit.record(
        actor,
        audit.AuditEvent(
            action="hold.placed",
            subject_id=subject_id,
            detail={"hold_id": hold["hold_id"], "reason_sha256": _reason_hash(reason), "until": until},
        ),
    )
    logger.info("legal hold placed", extra={"subject_id": subject_id, "hold_id": hold["hold_id"]})
    return _public(hold)


def lift_hold(subject_id: str, hold_id: str, actor: audit.Actor, *, lapsed: bool = False) -> dict[str, Any]:
    """Lift a standing hold (if no other stands, the cascade gives the subject's items their expiry back).

    Unknown hold (or another subject's) → NotFound; already lifted → Conflict. ``lapsed``: the sweep
    lifts a hold whose ``until`` has passed (audited as ``hold.lapsed``).
    """
    lifted_at = clock.rfc3339(clock.now())
    try:
        response = aws.client("dynamodb").update_item(
            TableName=_table(),
            Key=to_item({"subject_id": subject_id, "hold_id": hold_id}),
            UpdateExpression="SET #st = :lifted, lifted_at = :at, lifted_by = :by",
            ConditionExpression="attribute_exists(hold_id) AND #st = :active",
            ExpressionAttributeNames={"#st": "status"},
            ExpressionAttributeValues=to_item(
                {":lifted": LIFTED, ":active": ACTIVE, ":at": lifted_at, ":by": actor.id}
            ),
            ReturnValues="ALL_NEW",
        )
    except ClientError as error:
        if not cancelled_by_condition(error):
            raise
        existing = aws.client("dynamodb").get_item(
            TableName=_table(), Key=to_item({"subject_id": subject_id, "hold_id": hold_id}), ConsistentRead=True
        )
        if "Item" not in existing:
            raise NotFound("no such hold") from None
        raise Conflict("the hold was already lifted") from None
    hold = from_item(response["Attributes"])
    action = "hold.lapsed" if lapsed else "hold.lifted"
    audit.record(actor, audit.AuditEvent(action=action, subject_id=subject_id, detail={"hold_id": hold_id}))
    logger.info("legal hold lifted", extra={"subject_id": subject_id, "hold_id": hold_id})
    return _public(hold)
