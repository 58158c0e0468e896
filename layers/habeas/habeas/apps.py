"""The HTTP applications, one per function, assembled from the routers."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from habeas import allowlist, http
from habeas.routes import admin, admin_requests, consents, holds, public, requests, verifications
from habeas.routes import retention as retention_routes
from habeas.tokens import verify_staff_token, verify_subject_token

Mounts = tuple[tuple[APIGatewayHttpRouter, str | None], ...]

# Which routers each function serves, at which prefix (template.yaml routes the same paths to it).
API_ROUTERS: Mounts = (
    (public.router, None),
    (verifications.router, "/v1"),
    (consents.router, "/v1/consents"),
    (requests.router, "/v1/requests"),
)
ADMIN_ROUTERS: Mounts = (
    (admin.router, "/v1/admin"),
    (holds.router, "/v1/admin"),
    (retention_routes.router, "/v1/admin"),
    (admin_requests.router, "/v1/admin"),
)

_SUBJECT_PREFIXES = ("/v1/consents", "/v1/requests")


def subject_authenticator(event: dict[str, Any]) -> dict[str, Any]:
    """Subject routes need a valid subject token; public routes need nothing."""
    path = event.get("rawPath") or ""
    if path.startswith(_SUBJECT_PREFIXES):
        return {"subject_id": verify_subject_token(http.event_header(event, "authorization"))}
    return {}


def staff_authenticator(event: dict[str, Any]) -> dict[str, Any]:
    """Staff routes: the caller's network must be allowed (403), then a valid staff token (401) is needed.

    The token is checked again here behind API Gateway's authorizer.
    """
    allowlist.check(event)
    return {"staff": verify_staff_token(http.event_header(event, "authorization"))}


def build(*mounts: Mounts) -> APIGatewayHttpResolver:
    """A resolver serving the given routers."""
    app = http.create_app()
    for group in mounts:
        for router, prefix in group:
            app.include_router(router, prefix=prefix)
    return app


@functools.cache
def api_app() -> APIGatewayHttpResolver:
    """Health, purposes, verification and consent."""
    return build(API_ROUTERS)


@functools.cache
def admin_app() -> APIGatewayHttpResolver:
    """The staff console."""
    return build(ADMIN_ROUTERS)
