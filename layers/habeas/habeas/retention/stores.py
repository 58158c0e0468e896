"""One subject's items in the data map's DynamoDB stores, and taking their expiry off (and back) for holds.

DynamoDB's TTL deletes an expired item whatever the application thinks, so a legal hold moves each
of the subject's ``expires_at`` into ``held_expires_at`` (the item leaves the TTL process and the
sparse ``by_retention`` index the sweep reads), and lifting the last hold puts an expiry back:
recomputed from the category's current policy when the item carries its policy marker and anchor,
else the parked value. One query per store (by partition or by the store's subject index), never a scan.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from habeas import aws
from habeas.datamap import Store, data_map
from habeas.dynamo import cancelled_by_condition, from_item, to_item
from habeas.observability import logger


def _names() -> tuple[str, str, str, str]:
    from habeas.retention import ANCHOR_ATTRIBUTE, HELD_ATTRIBUTE, POLICY_ATTRIBUTE, TTL_ATTRIBUTE

    return TTL_ATTRIBUTE, HELD_ATTRIBUTE, POLICY_ATTRIBUTE, ANCHOR_ATTRIBUTE


def retained_stores() -> list[Store]:
    """DynamoDB stores whose items expire: a field of a category with a retention policy, or records
    kept for the store's own period (``erasure.period_days``, e.g. request records kept as proof)."""
    dm = data_map()
    return [
        store
        for store in dm.stores.values()
        if store.kind == "dynamodb"
        and (
            store.erasure.period_days is not None
            or any(dm.category(spec.category).retention is not None for spec in store.fields.values())
        )
    ]


def table_of(store: Store) -> str | None:
    """The store's physical table in this function's environment (None: not given to this function)."""
    return os.environ.get(store.table_env or "") or None


def subject_items(store: Store, subject_id: str) -> Iterator[dict[str, Any]]:
    """The subject's raw items in one DynamoDB store (one paged query on its partition or subject index)."""
    table = table_of(store)
    if table is None or not store.partition_key:
        return
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": store.partition_key},
        "ExpressionAttributeValues": to_item({":pk": store.partition_for(subject_id)}),
    }
    if store.index:
        kwargs["IndexName"] = store.index  # a GSI: eventually consistent, as DynamoDB allows no other
    else:
        kwargs["ConsistentRead"] = True  # a hold or its lift sees every item written before it
    if not store.index and store.sort_prefix and store.sort_key:
        kwargs["KeyConditionExpression"] += " AND begins_with(#sk, :prefix)"
        kwargs["ExpressionAttributeNames"]["#sk"] = store.sort_key
        kwargs["ExpressionAttributeValues"][":prefix"] = {"S": store.sort_prefix}
    while True:
        page = aws.client("dynamodb").query(**kwargs)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def held_by_hold(store: Store, item: dict[str, Any]) -> bool:
    """True for an item a legal hold keeps: one under a retention policy (its marker), one holding a
    field of the store, or any record of a store kept for its own period (a request record)."""
    _, _, policy_attr, _ = _names()
    return (
        policy_attr in item
        or any(name in item for name in store.fields)
        or (not store.fields and store.erasure.period_days is not None)
    )


def _update(table: str, key: dict[str, Any], **kwargs: Any) -> bool:
    try:
        aws.client("dynamodb").update_item(TableName=table, Key=key, **kwargs)
    except ClientError as error:
        if cancelled_by_condition(error):
            return False  # changed (or deleted) meanwhile: nothing to do for this item
        raise
    return True


def _suspension() -> dict[str, Any]:
    """The update that takes an item out of TTL: ``expires_at`` moves to ``held_expires_at``."""
    ttl, held, _, _ = _names()
    return {
        "UpdateExpression": "SET #held = #ttl REMOVE #ttl",
        "ConditionExpression": "attribute_exists(#ttl)",
        "ExpressionAttributeNames": {"#ttl": ttl, "#held": held},
    }


def suspend_item(table: str, key: dict[str, Any]) -> bool:
    """Take one item out of TTL. False if it had no expiry."""
    return _update(table, key, **_suspension())


def suspend_item_while_held(table: str, key: dict[str, Any], holds_table: str, hold_key: dict[str, Any]) -> bool | None:
    """Take one item out of TTL only while the hold ``hold_key`` is still active, in one transaction
    (a lift between "is it held?" and the write would otherwise leave the item without expiry for ever).

    True: suspended; False: the item has no expiry (any more); None: that hold is no longer active.
    """
    from habeas.holds import ACTIVE

    items = [
        {
            "ConditionCheck": {
                "TableName": holds_table,
                "Key": to_item(hold_key),
                "ConditionExpression": "#st = :active",
                "ExpressionAttributeNames": {"#st": "status"},
                "ExpressionAttributeValues": to_item({":active": ACTIVE}),
            }
        },
        {"Update": {"TableName": table, "Key": key, **_suspension()}},
    ]
    try:
        aws.client("dynamodb").transact_write_items(TransactItems=items)
    except ClientError as error:
        if not cancelled_by_condition(error):
            raise
        reasons = error.response.get("CancellationReasons") or []
        hold_failed = bool(reasons) and reasons[0].get("Code") == "ConditionalCheckFailed"
        return None if hold_failed else False
    return True


def suspend_expiry(subject_id: str) -> int:
    """Remove the expiry from every item of the subject that has one; returns how many items changed."""
    ttl, _, _, _ = _names()
    changed = 0
    for store in retained_stores():
        table = table_of(store)
        if table is None:
            logger.warning("hold: store not reachable from this function", extra={"store": store.name})
            continue
        for raw in subject_items(store, subject_id):
            if ttl in raw and held_by_hold(store, raw):
                changed += suspend_item(table, {name: raw[name] for name in store.primary_key})
    return changed


def restored_expiry(item: dict[str, Any]) -> tuple[int, str | None] | None:
    """The expiry (and policy marker) an item gets back when its hold is lifted, from the current policy."""
    from habeas.retention import category_of_marker, policy, seconds_of

    ttl, held, policy_attr, anchor_attr = _names()
    marker, anchor = item.get(policy_attr), item.get(anchor_attr)
    if marker and anchor is not None:
        retention = policy(category_of_marker(str(marker)))
        if retention is not None:
            category = category_of_marker(str(marker))
            return int(anchor) + seconds_of(retention), f"{category}#{seconds_of(retention)}"
    if item.get(held) is not None:
        return int(item[held]), None
    return None


def restore_item(table: str, key: dict[str, Any], item: dict[str, Any]) -> bool:
    """Give one held item (plain values) its expiry back; False if it was not held (or had no expiry)."""
    ttl, held, policy_attr, _ = _names()
    restored = restored_expiry(item)
    if restored is None:
        return False
    expires_at, marker = restored
    names = {"#ttl": ttl, "#held": held}
    values: dict[str, Any] = {":exp": expires_at}
    sets = "#ttl = :exp"
    if marker:
        names["#pol"] = policy_attr
        values[":pol"] = marker
        sets += ", #pol = :pol"
    return _update(
        table,
        key,
        UpdateExpression=f"SET {sets} REMOVE #held",
        ConditionExpression="attribute_exists(#held)",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=to_item(values),
    )


def restore_expiry(subject_id: str) -> int:
    """Give the subject's held items their expiry back (recomputed from policy); returns how many."""
    _, held, _, _ = _names()
    changed = 0
    for store in retained_stores():
        table = table_of(store)
        if table is None:
            continue
        for raw in subject_items(store, subject_id):
            if held in raw:
                changed += restore_item(table, {name: raw[name] for name in store.primary_key}, from_item(raw))
    return changed
