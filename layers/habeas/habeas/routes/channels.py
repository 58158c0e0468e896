"""Messaging channel webhooks (no bearer token; every POST is signed by the platform).

The signature is checked by ``channel_authenticator`` on the raw event, before the body guard and
before any parsing, so an unsigned or forged delivery is a 401 whatever its body.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, Field

from habeas import http
from habeas.channels.models import PLATFORMS, InstagramWebhook, Platform, WhatsAppWebhook
from habeas.channels.signature import signature_valid
from habeas.channels.webhook import channel_secret, handshake, webhook_service
from habeas.errors import BadRequest, NotFound, Unauthorized, Unprocessable

router = APIGatewayHttpRouter()
PREFIX = "/v1/channels"
# Which routers the channels function serves, at which prefix (template.yaml routes the same paths to it).
CHANNEL_ROUTERS = ((router, PREFIX),)

_WEBHOOK_PATH = re.compile(rf"^{PREFIX}/(?P<platform>[^/]+)/webhook/?$")
WebhookPayload = Annotated[WhatsAppWebhook | InstagramWebhook, Field(discriminator="object")]


class Received(BaseModel):
    received: int = Field(description="messages and statuses accepted from this delivery")


def _platform(name: str) -> Platform:
    if name not in PLATFORMS:
        raise NotFound("no such channel")
    return name  # type: ignore[return-value]


def raw_body(event: dict[str, Any]) -> bytes:
    """The body exactly as the platform sent it (the bytes the signature covers)."""
    body = event.get("body") or ""
    if not event.get("isBase64Encoded"):
        return body.encode()
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as error:
        raise BadRequest("the body is not valid base64") from error


def channel_authenticator(event: dict[str, Any]) -> dict[str, Any]:
    """For a webhook POST: unknown platform is 404, a missing or wrong signature 401; GET needs nothing."""
    match = _WEBHOOK_PATH.match(event.get("rawPath") or "")
    method = (event.get("requestContext", {}).get("http", {}).get("method") or "").upper()
    if match is None or method != "POST":
        return {}
    platform = _platform(match.group("platform"))
    _, app_secret = channel_secret(platform)
    if not signature_valid(raw_body(event), http.event_header(event, "x-hub-signature-256"), app_secret):
        raise Unauthorized("missing or invalid X-Hub-Signature-256")
    return {"channel_platform": platform}


@router.get("/<platform>/webhook", summary="Webhook subscription handshake (Meta)")
def verify_subscription(
    platform: Annotated[str, Path(max_length=32)],
    mode: Annotated[str | None, Query(alias="hub.mode", max_length=32)] = None,
    token: Annotated[str | None, Query(alias="hub.verify_token", max_length=256)] = None,
    challenge: Annotated[str | None, Query(alias="hub.challenge", max_length=256)] = None,
) -> Response[str]:
    # text/plain, so an echoed challenge can never be rendered as markup.
    body = handshake(_platform(platform), mode, token, challenge)
    return Response(status_code=200, content_type="text/plain", body=body)


@router.post("/<platform>/webhook", summary="Inbound messages and statuses (signed by Meta)")
def receive(platform: Annotated[str, Path(max_length=32)], payload: Annotated[WebhookPayload, Body()]) -> Received:
    channel = _platform(platform)
    if payload.object != {"whatsapp": "whatsapp_business_account", "instagram": "instagram"}[channel]:
        raise Unprocessable("the payload is not from this channel's platform")
    return Received(received=webhook_service().receive(channel, payload))
