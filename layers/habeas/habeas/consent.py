"""The consent ledger: every grant and withdrawal, per purpose and policy version, hash-chained.

Storage (ConsentsTable, one partition per subject): ``HEAD`` (chain head), ``EVENT#<seq>`` (the
append-only events) and ``STATE#<purpose>`` (the current state, written in the same transaction as
its event so that ``GET /v1/consents`` is one query and never disagrees with the ledger).
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from habeas import audit, clock, retention
from habeas.chain import ChainedLog, ChainReport
from habeas.config import get_settings
from habeas.dynamo import from_item, to_item
from habeas.errors import NotFound, Unprocessable
from habeas.purposes import catalogue
from habeas.retention import activity

Channel = Literal["portal", "whatsapp", "instagram", "webchat", "email", "phone"]
Locale = Literal["es", "pt", "en"]

_LEDGER = ChainedLog(
    table_setting="consents_table",
    pk="subject_id",
    sk="sk",
    event_sk=lambda seq: f"EVENT#{seq:010d}",
    head_sk="HEAD",
    event_range=lambda: ("begins_with(#sk, :prefix)", {":prefix": "EVENT#"}),
    store="consent_ledger",  # the data map store: kept whole from the subject's last activity
    time_field="recorded_at",
)
_PUBLIC_FIELDS = ("purpose", "granted", "policy_version", "channel", "recorded_at", "receipt_id", "locale")


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {key: item[key] for key in _PUBLIC_FIELDS if key in item}


def record_consent(
    subject_id: str,
    purpose_name: str,
    *,
    granted: bool,
    policy_version: str,
    channel: Channel,
    locale: Locale | None,
    actor: audit.Actor,
) -> dict[str, Any]:
    """Record a grant or a withdrawal; returns the receipt (the state after it)."""
    purpose = catalogue().get(purpose_name)
    if purpose is None:
        raise Unprocessable("unknown purpose")
    if not purpose.knows(policy_version):
        raise Unprocessable("unknown policy version for this purpose")
    if granted and policy_version != purpose.policy_version:
        raise Unprocessable("consent can only be granted to the current policy version")
    event = {
        "subject_id": subject_id,
        "receipt_id": str(uuid.uuid4()),
        "purpose": purpose.purpose,
        "granted": granted,
        "policy_version": policy_version,
        "channel": channel,
        "locale": locale,
        "recorded_at": clock.rfc3339(clock.now()),
        "actor": actor.id,
        "source_ip": actor.source_ip,
    }
    event = {key: value for key, value in event.items() if value is not None}
    state = {**_public(event), "subject_id": subject_id, "sk": f"STATE#{purpose.purpose}"}
    stored = _LEDGER.append(subject_id, event, extra_puts=[state])
    activity.touch(subject_id)  # a consent decision is the subject's activity: the ledger's anchor moves
    audit.record(
        actor,
        audit.AuditEvent(
            action="consent.granted" if granted else "consent.withdrawn",
            subject_id=subject_id,
            purpose=purpose.purpose,
            detail={"receipt_id": stored["receipt_id"], "policy_version": policy_version, "channel": channel},
        ),
    )
    return _public(stored)


def current_consents(subject_id: str) -> list[dict[str, Any]]:
    """The current state of every purpose the subject has decided on, in one query."""
    from habeas import aws

    response = aws.client("dynamodb").query(
        TableName=get_settings().require("consents_table"),
        KeyConditionExpression="subject_id = :s AND begins_with(sk, :state)",
        ExpressionAttributeValues=to_item({":s": subject_id, ":state": "STATE#"}),
        ConsistentRead=True,
    )
    return [_public(item) for item in retention.unexpired(from_item(raw) for raw in response.get("Items", []))]


def history(subject_id: str, purpose_name: str) -> list[dict[str, Any]]:
    """Every grant and withdrawal of one purpose, oldest first."""
    if catalogue().get(purpose_name) is None:
        raise NotFound("unknown purpose")
    return [_public(e) for e in retention.unexpired(_LEDGER.events(subject_id)) if e.get("purpose") == purpose_name]


def ledger_events(subject_id: str) -> list[dict[str, Any]]:
    """The whole ledger of a subject, with its chain fields (for exports and proofs)."""
    return retention.unexpired(_LEDGER.events(subject_id))


def verify_ledger(subject_id: str) -> ChainReport:
    """Check that nobody edited, removed or reordered any of the subject's consent events.

    A ledger is kept from the subject's last activity and outlives the profile (5 years against 3), so
    a ledger that reads as expired while its subject's profile is still live was cut short: a break.
    """
    report = _LEDGER.verify(subject_id)
    if report.ok and report.reason == "expired":
        from habeas import profiles

        if profiles.subject_item(subject_id) is not None:
            return ChainReport(False, 0, 1, "ledger expired while its subject is active")
    return report
