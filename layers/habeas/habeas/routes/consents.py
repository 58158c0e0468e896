"""Consent routes (subject token)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from habeas import audit, consent, http
from habeas.consent import Channel, Locale

router = APIGatewayHttpRouter()


class ConsentBody(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    granted: bool
    policy_version: str = Field(min_length=1, max_length=64)
    channel: Channel
    locale: Locale | None = None


class ConsentState(BaseModel):
    purpose: str
    granted: bool
    policy_version: str
    channel: Channel
    recorded_at: str
    receipt_id: str
    locale: Locale | None = None


class ConsentList(BaseModel):
    consents: list[ConsentState]


class ConsentHistory(BaseModel):
    events: list[ConsentState]


def _subject() -> str:
    # Set by the function's authenticator before routing (see habeas.apps).
    return str(router.context["subject_id"])


@router.put("/<purpose>", summary="Grant or withdraw consent to one purpose")
def put_consent(purpose: Annotated[str, Path(max_length=64)], body: Annotated[ConsentBody, Body()]) -> ConsentState:
    subject_id = _subject()
    actor = audit.Actor(
        id=subject_id, role="subject", source_ip=http.source_ip(router), request_id=http.request_id(router)
    )
    receipt = consent.record_consent(
        subject_id,
        purpose,
        granted=body.granted,
        policy_version=body.policy_version,
        channel=body.channel,
        locale=http.locale(router, body.locale),
        actor=actor,
    )
    return ConsentState(**receipt)


@router.get("", summary="Current consent state per purpose")
def list_consents() -> ConsentList:
    return ConsentList(consents=[ConsentState(**c) for c in consent.current_consents(_subject())])


@router.get("/<purpose>/history", summary="Every grant and withdrawal of one purpose, oldest first")
def consent_history(purpose: Annotated[str, Path(max_length=64)]) -> ConsentHistory:
    return ConsentHistory(events=[ConsentState(**e) for e in consent.history(_subject(), purpose)])
