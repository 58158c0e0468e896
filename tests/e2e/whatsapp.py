"""WhatsApp Cloud API deliveries as Meta sends them, signed with the runtime's local app secret."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from tests.integration.channels.helpers import wa_text

APP_SECRET = b"local-app-secret"  # the contract's local default, seeded into ChannelSecret by the runtime


def text_delivery(wa_id: str, text: str) -> bytes:
    """The raw body of a webhook POST carrying one text message from ``wa_id``, sent now."""
    return json.dumps(wa_text(wa_id, text, timestamp=int(time.time()))).encode()


def signature_header(raw: bytes, secret: bytes = APP_SECRET) -> dict[str, str]:
    """``X-Hub-Signature-256`` over the raw body, as Meta computes it."""
    return {"x-hub-signature-256": "sha256=" + hmac.new(secret, raw, hashlib.sha256).hexdigest()}
