"""Staff console routes (staff token; roles in depth come with the staff-console work)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel

from habeas import audit, http, identifiers, subjects
from habeas.errors import Forbidden, NotFound
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
    # The lookup is audited on the actor's chain whether or not it found anyone.
    audit.record(
        _actor(),
        audit.AuditEvent(
            action="subject.lookup",
            subject_id=None,
            outcome="found" if subject_id else "not_found",
            detail={"subject_id": subject_id} if subject_id else {},
        ),
    )
    if subject_id is None:
        raise NotFound("no subject with that identifier")
    return SubjectRef(subject_id=subject_id)


@router.get("/audit", summary="A subject's audit log, newest first (dpo only)")
def read_audit(
    subject_id: Annotated[str, Query(min_length=1, max_length=64)],
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditLog:
    if not _staff().has_any("dpo"):
        raise Forbidden("only a dpo may read the audit log")
    events = [AuditEntry(**entry) for entry in audit.entries(subject_id, limit=limit)]
    audit.record(_actor(), audit.AuditEvent(action="audit.read", subject_id=subject_id))
    return AuditLog(events=events, chain_ok=audit.verify(subject_id).ok)
