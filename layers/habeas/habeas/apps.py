"""The HTTP applications, one per function, assembled from the routers."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from habeas import http
from habeas.routes import admin, consents, public, verifications
from habeas.tokens import verify_staff_token, verify_subject_token

_SUBJECT_PREFIXES = ("/v1/consents", "/v1/requests")


def subject_authenticator(event: dict[str, Any]) -> dict[str, Any]:
    """Subject routes need a valid subject token; public routes need nothing."""
    path = event.get("rawPath") or ""
    if path.startswith(_SUBJECT_PREFIXES):
        return {"subject_id": verify_subject_token(http.event_header(event, "authorization"))}
    return {}


def staff_authenticator(event: dict[str, Any]) -> dict[str, Any]:
    """Every staff route needs a valid staff token (checked again here behind API Gateway's authorizer)."""
    return {"staff": verify_staff_token(http.event_header(event, "authorization"))}


@functools.cache
def api_app() -> APIGatewayHttpResolver:
    """Health, purposes, verification and consent."""
    app = http.create_app()
    app.include_router(public.router)
    app.include_router(verifications.router, prefix="/v1")
    app.include_router(consents.router, prefix="/v1/consents")
    return app


@functools.cache
def admin_app() -> APIGatewayHttpResolver:
    """The staff console."""
    app = http.create_app()
    app.include_router(admin.router, prefix="/v1/admin")
    return app
