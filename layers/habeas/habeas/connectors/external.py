"""External-processor connector: tells a third party to rectify or erase (GDPR art. 19) by a signed callback.

The notice is JSON ``{event, subject_ref, request_id, action, fields?, sent_at}`` POSTed over HTTPS
with ``X-Habeas-Signature: sha256=<hex HMAC-SHA256 of the raw body>`` under the processor's secret
(Secrets Manager, ARN in the store's ``secret_env``). ``subject_ref`` is a keyed hash of the subject
id under that secret, never an identifier. 5xx, 429, 408 and timeouts are retried with backoff; the
processor's answer status is returned. Habeas holds none of the processor's data: ``find`` is 0.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import os
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from habeas import clock
from habeas.config import ConfigurationError, get_settings
from habeas.connectors.base import Connector, ErasureOutcome, StoreUnavailable
from habeas.errors import HabeasError

ATTEMPTS = 5
TIMEOUT_SECONDS = 5
SIGNATURE_HEADER = "X-Habeas-Signature"
_RETRIED = {408, 425, 429}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A notice goes only where configured: a redirect (maybe to plain http) is an error, not followed."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


class ProcessorRejected(HabeasError):
    """The processor answered the notice with a client error: retrying the same notice will not help."""

    status, title, slug = 502, "Processor rejected the notice", "processor-rejected"


class ExternalProcessorConnector(Connector):
    """Notifies one external processor; applicable only when its endpoint variable is set."""

    def applicable(self) -> bool:
        return bool(os.environ.get(str(self.store.endpoint_env), "").strip())

    def find(self, subject_id: str) -> int:
        """The processor owns its copy; Habeas has nothing of its own to find there."""
        return 0

    def export(self, subject_id: str) -> list[dict[str, Any]]:
        """Nothing held by Habeas (the processor answers access requests for its own copy)."""
        return []

    def rectify(self, subject_id: str, changes: dict[str, str], *, request_id: str | None = None) -> int:
        """Notify the processor which fields changed (names only; it fetches values through its own channel)."""
        fields = sorted(name for name in changes if name in self.store.fields)
        if not self.applicable() or not fields:
            return 0
        self.notify(subject_id, action="rectify", request_id=request_id, fields=fields)
        return 1

    def erase(self, subject_id: str, *, request_id: str) -> ErasureOutcome:
        """Ask the processor to erase its copy; the outcome records its answer status."""
        strategy = self.store.erasure.strategy
        if not self.applicable():
            return ErasureOutcome(strategy, 0, {"notified": False, "reason": "not_applicable"})
        if strategy == "retain":
            return ErasureOutcome(strategy, 0, {"notified": False})
        status, answer = self.notify(subject_id, action="erase", request_id=request_id)
        count = answer.get("erased") if isinstance(answer, dict) else None
        detail: dict[str, Any] = {"notified": True, "processor_status": status}
        if isinstance(answer, dict) and isinstance(answer.get("reference"), str):
            detail["processor_reference"] = answer["reference"][:128]
        return ErasureOutcome(strategy, count if isinstance(count, int) and count >= 0 else 0, detail)

    # ------------------------------------------------------------------ the callback

    def endpoint(self) -> str:
        """The callback URL; https only, except plain http to a loopback address for local runs."""
        url = self.store.env_value("endpoint_env").strip()
        parts = urlsplit(url)
        if parts.scheme == "https" and parts.hostname:
            return url
        if parts.scheme == "http" and _loopback(parts.hostname or ""):
            return url
        raise ConfigurationError(f"data map store {self.store.name}: endpoint must be an https URL")

    def secret(self) -> bytes:
        """The processor's HMAC secret from Secrets Manager (cached like every Habeas secret)."""
        from aws_lambda_powertools.utilities import parameters

        arn = self.store.env_value("secret_env")
        value = parameters.get_secret(arn, max_age=get_settings().secret_cache_seconds)
        return value.encode() if isinstance(value, str) else bytes(value)

    def subject_ref(self, subject_id: str, secret: bytes) -> str:
        """A keyed hash of the subject id: stable for this processor, meaningless to anyone else."""
        return hmac.new(secret, f"subject:{subject_id}".encode(), hashlib.sha256).hexdigest()

    def notify(
        self, subject_id: str, *, action: str, request_id: str | None, fields: list[str] | None = None
    ) -> tuple[int, Any]:
        """POST the signed notice, retrying transient failures; returns (status, parsed JSON answer or None)."""
        url = self.endpoint()
        secret = self.secret()
        notice: dict[str, Any] = {
            "event": f"habeas.{action}",
            "subject_ref": self.subject_ref(subject_id, secret),
            "request_id": request_id,
            "action": action,
            "sent_at": clock.rfc3339(clock.now()),
        }
        if fields:
            notice["fields"] = fields
        body = json.dumps(notice, separators=(",", ":"), sort_keys=True).encode()
        signature = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature}
        if request_id:
            headers["Idempotency-Key"] = request_id  # lets the processor drop a repeated notice
        last = "no attempt"
        for attempt in range(ATTEMPTS):
            if attempt:
                self.backoff(attempt - 1, base=0.5, cap=8.0)
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
            try:
                with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as response:
                    return response.status, _json(response.read())
            except urllib.error.HTTPError as error:
                if error.code < 500 and error.code not in _RETRIED:
                    raise ProcessorRejected(f"store {self.store.name}: processor answered {error.code}") from None
                last = f"status {error.code}"
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                last = type(getattr(error, "reason", error)).__name__
        raise StoreUnavailable(f"store {self.store.name}: processor unreachable after {ATTEMPTS} attempts ({last})")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None
