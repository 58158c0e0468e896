"""HTTP plumbing shared by every API function: problem details, the edge guard, request facts.

Every error a caller sees is an RFC 9457 problem (``application/problem+json``), chosen by
exception type in one place. Bodies are checked before validation: over 256 KiB is 413, anything
but a JSON object is 400, a JSON object that breaks the schema is 422.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError, ResponseValidationError
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from habeas import clock
from habeas.config import get_settings
from habeas.errors import HabeasError
from habeas.observability import logger

PROBLEM_JSON = "application/problem+json"
_BODY_METHODS = {"POST", "PUT", "PATCH"}


def problem(status: int, title: str, detail: str, slug: str, extra: dict[str, Any] | None = None) -> Response:
    """An RFC 9457 problem-details response."""
    body = {"type": f"urn:habeas:problem:{slug}", "title": title, "status": status, "detail": detail, **(extra or {})}
    return Response(status_code=status, content_type=PROBLEM_JSON, body=json.dumps(body))


def _problem_event(status: int, title: str, detail: str, slug: str) -> dict[str, Any]:
    body = {"type": f"urn:habeas:problem:{slug}", "title": title, "status": status, "detail": detail}
    return {
        "statusCode": status,
        "headers": {"Content-Type": PROBLEM_JSON},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def _validation_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Pydantic errors carry the rejected input, which may be personal data: keep location and reason only.
    return [
        {"loc": [str(part) for part in error.get("loc", ())], "msg": error.get("msg"), "type": error.get("type")}
        for error in errors
    ]


def create_app() -> APIGatewayHttpResolver:
    """A resolver with validation, OpenAPI and Habeas's problem-details error mapping."""
    app = APIGatewayHttpResolver(enable_validation=True)

    @app.exception_handler(HabeasError)
    def _domain_error(error: HabeasError) -> Response:
        return problem(error.status, error.title, error.detail, error.slug)

    @app.exception_handler(RequestValidationError)
    def _invalid(error: RequestValidationError) -> Response:
        errors = list(error.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return problem(400, "Bad request", "the body is not valid JSON", "bad-request")
        return problem(
            422,
            "Unprocessable content",
            "the request does not match the schema",
            "validation",
            {"errors": _validation_errors(errors)},
        )

    @app.exception_handler(ResponseValidationError)
    def _bad_response(error: ResponseValidationError) -> Response:
        # Our bug, not the caller's: log where, never the values.
        logger.error("response failed its schema", extra={"errors": _validation_errors(list(error.errors()))})
        return problem(500, "Internal error", "something went wrong on our side", "internal")

    @app.exception_handler(IdempotencyValidationError)
    def _idempotency_mismatch(_: IdempotencyValidationError) -> Response:
        return problem(
            422,
            "Unprocessable content",
            "Idempotency-Key was already used with a different body",
            "idempotency-key-reused",
        )

    @app.exception_handler(IdempotencyAlreadyInProgressError)
    def _idempotency_in_progress(_: IdempotencyAlreadyInProgressError) -> Response:
        return problem(409, "Conflict", "a request with this Idempotency-Key is still in progress", "conflict")

    @app.exception_handler(NotFoundError)
    def _no_route(_: NotFoundError) -> Response:
        return problem(404, "Not found", "no such resource", "not-found")

    @app.not_found
    def _not_found(_: Exception) -> Response:
        return problem(404, "Not found", "no such resource", "not-found")

    return app


def guard(event: dict[str, Any]) -> dict[str, Any] | None:
    """Reject an oversized or non-JSON-object body before anything else runs; None if it is fine."""
    method = (event.get("requestContext", {}).get("http", {}).get("method") or "").upper()
    raw = event.get("body")
    if raw is None or raw == "":
        if method in _BODY_METHODS:
            return _problem_event(400, "Bad request", "the body must be a JSON object", "bad-request")
        return None
    try:
        data = base64.b64decode(raw, validate=True) if event.get("isBase64Encoded") else raw.encode()
    except (binascii.Error, ValueError):
        return _problem_event(400, "Bad request", "the body is not valid base64", "bad-request")
    if len(data) > get_settings().max_body_bytes:
        return _problem_event(413, "Payload too large", "the body is larger than 256 KiB", "payload-too-large")
    if method not in _BODY_METHODS:
        return None
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    content_type = headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        return _problem_event(415, "Unsupported media type", "send application/json", "unsupported-media-type")
    try:
        parsed = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _problem_event(400, "Bad request", "the body is not valid JSON", "bad-request")
    if not isinstance(parsed, dict):
        return _problem_event(400, "Bad request", "the body must be a JSON object", "bad-request")
    return None


Authenticator = Callable[[dict[str, Any]], dict[str, Any]]


def resolve(
    app: APIGatewayHttpResolver, event: dict[str, Any], context: Any, authenticate: Authenticator | None = None
) -> dict[str, Any]:
    """Authenticate, guard the body, then route and validate; any unexpected error is a clean 500.

    ``authenticate(event)`` runs first (a bad token is 401 whatever the body) and returns values
    that routes read from ``router.context`` (e.g. ``subject_id``), or raises a HabeasError.
    """
    try:
        facts = authenticate(event) if authenticate else {}
    except HabeasError as error:
        return _problem_event(error.status, error.title, error.detail, error.slug)
    rejected = guard(event)
    if rejected is not None:
        return rejected
    app.append_context(**facts)
    if event.get("isBase64Encoded") and event.get("body"):
        # Hand the resolver the decoded text so its validation sees the JSON the guard checked.
        event = {**event, "body": base64.b64decode(event["body"]).decode(), "isBase64Encoded": False}
    try:
        with clock.invocation(context):  # retries (e.g. a contended audit chain) stop in time to answer
            return app.resolve(event, context)
    except Exception as error:  # the last line of defence: never leak a trace or personal data
        logger.exception("unhandled error", extra={"error": type(error).__name__})
        return _problem_event(500, "Internal error", "something went wrong on our side", "internal")


def source_ip(app: APIGatewayHttpResolver) -> str | None:
    """The caller's IP as API Gateway saw it (never from a forgeable header)."""
    return app.current_event.request_context.http.source_ip


def request_id(app: APIGatewayHttpResolver) -> str | None:
    """API Gateway's request id."""
    return app.current_event.request_context.request_id


def event_header(event: dict[str, Any], name: str) -> str | None:
    """A header of a raw event, case-insensitively (for authenticators, before routing)."""
    wanted = name.lower()
    return next((v for k, v in (event.get("headers") or {}).items() if k.lower() == wanted), None)


def header(app: APIGatewayHttpResolver, name: str) -> str | None:
    """A request header, case-insensitively."""
    return event_header(app.current_event.raw_event, name)


def locale(app: APIGatewayHttpResolver, explicit: str | None = None) -> str:
    """es, pt or en: the explicit choice, else the first supported Accept-Language, else en."""
    if explicit in ("es", "pt", "en"):
        return explicit
    for part in (header(app, "accept-language") or "").split(","):
        language = part.split(";")[0].strip().lower()[:2]
        if language in ("es", "pt", "en"):
            return language
    return "en"
