"""Suspicious staff access: rules from ``config/alert_rules.yaml``, alerts, and reveal locks.

Every staff view, reveal and profile change is observed here after it is audited. A rule hit is
stored (AlertsTable), published to the alerts SNS topic and as an EventBridge event, and, when the
rule says so, locks the actor's further reveals until a supervisor or DPO clears the alert.

AlertsTable layout (pk, sk), all bounded queries, never a scan:
- ``ACTOR#<actor>`` / ``VIEW#<subject_id>``: the actor's last view of a subject (distinct-subject count)
- ``ACTOR#<actor>`` / ``REVEAL#<at>#<id>``: one reveal (categories, and the justification as written)
- ``ACTOR#<actor>`` / ``FIRED#<rule>#<scope>``: when a rule last fired (one alert per window)
- ``ACTOR#<actor>`` / ``LOCK#<alert_id>``: reveals refused while any lock item exists
- ``ALERT`` / ``<alert_id>``: the alert (ids sort by time, so the newest page is one query)

Alerts carry actor ids, rule names, subject ids and counts: never personal data.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from habeas import aws, clock
from habeas.config import ConfigurationError, get_settings
from habeas.dynamo import cancelled_by_condition, from_item, to_item
from habeas.errors import Conflict, Forbidden, NotFound, Unprocessable
from habeas.observability import logger, metrics

EVENT_SOURCE = "habeas.staff-console"
EVENT_DETAIL_TYPE = "Suspicious staff access"
ALERTS_PK = "ALERT"


# ---------------------------------------------------------------- configuration


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = True
    lock_reveals: bool = False
    dedupe_minutes: int = Field(60, ge=1, le=7 * 24 * 60)


class ManySubjects(_Rule):
    max_subjects: int = Field(20, ge=1, le=10_000)
    window_minutes: int = Field(10, ge=1, le=24 * 60)


class SensitiveReveals(_Rule):
    categories: list[str] = Field(default_factory=lambda: ["financial", "government_id"])
    max_reveals: int = Field(3, ge=0, le=10_000)
    window_minutes: int = Field(60, ge=1, le=7 * 24 * 60)


class OffHours(_Rule):
    pass


class NoRelationship(_Rule):
    conversation_days: int = Field(30, ge=1, le=3650)


class WorkingHours(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    start: time = time(7, 0)
    end: time = time(20, 0)
    weekdays: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5])

    @field_validator("weekdays")
    @classmethod
    def _iso(cls, days: list[int]) -> list[int]:
        if any(day < 1 or day > 7 for day in days):
            raise ValueError("weekdays are ISO numbers 1 (Monday) to 7 (Sunday)")
        return days


class Rules(BaseModel):
    """The alert rules of the deployment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    class _Set(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        many_subjects: ManySubjects = ManySubjects()
        sensitive_reveals: SensitiveReveals = SensitiveReveals()
        off_hours: OffHours = OffHours()
        no_relationship: NoRelationship = NoRelationship(dedupe_minutes=1440)

    timezone: str = "UTC"
    working_hours: WorkingHours = WorkingHours()
    rules: _Set = _Set()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r}") from None
        return name

    def working(self, moment: datetime) -> bool:
        """True if ``moment`` falls inside working hours in the configured zone."""
        local = moment.astimezone(ZoneInfo(self.timezone))
        hours = self.working_hours
        return local.isoweekday() in hours.weekdays and hours.start <= local.time() < hours.end


@functools.cache
def rules() -> Rules:
    """The rules: ALERT_RULES_PATH if set, else the packaged ``config/alert_rules.yaml``."""
    path = get_settings().alert_rules_path or os.environ.get("ALERT_RULES_PATH")
    source = Path(path) if path else resources.files("habeas").joinpath("config/alert_rules.yaml")
    try:
        return Rules.model_validate(yaml.safe_load(source.read_text(encoding="utf-8")) or {})
    except (yaml.YAMLError, ValidationError) as error:
        raise ConfigurationError(f"alert rules {path or 'config/alert_rules.yaml'} are invalid: {error}") from None


# ---------------------------------------------------------------- storage


def _table() -> str:
    return get_settings().require("alerts_table")


def _db() -> Any:
    return aws.client("dynamodb")


def _actor_pk(actor_id: str) -> str:
    return f"ACTOR#{actor_id}"


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _count(pk: str, sk_condition: str, values: dict[str, Any], filter_expression: str | None = None) -> int:
    kwargs: dict[str, Any] = {
        "TableName": _table(),
        "KeyConditionExpression": f"pk = :pk AND {sk_condition}",
        "ExpressionAttributeValues": to_item({":pk": pk, **values}),
        "Select": "COUNT",
        "ConsistentRead": True,
    }
    if filter_expression:
        kwargs["FilterExpression"] = filter_expression
    total = 0
    while True:
        page = _db().query(**kwargs)
        total += int(page.get("Count", 0))
        if "LastEvaluatedKey" not in page:
            return total
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# ---------------------------------------------------------------- alerts


@dataclass(frozen=True)
class Alert:
    """One rule hit."""

    alert_id: str
    rule: str
    actor: str
    role: str
    at: str
    subject_id: str | None = None
    locks_reveals: bool = False
    detail: dict[str, Any] = field(default_factory=dict)
    status: str = "open"

    def as_item(self) -> dict[str, Any]:
        item = {
            "pk": ALERTS_PK,
            "sk": self.alert_id,
            "alert_id": self.alert_id,
            "rule": self.rule,
            "actor": self.actor,
            "role": self.role,
            "at": self.at,
            "subject_id": self.subject_id,
            "locks_reveals": self.locks_reveals,
            "detail": self.detail or None,
            "status": self.status,
        }
        return {k: v for k, v in item.items() if v is not None}


def _new_alert_id(now: datetime) -> str:
    return f"alr_{now.strftime('%Y%m%dT%H%M%S')}{now.microsecond // 1000:03d}_{uuid.uuid4().hex[:10]}"


def _publish(alert: Alert) -> None:
    """SNS topic and EventBridge; a failed publication is logged, the stored alert stays."""
    message = json.dumps({"source": EVENT_SOURCE, **alert.as_item()}, default=str)
    settings = get_settings()
    try:
        if settings.alerts_topic_arn:
            aws.client("sns").publish(
                TopicArn=settings.alerts_topic_arn, Subject="Habeas: suspicious staff access", Message=message
            )
        aws.client("events").put_events(
            Entries=[
                {
                    "Source": EVENT_SOURCE,
                    "DetailType": EVENT_DETAIL_TYPE,
                    "Detail": message,
                    "EventBusName": settings.alerts_event_bus,
                }
            ]
        )
    except (ClientError, BotoCoreError) as error:
        logger.error("alert publication failed", extra={"alert_id": alert.alert_id, "error": type(error).__name__})
        metrics.add_metric(name="AlertPublicationFailed", unit="Count", value=1)


def raise_alert(
    rule: str,
    actor_id: str,
    role: str,
    *,
    subject_id: str | None = None,
    detail: dict[str, Any] | None = None,
    lock_reveals: bool = False,
) -> Alert:
    """Store, lock (if asked) and publish one alert."""
    now = clock.now()
    alert = Alert(
        alert_id=_new_alert_id(now),
        rule=rule,
        actor=actor_id,
        role=role,
        at=clock.rfc3339(now),
        subject_id=subject_id,
        locks_reveals=lock_reveals,
        detail=detail or {},
    )
    items: list[dict[str, Any]] = [{"Put": {"TableName": _table(), "Item": to_item(alert.as_item())}}]
    if lock_reveals:
        lock = {"pk": _actor_pk(actor_id), "sk": f"LOCK#{alert.alert_id}", "alert_id": alert.alert_id, "rule": rule}
        items.append({"Put": {"TableName": _table(), "Item": to_item({**lock, "locked_at": alert.at})}})
    _db().transact_write_items(TransactItems=items)
    metrics.add_metric(name="SuspiciousAccessAlerts", unit="Count", value=1)
    logger.warning("suspicious access alert", extra={"alert_id": alert.alert_id, "rule": rule, "actor": actor_id})
    _publish(alert)
    return alert


def _first_in_window(actor_id: str, rule: str, scope: str, minutes: int, now: datetime) -> bool:
    """True (and remembered) if ``rule`` has not fired for this actor and scope in the last ``minutes``."""
    try:
        _db().put_item(
            TableName=_table(),
            Item=to_item(
                {
                    "pk": _actor_pk(actor_id),
                    "sk": f"FIRED#{rule}#{scope}",
                    "fired_at": _epoch(now),
                    "expires_at": _epoch(now + timedelta(minutes=minutes, days=1)),
                }
            ),
            ConditionExpression="attribute_not_exists(sk) OR fired_at < :cutoff",
            ExpressionAttributeValues=to_item({":cutoff": _epoch(now - timedelta(minutes=minutes))}),
        )
    except ClientError as error:
        if cancelled_by_condition(error):
            return False
        raise
    return True


def reveal_lock(actor_id: str) -> str | None:
    """The alert id locking the actor's reveals, or None if reveals are open."""
    page = _db().query(
        TableName=_table(),
        KeyConditionExpression="pk = :pk AND begins_with(sk, :lock)",
        ExpressionAttributeValues=to_item({":pk": _actor_pk(actor_id), ":lock": "LOCK#"}),
        ConsistentRead=True,
        Limit=1,
    )
    items = page.get("Items") or []
    return str(from_item(items[0])["alert_id"]) if items else None


def ensure_reveals_open(actor_id: str) -> None:
    """Forbidden if an alert locked the actor's reveals."""
    if reveal_lock(actor_id):
        raise Forbidden("reveals are locked for this account until a supervisor clears the alert")


# ---------------------------------------------------------------- observation


@dataclass(frozen=True)
class Access:
    """One staff access to a subject's data, as the rules see it."""

    actor_id: str
    role: str
    action: str  # view | reveal | profile
    subject_id: str
    categories: tuple[str, ...] = ()
    has_relationship: bool | None = None  # None: the rule looks it up


def record_reveal(access: Access, *, fields: list[str], justification: str, reveal_id: str) -> None:
    """Keep one reveal (with its justification as staff wrote it) for the rules and the DPO."""
    now = clock.now()
    sensitive = bool(set(access.categories) & set(rules().rules.sensitive_reveals.categories))
    _db().put_item(
        TableName=_table(),
        Item=to_item(
            {
                "pk": _actor_pk(access.actor_id),
                "sk": f"REVEAL#{clock.rfc3339(now)}#{reveal_id}",
                "reveal_id": reveal_id,
                "subject_id": access.subject_id,
                "fields": fields,
                "categories": sorted(set(access.categories)),
                "is_sensitive": sensitive,
                "justification": justification,
                "at": clock.rfc3339(now),
                "expires_at": _epoch(now + timedelta(days=400)),
            }
        ),
    )


def observe(access: Access, relationship: Any = None) -> list[Alert]:
    """Record the access and check every enabled rule; returns the alerts raised.

    ``relationship(subject_id) -> bool`` tells whether the subject has an open conversation or
    request (used by the no_relationship rule when ``access.has_relationship`` is None).
    """
    config, now, raised = rules(), clock.now(), []
    pk = _actor_pk(access.actor_id)
    many = config.rules.many_subjects
    if access.action == "view":
        window = max(many.window_minutes, 1)
        _db().put_item(
            TableName=_table(),
            Item=to_item(
                {
                    "pk": pk,
                    "sk": f"VIEW#{access.subject_id}",
                    "viewed_at": _epoch(now),
                    "expires_at": _epoch(now + timedelta(minutes=window, days=1)),
                }
            ),
        )
        if many.enabled:
            cutoff = _epoch(now - timedelta(minutes=many.window_minutes))
            distinct = _count(
                pk, "begins_with(sk, :view)", {":view": "VIEW#", ":cutoff": cutoff}, "viewed_at >= :cutoff"
            )
            if distinct > many.max_subjects and _first_in_window(
                access.actor_id, "many_subjects", "-", many.window_minutes, now
            ):
                raised.append(
                    raise_alert(
                        "many_subjects",
                        access.actor_id,
                        access.role,
                        subject_id=access.subject_id,
                        detail={"distinct_subjects": distinct, "window_minutes": many.window_minutes},
                        lock_reveals=many.lock_reveals,
                    )
                )
    sensitive = config.rules.sensitive_reveals
    if access.action == "reveal" and sensitive.enabled and set(access.categories) & set(sensitive.categories):
        since = clock.rfc3339(now - timedelta(minutes=sensitive.window_minutes))
        count = _count(
            pk,
            "sk BETWEEN :from AND :to",
            {":from": f"REVEAL#{since}", ":to": "REVEAL#~", ":yes": True},
            "is_sensitive = :yes",
        )
        if count > sensitive.max_reveals and _first_in_window(
            access.actor_id, "sensitive_reveals", "-", sensitive.window_minutes, now
        ):
            raised.append(
                raise_alert(
                    "sensitive_reveals",
                    access.actor_id,
                    access.role,
                    subject_id=access.subject_id,
                    detail={"sensitive_reveals": count, "window_minutes": sensitive.window_minutes},
                    lock_reveals=sensitive.lock_reveals,
                )
            )
    off = config.rules.off_hours
    if (
        off.enabled
        and not config.working(now)
        and _first_in_window(access.actor_id, "off_hours", "-", off.dedupe_minutes, now)
    ):
        raised.append(
            raise_alert(
                "off_hours",
                access.actor_id,
                access.role,
                subject_id=access.subject_id,
                detail={"action": access.action, "timezone": config.timezone},
                lock_reveals=off.lock_reveals,
            )
        )
    lonely = config.rules.no_relationship
    if lonely.enabled:
        related = access.has_relationship
        if related is None and relationship is not None:
            related = bool(relationship(access.subject_id, lonely.conversation_days))
        if related is False and _first_in_window(
            access.actor_id, "no_relationship", access.subject_id, lonely.dedupe_minutes, now
        ):
            raised.append(
                raise_alert(
                    "no_relationship",
                    access.actor_id,
                    access.role,
                    subject_id=access.subject_id,
                    detail={"action": access.action, "conversation_days": lonely.conversation_days},
                    lock_reveals=lonely.lock_reveals,
                )
            )
    return raised


def reveals_of(actor_id: str, *, limit: int = 50) -> list[dict[str, Any]]:
    """An actor's reveals, newest first, with the justifications as written (for the DPO)."""
    page = _db().query(
        TableName=_table(),
        KeyConditionExpression="pk = :pk AND begins_with(sk, :reveal)",
        ExpressionAttributeValues=to_item({":pk": _actor_pk(actor_id), ":reveal": "REVEAL#"}),
        ScanIndexForward=False,
        Limit=limit,
    )
    keep = ("reveal_id", "subject_id", "fields", "categories", "justification", "at")
    return [{k: v for k, v in from_item(raw).items() if k in keep} for raw in page.get("Items", [])]


# ---------------------------------------------------------------- listing and clearing


def _encode_token(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(from_item(key), separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_token(token: str) -> dict[str, Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise Unprocessable("next is not a token this endpoint issued") from None
    if not isinstance(key, dict) or key.get("pk") != ALERTS_PK or not isinstance(key.get("sk"), str):
        raise Unprocessable("next is not a token this endpoint issued")
    return to_item({"pk": ALERTS_PK, "sk": key["sk"]})


def list_alerts(
    *, status: str | None = None, limit: int = 50, next_token: str | None = None
) -> tuple[list[dict], str | None]:
    """Alerts, newest first, one page at a time (opaque ``next`` token)."""
    kwargs: dict[str, Any] = {
        "TableName": _table(),
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": to_item({":pk": ALERTS_PK}),
        "ScanIndexForward": False,
        "Limit": limit,
    }
    if status:
        kwargs["FilterExpression"] = "#status = :status"
        kwargs["ExpressionAttributeNames"] = {"#status": "status"}
        kwargs["ExpressionAttributeValues"] = to_item({":pk": ALERTS_PK, ":status": status})
    if next_token:
        kwargs["ExclusiveStartKey"] = _decode_token(next_token)
    found: list[dict] = []
    while True:
        page = _db().query(**kwargs)
        found += [{k: v for k, v in from_item(i).items() if k not in ("pk", "sk")} for i in page.get("Items", [])]
        last = page.get("LastEvaluatedKey")
        if not last or len(found) >= limit:
            return found[:limit], (_encode_token(last) if last else None)
        kwargs["ExclusiveStartKey"] = last


def get_alert(alert_id: str) -> dict[str, Any]:
    """One alert; NotFound if there is none."""
    response = _db().get_item(TableName=_table(), Key=to_item({"pk": ALERTS_PK, "sk": alert_id}), ConsistentRead=True)
    if "Item" not in response:
        raise NotFound("no such alert")
    return {k: v for k, v in from_item(response["Item"]).items() if k not in ("pk", "sk")}


def clear(alert_id: str, *, by: str, note_sha256: str | None = None) -> dict[str, Any]:
    """Close an open alert and lift the reveal lock it placed; nobody clears an alert about themselves."""
    alert = get_alert(alert_id)
    if alert["actor"] == by:
        raise Forbidden("an alert about your own access must be cleared by someone else")
    now = clock.rfc3339(clock.now())
    items: list[dict[str, Any]] = [
        {
            "Update": {
                "TableName": _table(),
                "Key": to_item({"pk": ALERTS_PK, "sk": alert_id}),
                "UpdateExpression": "SET #status = :cleared, cleared_by = :by, cleared_at = :now",
                "ConditionExpression": "#status = :open",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": to_item({":cleared": "cleared", ":open": "open", ":by": by, ":now": now}),
            }
        },
        {
            "Delete": {
                "TableName": _table(),
                "Key": to_item({"pk": _actor_pk(alert["actor"]), "sk": f"LOCK#{alert_id}"}),
            }
        },
    ]
    try:
        _db().transact_write_items(TransactItems=items)
    except ClientError as error:
        if cancelled_by_condition(error):
            raise Conflict("the alert is already cleared") from None
        raise
    return {**alert, "status": "cleared", "cleared_by": by, "cleared_at": now}
