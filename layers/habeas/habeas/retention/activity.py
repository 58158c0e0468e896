"""A subject's last activity: the anchor of every category kept "N days after last activity".

``touch`` is called where the subject acts: a message on a channel, a confirmed verification, a
consent decision, a request, a profile change. It moves the profile's ``last_activity`` (and the
profile's own expiry) to today with one conditional update that does nothing if it already says
today, so it writes at most once a day per subject and never resurrects an expired profile.

The profile's stream record then re-anchors the subject's other items kept from last activity (the
identifiers, the consent ledger) in the retention cascade (``reanchor``), off the request path: one
query per store on the subject's partition or index, one conditional update per item. Items a legal
hold has taken out of TTL get the new expiry parked, not set.

When a profile expires (nobody heard from the subject for the whole policy), ``retire`` removes what
only served that profile: the identifiers that found it and the subject's data keys (crypto-shredding
whatever ciphertext might remain), through the data map's connectors.
"""

from __future__ import annotations

from datetime import datetime

from botocore.exceptions import ClientError

from habeas import aws, clock
from habeas.config import get_settings
from habeas.datamap import Store, data_map
from habeas.dynamo import cancelled_by_condition, to_item
from habeas.retention import (
    ANCHOR_ATTRIBUTE,
    HELD_ATTRIBUTE,
    POLICY_ATTRIBUTE,
    TTL_ATTRIBUTE,
    activity_day,
    policy,
    store_stamp,
)
from habeas.retention.stores import subject_items, table_of

PROFILES = "profiles"
LAST_ACTIVITY = "last_activity"


def touch(subject_id: str, *, now: datetime | None = None) -> bool:
    """Record the subject's activity today; True if the anchor moved (first activity of the day)."""
    day = activity_day(now)
    stamp = store_stamp(PROFILES, day)
    if not stamp:
        return False
    current = int((now or clock.now()).timestamp())
    try:
        aws.client("dynamodb").update_item(
            TableName=get_settings().require("subjects_table"),
            Key=to_item({"subject_id": subject_id}),
            UpdateExpression="SET #last = :day, #ttl = :exp, #pol = :pol, #anchor = :day",
            ConditionExpression=(
                "attribute_exists(subject_id) AND (attribute_not_exists(#last) OR #last < :day)"
                " AND (attribute_not_exists(#ttl) OR #ttl > :now)"
            ),
            ExpressionAttributeNames={
                "#last": LAST_ACTIVITY,
                "#ttl": TTL_ATTRIBUTE,
                "#pol": POLICY_ATTRIBUTE,
                "#anchor": ANCHOR_ATTRIBUTE,
            },
            ExpressionAttributeValues=to_item(
                {":day": day, ":exp": stamp[TTL_ATTRIBUTE], ":pol": stamp[POLICY_ATTRIBUTE], ":now": current}
            ),
        )
    except ClientError as error:
        if cancelled_by_condition(error):
            return False  # already today, no such subject, or expired (awaiting deletion)
        raise
    return True


def activity_stores() -> list[Store]:
    """DynamoDB stores other than the profile whose items are kept from the subject's last activity."""
    stores = []
    for store in data_map().stores.values():
        if store.kind != "dynamodb" or store.name == PROFILES or not store.retention_category:
            continue
        retention = policy(store.retention_category)
        if retention is not None and retention.anchor == "last_activity":
            stores.append(store)
    return stores


def reanchor(subject_id: str, day: int, *, now: datetime | None = None) -> int:
    """Move the subject's last-activity items to the new anchor ``day``; returns how many changed.

    Conditional on each item still having an older anchor and not being expired, so it is idempotent,
    never moves an anchor back and never revives an item awaiting deletion.
    """
    current = int((now or clock.now()).timestamp())
    changed = 0
    for store in activity_stores():
        table = table_of(store)
        stamp = store_stamp(store.name, day)  # day is a day start: the anchor is day itself
        if table is None or not stamp:
            continue
        for raw in subject_items(store, subject_id):
            anchor = raw.get(ANCHOR_ATTRIBUTE, {}).get("N")
            if anchor is not None and int(anchor) >= day:
                continue
            held = HELD_ATTRIBUTE in raw
            target = "#held" if held else "#ttl"
            try:
                aws.client("dynamodb").update_item(
                    TableName=table,
                    Key={name: raw[name] for name in store.primary_key},
                    UpdateExpression=f"SET {target} = :exp, #pol = :pol, #anchor = :day",
                    ConditionExpression=(
                        f"attribute_exists({'#held' if held else '#pk'})"
                        " AND (attribute_not_exists(#anchor) OR #anchor < :day)"
                        " AND (attribute_not_exists(#ttl) OR #ttl > :now)"
                    ),
                    ExpressionAttributeNames={
                        "#ttl": TTL_ATTRIBUTE,
                        "#pol": POLICY_ATTRIBUTE,
                        "#anchor": ANCHOR_ATTRIBUTE,
                        **({"#held": HELD_ATTRIBUTE} if held else {"#pk": store.primary_key[0]}),
                    },
                    ExpressionAttributeValues=to_item(
                        {":exp": stamp[TTL_ATTRIBUTE], ":pol": stamp[POLICY_ATTRIBUTE], ":day": day, ":now": current}
                    ),
                )
            except ClientError as error:
                if cancelled_by_condition(error):
                    continue  # changed, expired or deleted meanwhile
                raise
            changed += 1
    return changed


def retire(subject_id: str) -> dict[str, int]:
    """What an expired (and deleted) profile leaves behind, removed; returns the count per store.

    Stores kept from last activity whose erasure deletes (the identifiers that found the profile)
    lose the subject's rows, each deleted only if it still names this subject (an expired identifier
    may have been taken over by a new subject meanwhile), and the subject's data keys are shredded,
    so any ciphertext left anywhere (a backup) is unreadable. Stores whose erasure retains (the
    consent ledger) keep their own policy. Nothing is removed while a legal hold stands.
    """
    from habeas import holds
    from habeas.connectors import connector_for

    if holds.is_held(subject_id):
        return {}
    done: dict[str, int] = {}
    for store in activity_stores():
        table = table_of(store)
        if store.erasure.strategy != "delete" or table is None or not store.partition_key:
            continue
        done[store.name] = 0
        for raw in subject_items(store, subject_id):
            try:
                aws.client("dynamodb").delete_item(
                    TableName=table,
                    Key={name: raw[name] for name in store.primary_key},
                    ConditionExpression="#owner = :subject",
                    ExpressionAttributeNames={"#owner": store.partition_key},
                    ExpressionAttributeValues=to_item({":subject": store.partition_for(subject_id)}),
                )
                done[store.name] += 1
            except ClientError as error:
                if not cancelled_by_condition(error):
                    raise  # else: gone already, or another subject's now
    for store in data_map().stores.values():
        if store.kind == "dynamodb" and store.erasure.strategy == "shred" and table_of(store) is not None:
            done[store.name] = connector_for(store).erase(subject_id, request_id="retention").count
    return done
