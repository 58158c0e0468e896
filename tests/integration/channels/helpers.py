"""Values and steps the channel integration tests share (imported once, so the secrets agree)."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from tests.conftest import load_event

# Per-run values for the ChannelSecret: the local defaults are the runtime's business, not the tests'.
VERIFY_TOKEN = f"verify-{uuid.uuid4().hex}"
APP_SECRET = f"secret-{uuid.uuid4().hex}"


def sample_payload(name: str) -> dict[str, Any]:
    """The platform payload inside a sample API Gateway event."""
    event = load_event(name)
    body = base64.b64decode(event["body"]) if event["isBase64Encoded"] else event["body"].encode()
    return json.loads(body)


def queued_items(channel_aws: Any) -> list[dict[str, Any]]:
    """Drain the inbound queue; the queued items as dicts."""
    return [json.loads(m["body"]) for m in channel_aws.queued()]


def wa_text(sender: str, text: str, message_id: str | None = None, timestamp: int = 1795388400) -> dict[str, Any]:
    """A WhatsApp Cloud API webhook with one text message from ``sender`` (a wa_id)."""
    message = {
        "from": sender,
        "id": message_id or f"wamid.{uuid.uuid4().hex}",
        "timestamp": str(timestamp),
        "type": "text",
        "text": {"body": text},
    }
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001234", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "Test"}, "wa_id": sender}],
        "messages": [message],
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1022", "changes": [{"field": "messages", "value": value}]}],
    }


def ig_text(sender: str, text: str, mid: str | None = None) -> dict[str, Any]:
    """An Instagram Messaging webhook with one text message from ``sender`` (an Instagram-scoped id)."""
    event = {
        "sender": {"id": sender},
        "recipient": {"id": "17841400008460056"},
        "timestamp": 1795388400123,
        "message": {"mid": mid or f"aWdf{uuid.uuid4().hex}", "text": text},
    }
    return {"object": "instagram", "entry": [{"id": "17841400008460056", "time": 1795388400200, "messaging": [event]}]}
