"""Legal holds on a subject (staff token, dpo only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from habeas import audit, clock, holds, http
from habeas.errors import Forbidden, NotFound, Unprocessable
from habeas.tokens import StaffPrincipal

router = APIGatewayHttpRouter()

SubjectId = Annotated[str, Path(min_length=1, max_length=64)]


class HoldBody(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    reason: str = Field(min_length=1, max_length=500)
    until: str | None = Field(None, description="RFC 3339; the hold lapses by itself at this time")


class Hold(BaseModel):
    hold_id: str
    subject_id: str
    status: str
    reason: str
    placed_at: str
    placed_by: str
    until: str | None = None
    lifted_at: str | None = None
    lifted_by: str | None = None


class HoldList(BaseModel):
    holds: list[Hold]
    held: bool


class _Until(BaseModel):
    at: AwareDatetime


def _dpo() -> audit.Actor:
    staff: StaffPrincipal = router.context["staff"]
    if not staff.has_any("dpo"):
        raise Forbidden("only a dpo may manage legal holds")
    return audit.Actor(id=staff.actor, role="dpo", source_ip=http.source_ip(router), request_id=http.request_id(router))


def _until(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        moment: datetime = _Until.model_validate({"at": value}).at
    except ValueError:
        raise Unprocessable("until must be an RFC 3339 time with a zone") from None
    if moment <= clock.now():
        raise Unprocessable("until must be in the future")
    return clock.rfc3339(moment)


@router.post("/subjects/<subject_id>/holds", summary="Place a legal hold on a subject (dpo only)")
def place_hold(subject_id: SubjectId, body: Annotated[HoldBody, Body()]) -> Response[Hold]:
    actor = _dpo()
    hold = holds.place_hold(subject_id, body.reason, actor, until=_until(body.until))
    return Response(201, "application/json", Hold(**hold))


@router.get("/subjects/<subject_id>/holds", summary="A subject's legal holds, standing and lifted (dpo only)")
def list_holds(subject_id: SubjectId) -> HoldList:
    _dpo()
    found = holds.list_holds(subject_id)
    if not found and not holds.subject_exists(subject_id):
        raise NotFound("no such subject")
    return HoldList(holds=[Hold(**hold) for hold in found], held=any(holds.stands(hold) for hold in found))


@router.delete("/subjects/<subject_id>/holds/<hold_id>", summary="Lift a legal hold (dpo only)")
def lift_hold(subject_id: SubjectId, hold_id: Annotated[str, Path(min_length=1, max_length=64)]) -> Hold:
    actor = _dpo()
    return Hold(**holds.lift_hold(subject_id, hold_id, actor))
