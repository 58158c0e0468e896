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
