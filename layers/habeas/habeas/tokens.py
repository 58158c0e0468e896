"""Subject access tokens (issued here, HS256) and staff tokens (issued by the Cognito user pool, RS256).

Algorithms are pinned on verification; issuer, audience and expiry are always checked.
"""

from __future__ import annotations

import functools
import os
import secrets as pysecrets
from dataclasses import dataclass

import jwt

from habeas import clock
from habeas.config import get_settings
from habeas.errors import Forbidden, Unauthorized
from habeas.secrets import secret_bytes

SUBJECT_AUDIENCE = "habeas:subject"
STAFF_ROLES = ("agent", "supervisor", "dpo")


def _subject_issuer() -> str:
    return f"habeas:{get_settings().deployment}"


@dataclass(frozen=True)
class SubjectToken:
    """A freshly issued subject access token."""

    access_token: str
    expires_in: int


def issue_subject_token(subject_id: str) -> SubjectToken:
    """Sign a short-lived token that lets its holder act as ``subject_id``."""
    ttl = get_settings().subject_token_ttl_seconds
    issued = int(clock.now().timestamp())
    claims = {
        "iss": _subject_issuer(),
        "aud": SUBJECT_AUDIENCE,
        "sub": subject_id,
        "iat": issued,
        "nbf": issued,
        "exp": issued + ttl,
        "jti": pysecrets.token_urlsafe(12),
    }
    token = jwt.encode(claims, secret_bytes("token_signing_secret_arn"), algorithm="HS256")
    return SubjectToken(token, ttl)


def bearer(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header, or Unauthorized."""
    if not authorization:
        raise Unauthorized("missing bearer token")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("authorization must be a bearer token")
    return token.strip()


def verify_subject_token(authorization: str | None) -> str:
    """The subject id of a valid subject token; Unauthorized for anything else."""
    try:
        claims = jwt.decode(
            bearer(authorization),
            secret_bytes("token_signing_secret_arn"),
            algorithms=["HS256"],
            audience=SUBJECT_AUDIENCE,
            issuer=_subject_issuer(),
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            leeway=5,
        )
    except jwt.PyJWTError as exc:
        raise Unauthorized("invalid or expired token") from exc
    return str(claims["sub"])


@dataclass(frozen=True)
class StaffPrincipal:
    """A verified member of staff."""

    actor: str
    groups: tuple[str, ...]

    @property
    def role(self) -> str:
        """The strongest role the member holds (dpo > supervisor > agent)."""
        return next(role for role in reversed(STAFF_ROLES) if role in self.groups)

    def has_any(self, *roles: str) -> bool:
        """True if the member is in one of ``roles``."""
        return any(role in self.groups for role in roles)


def staff_jwks_url(issuer: str) -> str:
    """Where the user pool publishes its signing keys.

    In AWS that is the issuer's well-known URL. When ``AWS_ENDPOINT_URL`` points the function at
    an embedded AWS (the local runtime), the same pool serves its keys there, like every other
    AWS API the function calls.
    """
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        pool_id = issuer.rstrip("/").rsplit("/", 1)[-1]
        return f"{endpoint.rstrip('/')}/{pool_id}/.well-known/jwks.json"
    return f"{issuer.rstrip('/')}/.well-known/jwks.json"


@functools.cache
def _jwks_client(url: str) -> jwt.PyJWKClient:
    headers = {}
    if os.environ.get("AWS_ENDPOINT_URL"):
        # An embedded AWS routes requests by the credential scope of their Authorization header.
        region = os.environ.get("AWS_REGION", os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
        headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential=local/20260101/{region}/cognito-idp/aws4_request, "
            "SignedHeaders=host, Signature=local"
        )
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=3600, timeout=5, headers=headers)


def verify_staff_token(authorization: str | None) -> StaffPrincipal:
    """The staff member of a valid user-pool token with at least one Habeas role; else 401/403."""
    settings = get_settings()
    issuer = settings.require("staff_token_issuer")
    token = bearer(authorization)
    try:
        signing_key = _jwks_client(staff_jwks_url(issuer)).get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token,
            signing_key.key,
            algorithms=["RS256"],
            audience=settings.require("staff_token_audience"),
            issuer=issuer,
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            leeway=5,
        )
    except (jwt.PyJWTError, jwt.PyJWKClientError) as exc:
        raise Unauthorized("invalid or expired staff token") from exc
    if claims.get("token_use", "id") != "id":
        raise Unauthorized("staff token must be an id token")
    raw_groups = claims.get("cognito:groups", claims.get("groups", []))
    groups = tuple(g for g in ([raw_groups] if isinstance(raw_groups, str) else raw_groups) if g in STAFF_ROLES)
    if not groups:
        raise Forbidden("no Habeas role")
    actor = str(claims.get("cognito:username") or claims["sub"])
    return StaffPrincipal(actor=actor, groups=groups)
