"""Routes that need no token: health and the purpose catalogue."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel

from habeas import aws
from habeas.config import get_settings
from habeas.observability import logger
from habeas.purposes import Purpose, catalogue

router = APIGatewayHttpRouter()

# The tables, by setting name, that this function's health depends on (whichever it was given).
_TABLE_SETTINGS = (
    "subjects_table",
    "identifiers_table",
    "verifications_table",
    "consents_table",
    "audit_table",
    "idempotency_table",
)
_SECRET_SETTINGS = ("token_signing_secret_arn", "blind_index_secret_arn")


class Health(BaseModel):
    status: str


class PurposeList(BaseModel):
    purposes: list[Purpose]


@router.get("/health", summary="Health: every resource the app needs is reachable")
def health() -> Response[Health]:
    settings = get_settings()
    try:
        for name in _TABLE_SETTINGS:
            if getattr(settings, name):
                aws.client("dynamodb").describe_table(TableName=getattr(settings, name))
        for name in _SECRET_SETTINGS:
            if getattr(settings, name):
                aws.client("secretsmanager").describe_secret(SecretId=getattr(settings, name))
    except (ClientError, BotoCoreError) as error:
        logger.warning("health check failed", extra={"error": type(error).__name__})
        return Response(503, "application/json", Health(status="unavailable"))
    return Response(200, "application/json", Health(status="ok"))


@router.get("/v1/purposes", summary="The processing purposes a subject can consent to")
def list_purposes() -> PurposeList:
    return PurposeList(purposes=catalogue().purposes)
