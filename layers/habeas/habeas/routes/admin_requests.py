"""The DPO's view of data-subject requests (staff token, dpo only): deadlines, failures, dead letters."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel

from habeas import audit, http
from habeas.errors import Forbidden
from habeas.requests import service
from habeas.tokens import StaffPrincipal

router = APIGatewayHttpRouter()

Status = Literal["received", "in_progress", "completed", "failed", "rejected"]


class StoreFailure(BaseModel):
    error: str
    attempts: int


class AdminRequest(BaseModel):
    request_id: str
    subject_id: str
    type: str
    status: Status
    regulation: str
    created_at: str
    due_at: str
    completed_at: str | None = None
    status_reason: str | None = None
    overdue: bool
    dead_lettered: bool
    stores: dict[str, str]
    failures: dict[str, StoreFailure]


class DeadLetter(BaseModel):
    message_id: str
    request_id: str | None = None
    store: str | None = None
    receive_count: int
    sent_at: str | None = None
    readable: bool


class AdminRequestList(BaseModel):
    requests: list[AdminRequest]
    dead_letters: list[DeadLetter]


@router.get("/requests", summary="Data-subject requests with deadlines, overdue flags and failures (dpo only)")
def list_requests(
    status: Annotated[Status | None, Query()] = None,
    overdue: Annotated[bool, Query()] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AdminRequestList:
    staff: StaffPrincipal = router.context["staff"]
    if not staff.has_any("dpo"):
        raise Forbidden("only a dpo may list data-subject requests")
    listed = service.admin_list(status=status, overdue_only=overdue, limit=limit)
    actor = audit.Actor(
        id=staff.actor, role="dpo", source_ip=http.source_ip(router), request_id=http.request_id(router)
    )
    audit.record(
        actor,
        audit.AuditEvent(
            action="requests.listed",
            subject_id=None,
            detail={"status": status, "overdue": overdue, "count": len(listed["requests"])},
        ),
    )
    return AdminRequestList(**listed)
