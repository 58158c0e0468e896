"""Identity verification routes (no token)."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from habeas import http, verification
from habeas.idempotency import once

router = APIGatewayHttpRouter()


class StartVerificationBody(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    identifier: str = Field(min_length=3, max_length=320, description="An email address or an E.164 phone number")
    channel: Literal["email", "sms", "whatsapp"] | None = None
    locale: Literal["es", "pt", "en"] | None = None


class VerificationStarted(BaseModel):
    verification_id: str


class ConfirmBody(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    code: str = Field(pattern=r"^\d{6}$")


class AccessToken(BaseModel):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    subject_id: str


def _start(payload: dict) -> dict:
    return verification.start(verification.StartVerification(**payload))


@router.post("/verifications", summary="Send a one-time code to an email or phone")
def start_verification(body: Annotated[StartVerificationBody, Body()]) -> Response[VerificationStarted]:
    payload = {
        "identifier": body.identifier,
        "channel": body.channel,
        "locale": http.locale(router, body.locale),
    }
    # The key is scoped to the identifier's exact text so one caller's key cannot return another's id.
    started = once(_start, payload, key=http.header(router, "idempotency-key"), scope="verification")
    return Response(202, "application/json", VerificationStarted(**started))


@router.post("/verifications/<verification_id>/confirm", summary="Exchange a one-time code for a subject token")
def confirm_verification(
    verification_id: Annotated[str, Path(max_length=64)], body: Annotated[ConfirmBody, Body()]
) -> AccessToken:
    return AccessToken(
        **verification.confirm(
            verification_id, body.code, source_ip=http.source_ip(router), request_id=http.request_id(router)
        )
    )
