"""WhatsApp Cloud API deliveries as Meta sends them, signed with the runtime's local app secret."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid

APP_SECRET = b"local-app-secret"  # the contract's local default, seeded into ChannelSecret by the runtime


def text_delivery(wa_id: str, text: str) -> bytes:
    """The raw body of a webhook POST carrying one text message from ``wa_id``."""
    message = {
        "from": wa_id,
        "id": f"wamid.e2e{uuid.uuid4().hex}",
        "timestamp": str(int(time.time())),
        "type": "text",
        "text": {"body": text},
    }
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "Cliente"}, "wa_id": wa_id}],
        "messages": [message],
    }
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(payload).encode()


def signature_header(raw: bytes, secret: bytes = APP_SECRET) -> dict[str, str]:
    """``X-Hub-Signature-256`` over the raw body, as Meta computes it."""
    return {"x-hub-signature-256": "sha256=" + hmac.new(secret, raw, hashlib.sha256).hexdigest()}
