"""Outbound messages on Meta's platforms through the Graph API send endpoint.

The base URL is a deployment parameter (the local runtime points it at its own capture endpoint);
the access token and WhatsApp phone-number id come from the channel secret, never from code.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from habeas.config import get_settings
from habeas.errors import DeliveryFailed
from habeas.observability import logger
from habeas.secrets import secret_json


def _post(path: str, payload: dict) -> None:
    settings = get_settings()
    base = settings.require("graph_api_base_url").rstrip("/")
    if not base.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        raise DeliveryFailed("the messaging endpoint must use https")
    token = secret_json("channel_secret_arn").get("access_token", "")
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        f"{base}/{path.lstrip('/')}",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            response.read()
    except (urllib.error.URLError, TimeoutError) as error:
        logger.warning("graph api send failed", extra={"error": type(error).__name__})
        raise DeliveryFailed("the message could not be delivered; try again later") from error


def send_whatsapp_text(to_e164: str, text: str) -> None:
    """Send a text message to a WhatsApp user (``to`` in E.164)."""
    phone_number_id = secret_json("channel_secret_arn").get("whatsapp_phone_number_id", "me")
    _post(
        f"{phone_number_id}/messages",
        {"messaging_product": "whatsapp", "to": to_e164.lstrip("+"), "type": "text", "text": {"body": text}},
    )


def send_instagram_text(recipient_id: str, text: str) -> None:
    """Send a text message to an Instagram-scoped user id."""
    _post("me/messages", {"recipient": {"id": recipient_id}, "message": {"text": text}})
