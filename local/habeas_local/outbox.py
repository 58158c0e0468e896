"""What SES, SNS SMS and the messaging channels' send API would have delivered.

SES and SNS messages are read from moto's own records (the server runs in this process); moto keeps
no send time, so each message is stamped when the runtime first sees it, which it does right after
every invocation. Graph API sends are captured by the runtime's ``/local/graph/...`` endpoint.
"""

from __future__ import annotations

import email
import email.policy
import threading
from datetime import UTC, datetime
from typing import Any


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _raw_email_body(raw: str) -> str:
    message = email.message_from_string(raw, policy=email.policy.default)
    part = message.get_body(preferencelist=("plain", "html"))
    return part.get_content() if part is not None else ""


class Outbox:
    """Collects delivered messages in the order they were sent."""

    def __init__(self, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region
        self._seen: set[str] = set()
        self._messages: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def observe(self) -> None:
        """Pick up messages moto recorded since the last look."""
        from moto.ses.models import ses_backends
        from moto.sns.models import sns_backends

        found: list[tuple[str, dict[str, Any]]] = []
        for message in list(ses_backends[self.account_id][self.region].sent_messages):
            message_id = getattr(message, "id", None) or ",".join(getattr(message, "ids", []))
            destinations = message.destinations
            if isinstance(destinations, dict):
                recipients = [
                    a for kind in ("ToAddresses", "CcAddresses", "BccAddresses") for a in destinations.get(kind, [])
                ]
            else:
                recipients = list(destinations or [])
            if hasattr(message, "body"):
                body = message.body
            elif hasattr(message, "raw_data"):
                body = _raw_email_body(message.raw_data)
            else:  # a templated email: the template name and data are what there is
                body = f"{message.template}: {message.template_data}"
            for recipient in recipients:
                found.append((f"ses:{message_id}:{recipient}", {"to": recipient, "channel": "email", "body": body}))
        for message_id, (phone, text) in list(sns_backends[self.account_id][self.region].sms_messages.items()):
            found.append((f"sns:{message_id}", {"to": phone, "channel": "sms", "body": text}))
        with self._lock:
            for key, message in found:
                if key not in self._seen:
                    self._seen.add(key)
                    self._messages.append({**message, "sent_at": _now()})

    def capture(self, to: str, channel: str, body: str) -> None:
        """Record a message sent through a captured channel API."""
        with self._lock:
            self._messages.append({"to": to, "channel": channel, "body": body, "sent_at": _now()})

    def messages(self) -> list[dict[str, Any]]:
        """Every message so far, oldest first."""
        self.observe()
        with self._lock:
            return [dict(m) for m in self._messages]
