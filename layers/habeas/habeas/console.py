"""The staff console's use cases: view a subject, reveal masked fields, change the profile.

Each one is audited on the subject's chain and mirrored on the staff member's chain (actor, role,
fields, purpose, source IP, request id; never values), then observed by the suspicious-access rules.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from habeas import alerts, audit, aws, clock, consent, profiles
from habeas.config import get_settings
from habeas.datamap import data_map
from habeas.dynamo import from_item, to_item
from habeas.errors import Forbidden, NotFound, Unprocessable
from habeas.masking import category_of, mask_record, may_reveal
from habeas.tokens import StaffPrincipal

MIN_JUSTIFICATION = 15
CONVERSATIONS = "conversations"
_MESSAGE_PREFIX = "MSG#"


@dataclass(frozen=True)
class SubjectView:
    """What one staff role sees of a subject."""

    subject_id: str
    created_at: str | None
    profile: dict[str, str]
    masking: dict[str, str]
    conversations: list[dict[str, Any]]
    consents: list[dict[str, Any]]
    requests: list[dict[str, Any]] = field(default_factory=list)


# ---------------------------------------------------------------- reads behind the view


def recent_conversations(subject_id: str, limit: int) -> list[dict[str, Any]]:
    """The subject's newest messages (redacted text as stored), expired ones skipped; one query."""
    now = int(clock.now().timestamp())
    kwargs: dict[str, Any] = {
        "TableName": get_settings().require("conversations_table"),
        "KeyConditionExpression": "subject_id = :s AND begins_with(sk, :msg)",
        "ExpressionAttributeValues": to_item({":s": subject_id, ":msg": _MESSAGE_PREFIX}),
        "ScanIndexForward": False,
        "Limit": limit,
    }
    found: list[dict[str, Any]] = []
    while len(found) < limit:
        page = aws.client("dynamodb").query(**kwargs)
        for raw in page.get("Items", []):
            item = from_item(raw)
            expires = item.get("expires_at")
            if isinstance(expires, int | float) and expires <= now:
                continue  # past its retention, waiting for TTL: not the subject's data any more
            found.append(item)
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return found[:limit]


def open_requests(subject_id: str) -> list[dict[str, Any]]:
    """The subject's open data-subject requests (empty where the requests table is not configured)."""
    if not getattr(get_settings(), "requests_table", None):
        return []
    from habeas.requests.store import TERMINAL, RequestStore

    keep = ("request_id", "type", "status", "created_at", "due_at")
    return [
        {key: item[key] for key in keep if key in item}
        for item in RequestStore().for_subject(subject_id)
        if item.get("status") not in TERMINAL
    ]


def _recently_wrote(newest_first: list[dict[str, Any]], days: int) -> bool:
    stamp = str(newest_first[0].get("stored_at") or newest_first[0].get("sent_at") or "") if newest_first else ""
    return bool(stamp) and stamp >= clock.rfc3339(clock.now() - timedelta(days=days))


def has_relationship(subject_id: str, conversation_days: int) -> bool:
    """True if the subject wrote in the last ``conversation_days`` or has an open request."""
    return _recently_wrote(recent_conversations(subject_id, 1), conversation_days) or bool(open_requests(subject_id))


# ---------------------------------------------------------------- use cases


def _require_subject(subject_id: str) -> dict[str, Any]:
    item = profiles.subject_item(subject_id)
    if item is None:
        raise NotFound("no such subject")
    return item


def view_subject(staff: StaffPrincipal, actor: audit.Actor, subject_id: str, purpose: str) -> SubjectView:
    """The subject as the caller's role may see it; audited and observed."""
    item = _require_subject(subject_id)
    role = staff.role
    profile = mask_record(profiles.STORE, profiles.decrypt_profile(subject_id, item), role)
    settings = get_settings()
    messages = recent_conversations(subject_id, settings.staff_view_conversations)
    conversations = []
    for message in messages:
        shown = mask_record(CONVERSATIONS, message, role)
        conversations.append(
            {
                "sent_at": message.get("sent_at"),
                "platform": message.get("platform"),
                "direction": message.get("direction"),
                "type": message.get("type"),
                **shown.values,
            }
        )
    consents = consent.current_consents(subject_id)
    requests = open_requests(subject_id)
    fields = profile.shown + (["conversations.text"] if any("text" in c for c in conversations) else [])
    audit.record_staff_access(
        actor,
        audit.AuditEvent(
            action="subject.viewed",
            subject_id=subject_id,
            fields=fields,
            purpose=purpose,
            detail={"masked": profile.masked, "conversations": len(conversations), "requests": len(requests)},
        ),
    )
    related = _recently_wrote(messages, alerts.rules().rules.no_relationship.conversation_days) or bool(requests)
    alerts.observe(alerts.Access(actor.id, role, "view", subject_id, has_relationship=related))
    return SubjectView(
        subject_id=subject_id,
        created_at=item.get("created_at"),
        profile=profile.values,
        masking=profile.styles,
        conversations=conversations,
        consents=consents,
        requests=requests,
    )


def _refuse(actor: audit.Actor, subject_id: str, fields: list[str], purpose: str | None, reason: str) -> None:
    audit.record_staff_access(
        actor,
        audit.AuditEvent(
            action="subject.reveal",
            subject_id=subject_id,
            fields=fields,
            purpose=purpose,
            outcome="refused",
            detail={"reason": reason},
        ),
    )


def reveal(
    staff: StaffPrincipal,
    actor: audit.Actor,
    subject_id: str,
    fields: list[str],
    justification: str | None,
    purpose: str | None,
) -> dict[str, Any]:
    """Show masked profile fields in full to a role the data map allows, with a written justification.

    Refusals (locked account, role, justification) are audited too: 403 or 422.
    Audit keeps the justification's SHA-256 and length; its text is kept with the reveal record
    (AlertsTable) for the DPO, since it is free text staff write and may name the customer.
    """
    _require_subject(subject_id)
    store = profiles.STORE
    known = data_map().store(store).fields
    wanted = sorted(set(fields))
    unknown = [name for name in wanted if name not in known]
    if unknown or not wanted:
        _refuse(actor, subject_id, [n for n in wanted if n in known], purpose, "unknown_field")
        raise Unprocessable("fields must name profile fields of the data map")
    if alerts.reveal_lock(actor.id):
        _refuse(actor, subject_id, wanted, purpose, "locked")
        raise Forbidden("reveals are locked for this account until a supervisor clears the alert")
    denied = [name for name in wanted if not may_reveal(store, name, staff.groups)]
    if denied:
        _refuse(actor, subject_id, wanted, purpose, "role")
        raise Forbidden(f"your role may not reveal: {', '.join(denied)}")
    text = (justification or "").strip()
    if len(text) < MIN_JUSTIFICATION:
        _refuse(actor, subject_id, wanted, purpose, "justification")
        raise Unprocessable(f"a written justification of at least {MIN_JUSTIFICATION} characters is required")
    profile = profiles.get_profile(subject_id)
    shown = {name: profile[name] for name in wanted if name in profile}
    reveal_id = f"rvl_{uuid.uuid4().hex}"
    categories = sorted({category_of(store, name) for name in wanted})
    stored = audit.record_staff_access(
        actor,
        audit.AuditEvent(
            action="subject.reveal",
            subject_id=subject_id,
            fields=wanted,
            purpose=purpose,
            detail={
                "reveal_id": reveal_id,
                "categories": categories,
                "justification_sha256": hashlib.sha256(text.encode()).hexdigest(),
                "justification_length": len(text),
            },
        ),
    )
    access = alerts.Access(actor.id, staff.role, "reveal", subject_id, categories=tuple(categories))
    alerts.record_reveal(access, fields=wanted, justification=text, reveal_id=reveal_id)
    alerts.observe(access, relationship=has_relationship)
    return {"subject_id": subject_id, "reveal_id": reveal_id, "fields": shown, "revealed_at": stored["at"]}


def update_profile(
    staff: StaffPrincipal, actor: audit.Actor, subject_id: str, changes: dict[str, Any], purpose: str | None
) -> tuple[profiles.ProfileChange, SubjectView]:
    """Write profile fields (validated, encrypted, identifiers re-indexed); audited and observed."""
    change = profiles.put_profile(subject_id, changes)
    audit.record_staff_access(
        actor,
        audit.AuditEvent(
            action="profile.updated",
            subject_id=subject_id,
            fields=change.fields,
            purpose=purpose,
            detail={"identifiers_moved": change.identifiers_moved} if change.identifiers_moved else {},
        ),
    )
    alerts.observe(alerts.Access(actor.id, staff.role, "profile", subject_id), relationship=has_relationship)
    item = _require_subject(subject_id)
    profile = mask_record(profiles.STORE, profiles.decrypt_profile(subject_id, item), staff.role)
    view = SubjectView(subject_id, item.get("created_at"), profile.values, profile.styles, [], [])
    return change, view
