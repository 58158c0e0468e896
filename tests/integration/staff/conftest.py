"""Fixtures of the staff-console integration tests: staff tokens and a direct AdminFunction caller."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import Answer
from tests.integration.helpers import bearer


@pytest.fixture
def staff(embedded_aws) -> Callable[..., dict[str, str]]:
    """Authorization headers of a staff token: staff(["agent"], sub="agent-1")."""

    def headers(groups: list[str], sub: str = "staff-7", **overrides: Any) -> dict[str, str]:
        return bearer(embedded_aws.staff_token(sub, groups, **overrides))

    return headers


@pytest.fixture
def admin(call) -> Callable[..., Answer]:
    """Call the AdminFunction: admin("GET", "/v1/admin/...", route=..., headers=...)."""

    def invoke(method: str, path: str, **kwargs: Any) -> Answer:
        return call("AdminFunction", method, path, **kwargs)

    return invoke


QUIET_RULES = """
timezone: UTC
working_hours: {start: "00:00", end: "23:59", weekdays: [1, 2, 3, 4, 5, 6, 7]}
rules:
  many_subjects: {enabled: true, max_subjects: 2, window_minutes: 10, lock_reveals: true}
  sensitive_reveals: {enabled: true, categories: [financial, government_id], max_reveals: 1, window_minutes: 60, lock_reveals: true}
  off_hours: {enabled: false}
  no_relationship: {enabled: false}
"""


@pytest.fixture(autouse=True)
def alert_rules(tmp_path, monkeypatch):
    """Small thresholds, no clock-dependent rules: write other rules to the returned path to change them."""
    path = tmp_path / "alert_rules.yaml"
    path.write_text(QUIET_RULES)
    monkeypatch.setenv("ALERT_RULES_PATH", str(path))
    return path


@pytest.fixture
def unique() -> Callable[[str], str]:
    """A name unique to this test run (staff ids, identifiers): the embedded AWS lives for the session."""
    import uuid

    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:8]}"


def whatsapp_message(use_function, lambda_context, sender: str, text: str) -> None:
    """What the channel worker does with one WhatsApp text from ``sender`` (a wa_id, digits)."""
    import json
    import time
    import uuid

    from tests.conftest import import_handler

    use_function("ChannelWorkerFunction")
    body = {
        "platform": "whatsapp",
        "kind": "message",
        "id": f"wamid.{uuid.uuid4().hex}",
        "sender": sender,
        "sent_at": int(time.time() * 1000),
        "received_at": "2026-11-22T23:00:01.000Z",
        "type": "text",
        "text": text,
    }
    record = {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": "handle",
        "body": json.dumps(body),
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1",
            "SenderId": "x",
            "ApproximateFirstReceiveTimestamp": "1",
        },
        "messageAttributes": {},
        "md5OfBody": "0",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:habeas-InboundMessagesQueue",
        "awsRegion": "us-east-1",
    }
    result = import_handler("channel_worker").handler({"Records": [record]}, lambda_context)
    assert result == {"batchItemFailures": []}, result
