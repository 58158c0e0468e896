"""Domain exceptions. Each carries its HTTP status; ``habeas.http`` turns them into problem details.

Messages must never contain personal data: they are shown to callers and may be logged.
"""

from __future__ import annotations


class HabeasError(Exception):
    """Base of every error a caller may see."""

    status = 500
    title = "Internal error"
    slug = "internal"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title


class BadRequest(HabeasError):
    status, title, slug = 400, "Bad request", "bad-request"


class Unauthorized(HabeasError):
    status, title, slug = 401, "Unauthorized", "unauthorized"


class Forbidden(HabeasError):
    status, title, slug = 403, "Forbidden", "forbidden"


class NotFound(HabeasError):
    status, title, slug = 404, "Not found", "not-found"


class Conflict(HabeasError):
    status, title, slug = 409, "Conflict", "conflict"


class PayloadTooLarge(HabeasError):
    status, title, slug = 413, "Payload too large", "payload-too-large"


class Unprocessable(HabeasError):
    status, title, slug = 422, "Unprocessable content", "validation"


class TooManyAttempts(HabeasError):
    status, title, slug = 429, "Too many attempts", "too-many-attempts"


class DeliveryFailed(HabeasError):
    """A message could not be handed to SES, SNS or a channel; the caller may retry."""

    status, title, slug = 503, "Delivery unavailable", "delivery-unavailable"
