import time

import jwt
import pytest

from habeas import tokens
from habeas.errors import Forbidden, Unauthorized

pytestmark = pytest.mark.unit
SECRET = b"s" * 64


@pytest.fixture(autouse=True)
def signing_key(monkeypatch):
    monkeypatch.setattr(tokens, "secret_bytes", lambda _setting: SECRET)


def _claims(**overrides):
    now = int(time.time())
    claims = {"iss": "habeas:habeas", "aud": tokens.SUBJECT_AUDIENCE, "sub": "sub_1", "iat": now, "exp": now + 60}
    claims.update(overrides)
    return claims


def test_issued_subject_token_verifies_to_its_subject():
    issued = tokens.issue_subject_token("sub_123")
    assert issued.expires_in == 900
    assert tokens.verify_subject_token(f"Bearer {issued.access_token}") == "sub_123"


@pytest.mark.parametrize(
    "token",
    [
        jwt.encode(_claims(), b"x" * 64, algorithm="HS256"),  # forged: another key
        jwt.encode(_claims(aud="habeas:staff"), SECRET, algorithm="HS256"),  # wrong audience
        jwt.encode(_claims(iss="someone-else"), SECRET, algorithm="HS256"),  # wrong issuer
        jwt.encode(_claims(exp=int(time.time()) - 60), SECRET, algorithm="HS256"),  # expired
        jwt.encode({k: v for k, v in _claims().items() if k != "exp"}, SECRET, algorithm="HS256"),  # no expiry
        jwt.encode(_claims(), SECRET, algorithm="HS512"),  # algorithm not the pinned one
        jwt.encode(_claims(), None, algorithm="none"),  # unsigned
        "not-a-jwt",
    ],
)
def test_bad_subject_tokens_are_unauthorized(token):
    with pytest.raises(Unauthorized):
        tokens.verify_subject_token(f"Bearer {token}")


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer ", "Token x"])
def test_missing_or_non_bearer_authorization_is_unauthorized(header):
    with pytest.raises(Unauthorized):
        tokens.verify_subject_token(header)


def test_staff_principal_role_is_the_strongest_group():
    principal = tokens.StaffPrincipal(actor="a", groups=("agent", "dpo"))
    assert principal.role == "dpo"
    assert principal.has_any("dpo") and not tokens.StaffPrincipal("b", ("agent",)).has_any("dpo")


def test_staff_jwks_url_follows_the_embedded_aws_endpoint(monkeypatch):
    issuer = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc"
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    assert tokens.staff_jwks_url(issuer) == f"{issuer}/.well-known/jwks.json"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    assert tokens.staff_jwks_url(issuer) == "http://127.0.0.1:5000/us-east-1_abc/.well-known/jwks.json"


def test_forbidden_is_distinct_from_unauthorized():
    assert Forbidden.status == 403 and Unauthorized.status == 401
