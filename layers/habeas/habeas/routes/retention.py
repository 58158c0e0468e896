"""The retention report (staff token, dpo only)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel

from habeas import audit, http
from habeas.errors import Forbidden
from habeas.retention import report
from habeas.tokens import StaffPrincipal

router = APIGatewayHttpRouter()


class CategoryRetention(BaseModel):
    category: str
    days: int
    minutes: int = 0
    anchor: str
    items_kept: int
    expiring_next_30_days: int
    deleted_last_30_days: int


class LastSweep(BaseModel):
    at: str
    status: str
    finished_at: str | None = None
    deleted: dict[str, int] = {}
    restamped: dict[str, int] = {}
    held_skipped: int = 0
    holds_lapsed: int = 0


class RetentionReport(BaseModel):
    categories: list[CategoryRetention]
    last_sweep: LastSweep | None = None


@router.get("/retention", summary="Per category: items kept, expiring soon, deleted lately; the last sweep (dpo)")
def retention_report() -> RetentionReport:
    staff: StaffPrincipal = router.context["staff"]
    if not staff.has_any("dpo"):
        raise Forbidden("only a dpo may read the retention report")
    built: dict[str, Any] = report.build()
    audit.record(
        audit.Actor(id=staff.actor, role="dpo", source_ip=http.source_ip(router), request_id=http.request_id(router)),
        audit.AuditEvent(action="retention.report_read", subject_id=None),
    )
    return RetentionReport(**built)
