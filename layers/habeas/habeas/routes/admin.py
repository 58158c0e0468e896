"""Staff console routes (staff token): find and view subjects, reveal, profile, audit log, alerts.

Every read of a subject, every reveal and every profile change is audited (subject and actor chains)
and observed by the suspicious-access rules (habeas.console, habeas.alerts).
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from habeas import alerts, audit, clock, console, http, identifiers, incidents, subjects
from habeas.errors import Forbidden, NotFound, Unprocessable
from habeas.idempotency import once
from habeas.tokens import StaffPrincipal

router = APIGatewayHttpRouter()


class SubjectRef(BaseModel):
    subject_id: str


class AuditEntry(BaseModel):
    at: str
    actor: str
    role: str
    action: str
    subject_id: str | None = None
    fields: list[str] = []
    purpose: str | None = None
    source_ip: str | None = None
    request_id: str | None = None
    outcome: str | None = None
    detail: dict[str, Any] | None = None
    seq: int
    hash: str


class AuditLog(BaseModel):
    events: list[AuditEntry]
    chain_ok: bool
    next: str | None = None


SubjectIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
PurposeQuery = Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]


class SubjectViewOut(BaseModel):
    subject_id: str
    created_at: str | None = None
    profile: dict[str, str] = Field(description="profile fields as the caller's role sees them")
    masking: dict[str, str] = Field(description="field -> masking style applied (hidden fields are absent)")
    conversations: list[dict[str, Any]]
    consents: list[dict[str, Any]]
    requests: list[dict[str, Any]]


class ProfileUpdate(BaseModel):
    """Profile fields to set (null clears one); other fields only if the data map names them."""

    model_config = ConfigDict(extra="allow", strict=True)
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    address: str | None = None
    document_id: str | None = None


class ProfileOut(BaseModel):
    subject_id: str
    updated: list[str]
    identifiers_moved: list[str]
    profile_updated_at: str
    profile: dict[str, str]
    masking: dict[str, str]


class RevealRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    fields: list[str] = Field(min_length=1, max_length=20)
    # Checked in the use case (not here) so that a missing justification is refused *and audited*.
    justification: str | None = Field(None, max_length=2000)
    purpose: str | None = Field(None, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")


class RevealOut(BaseModel):
    subject_id: str
    reveal_id: str
    fields: dict[str, str]
    revealed_at: str


class AlertOut(BaseModel):
    alert_id: str
    rule: str
    actor: str
    role: str
    at: str
    status: str
    subject_id: str | None = None
    locks_reveals: bool = False
    detail: dict[str, Any] | None = None
    cleared_by: str | None = None
    cleared_at: str | None = None


class AlertList(BaseModel):
    alerts: list[AlertOut]
    next: str | None = None


def _staff() -> StaffPrincipal:
    return router.context["staff"]


def _actor() -> audit.Actor:
    staff = _staff()
    return audit.Actor(
        id=staff.actor, role=staff.role, source_ip=http.source_ip(router), request_id=http.request_id(router)
    )


@router.get("/subjects", summary="Find a subject by email or E.164 phone (through the blind index)")
def find_subject(identifier: Annotated[str, Query(min_length=3, max_length=320)]) -> SubjectRef:
    subject_id = subjects.find(identifiers.blind_index(identifiers.normalise(identifier)))
    # Audited whether or not it found anyone: a hit on the subject's chain (mirrored on the actor's),
    # a miss on the actor's chain alone.
    event = audit.AuditEvent(
        action="subject.lookup", subject_id=subject_id, outcome="found" if subject_id else "not_found"
    )
    if subject_id:
        audit.record_staff_access(_actor(), event)
    else:
        audit.record(_actor(), event)
    if subject_id is None:
        raise NotFound("no subject with that identifier")
    return SubjectRef(subject_id=subject_id)


def _page_token(chain: str, seq: int | None) -> str | None:
    if seq is None:
        return None
    raw = json.dumps({"chain": chain, "before": seq}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _page_start(chain: str, token: str | None) -> int | None:
    if not token:
        return None
    try:
        start = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise Unprocessable("next is not a token this endpoint issued") from None
    if not isinstance(start, dict) or start.get("chain") != chain or not isinstance(start.get("before"), int):
        raise Unprocessable("next does not belong to these filters")
    return int(start["before"])


@router.get("/audit", summary="The audit log of a subject or a staff member, newest first (dpo only)")
def read_audit(
    subject_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    actor: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    since: Annotated[str | None, Query(alias="from", min_length=10, max_length=40)] = None,
    until: Annotated[str | None, Query(alias="to", min_length=10, max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    next: Annotated[str | None, Query(max_length=512)] = None,  # noqa: A002 - the contract's name
) -> AuditLog:
    if not _staff().has_any("dpo"):
        raise Forbidden("only a dpo may read the audit log")
    if not subject_id and not actor:
        raise Unprocessable("filter by subject_id or actor")
    # One chain, one query per page: a subject's chain (optionally one actor's entries in it), or the
    # staff member's own chain, where every access of theirs is mirrored.
    chain = audit.chain_name(subject_id=subject_id, actor_id=actor)
    found, before = audit.search(
        chain,
        actor_id=actor if subject_id else None,
        since=_instant(since, "from"),
        until=_instant(until, "to"),
        limit=limit,
        before_seq=_page_start(chain, next),
    )
    events = [AuditEntry(**entry) for entry in found]
    audit.record_staff_access(
        _actor(),
        audit.AuditEvent(
            action="audit.read",
            subject_id=subject_id,
            detail={"actor_filter": actor} if actor else {},
        ),
    )
    # A subject's chain is short: verify all of it. A staff member's chain grows with every access they
    # make: check the page's own links here; the scheduled job and the CLI verify the whole chain.
    chain_ok = audit.verify_chain(chain).ok if subject_id else audit.entries_intact(found)
    return AuditLog(events=events, chain_ok=chain_ok, next=_page_token(chain, before))


def _instant(value: str | None, name: str) -> str | None:
    """An RFC 3339 time normalised to the audit log's form (UTC, milliseconds, Z)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise Unprocessable(f"{name} must be an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise Unprocessable(f"{name} must carry a time zone (e.g. Z)")
    return clock.rfc3339(moment)


@router.get("/subjects/<subject_id>", summary="A subject's profile, recent conversations, consents and open requests")
def view_subject(subject_id: SubjectIdPath, purpose: PurposeQuery = "customer_support") -> SubjectViewOut:
    view = console.view_subject(_staff(), _actor(), subject_id, purpose)
    return SubjectViewOut(
        subject_id=view.subject_id,
        created_at=view.created_at,
        profile=view.profile,
        masking=view.masking,
        conversations=view.conversations,
        consents=view.consents,
        requests=view.requests,
    )


@router.put("/subjects/<subject_id>/profile", summary="Set profile fields (validated by the data map, encrypted)")
def put_profile(
    subject_id: SubjectIdPath,
    update: Annotated[ProfileUpdate, Body()],
    purpose: PurposeQuery = "customer_support",
) -> ProfileOut:
    changes = {name: getattr(update, name) for name in update.model_fields_set}
    changes.update(update.model_extra or {})
    change, view = console.update_profile(_staff(), _actor(), subject_id, changes, purpose)
    return ProfileOut(
        subject_id=subject_id,
        updated=change.fields,
        identifiers_moved=change.identifiers_moved,
        profile_updated_at=change.profile_updated_at,
        profile=view.profile,
        masking=view.masking,
    )


@router.post("/subjects/<subject_id>/reveal", summary="Show masked fields in full, with a written justification")
def reveal(subject_id: SubjectIdPath, request: Annotated[RevealRequest, Body()]) -> RevealOut:
    shown = console.reveal(_staff(), _actor(), subject_id, request.fields, request.justification, request.purpose)
    return RevealOut(**shown)


@router.get("/alerts", summary="Suspicious-access alerts, newest first (dpo only)")
def list_alerts(
    status: Annotated[str | None, Query(pattern=r"^(open|cleared)$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    next: Annotated[str | None, Query(max_length=512)] = None,  # noqa: A002 - the contract's style
) -> AlertList:
    if not _staff().has_any("dpo"):
        raise Forbidden("only a dpo may read the alerts")
    found, token = alerts.list_alerts(status=status, limit=limit, next_token=next)
    audit.record(_actor(), audit.AuditEvent(action="alerts.read", subject_id=None, detail={"count": len(found)}))
    return AlertList(alerts=[AlertOut(**alert) for alert in found], next=token)


class RevealRecord(BaseModel):
    reveal_id: str
    subject_id: str
    fields: list[str]
    categories: list[str]
    justification: str
    at: str


class RevealList(BaseModel):
    reveals: list[RevealRecord]


@router.get("/reveals", summary="A staff member's reveals with their justifications as written (dpo only)")
def list_reveals(
    actor: Annotated[str, Query(min_length=1, max_length=128)],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> RevealList:
    if not _staff().has_any("dpo"):
        raise Forbidden("only a dpo may read reveal justifications")
    found = alerts.reveals_of(actor, limit=limit)
    # Reading justifications (free text that may name customers) is itself an audited access.
    audit.record(
        _actor(),
        audit.AuditEvent(action="reveals.read", subject_id=None, detail={"actor_filter": actor, "count": len(found)}),
    )
    return RevealList(reveals=[RevealRecord(**reveal) for reveal in found])


@router.post("/alerts/<alert_id>/clear", summary="Clear an alert and lift the reveal lock it placed (supervisor, dpo)")
def clear_alert(
    alert_id: Annotated[str, Path(min_length=1, max_length=80, pattern=r"^alr_[A-Za-z0-9_]+$")],
) -> AlertOut:
    staff = _staff()
    if not staff.has_any("supervisor", "dpo"):
        raise Forbidden("only a supervisor or a dpo may clear an alert")
    cleared = alerts.clear(alert_id, by=staff.actor)
    audit.record(
        _actor(),
        audit.AuditEvent(
            action="alert.cleared", subject_id=None, detail={"alert_id": alert_id, "alert_actor": cleared["actor"]}
        ),
    )
    return AlertOut(**cleared)


class IncidentIn(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    what: str = Field(min_length=10, max_length=2000, description="what happened, as subjects will read it")
    discovered_at: str = Field(min_length=10, max_length=40, description="RFC 3339")
    categories: list[str] = Field(min_length=1, max_length=30, description="data map categories concerned")
    systems: list[str] = Field(default_factory=list, max_length=30, description="data map stores breached")
    started_at: str | None = Field(None, min_length=10, max_length=40)
    ended_at: str | None = Field(None, min_length=10, max_length=40)


def _dpo_only() -> None:
    if not _staff().has_any("dpo"):
        raise Forbidden("only a dpo may handle incidents")


IncidentIdPath = Annotated[str, Path(min_length=5, max_length=64, pattern=r"^inc_[a-f0-9]+$")]


def _record_incident(payload: dict[str, Any]) -> dict[str, Any]:
    return incidents.create(_actor(), **payload)


@router.post("/incidents", summary="Record a personal-data breach; affected subjects are assessed asynchronously (dpo)")
def record_incident(incident: Annotated[IncidentIn, Body()]) -> Response[dict[str, Any]]:
    _dpo_only()
    # A retried POST with the same Idempotency-Key (per staff member) records the incident once.
    recorded = once(
        _record_incident,
        incident.model_dump(),
        key=http.header(router, "idempotency-key"),
        scope=f"incident:{_staff().actor}",
    )
    return Response(status_code=202, content_type="application/json", body=recorded)


@router.get("/incidents/<incident_id>", summary="An incident: deadlines, affected subjects, notices (dpo)")
def read_incident(incident_id: IncidentIdPath) -> dict[str, Any]:
    _dpo_only()
    return incidents.get(incident_id)


@router.post("/incidents/<incident_id>/approve", summary="Approve the drafted notices; they are then sent (dpo)")
def approve_incident(incident_id: IncidentIdPath) -> dict[str, Any]:
    _dpo_only()
    return incidents.approve(_actor(), incident_id)
