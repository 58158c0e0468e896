"""Meta's webhook authentication: the subscription handshake and the body signature.

Both comparisons are constant-time, so response timing reveals nothing about the secret.
"""

from __future__ import annotations

import hashlib
import hmac

_PREFIX = "sha256="


def signature_valid(raw_body: bytes, header: str | None, app_secret: str) -> bool:
    """True if ``header`` is ``sha256=<hex HMAC-SHA256 of raw_body under app_secret>``."""
    if not header or not app_secret or not header.startswith(_PREFIX):
        return False
    expected = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
    # Hex digests are ASCII; compare bytes so a non-ASCII header is just a mismatch, not an error.
    return hmac.compare_digest(expected.encode(), header[len(_PREFIX) :].strip().lower().encode("utf-8", "replace"))


def sign(raw_body: bytes, app_secret: str) -> str:
    """The ``X-Hub-Signature-256`` value Meta would send for ``raw_body`` (for tests and sample events)."""
    return _PREFIX + hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()


def verify_token_valid(offered: str | None, configured: str | None) -> bool:
    """True if the handshake's ``hub.verify_token`` equals the configured one."""
    if not offered or not configured:
        return False
    return hmac.compare_digest(offered.encode(), configured.encode())
