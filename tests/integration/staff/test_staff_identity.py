"""Staff identity in the function: algorithm pinning, token kind, and the IP allowlist before the token."""

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from habeas_local.aws import _cognito_signing_key
from tests.conftest import http_event, import_handler
from tests.integration.helpers import bearer

pytestmark = pytest.mark.integration

LOOKUP = {"query": {"identifier": "nobody@example.com"}}


def _claims(embedded_aws, **overrides):
    pool_id, client_id = embedded_aws.staff_pool()
    now = int(time.time())
    claims = {
        "sub": "mallory",
        "iss": f"https://cognito-idp.us-east-1.amazonaws.com/{pool_id}",
        "aud": client_id,
        "token_use": "id",
        "cognito:groups": ["dpo"],
        "iat": now,
        "exp": now + 600,
    }
    return {**claims, **overrides}


def test_a_well_formed_token_of_the_pool_is_accepted(admin, staff):
    assert admin("GET", "/v1/admin/subjects", headers=staff(["agent"]), **LOOKUP).status == 404


def test_an_unsigned_token_is_401(admin, embedded_aws):
    _, kid = _cognito_signing_key()
    token = jwt.encode(_claims(embedded_aws), None, algorithm="none", headers={"kid": kid})
    assert admin("GET", "/v1/admin/subjects", headers=bearer(token), **LOOKUP).status == 401


def test_a_token_hmac_signed_with_the_pools_public_key_is_401(admin, embedded_aws):
    # Algorithm confusion: HS256 keyed with the public RSA key a verifier might accept if not pinned.
    key, kid = _cognito_signing_key()
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode()

    def b64(raw):
        return base64.urlsafe_b64encode(raw).rstrip(b"=")

    signing_input = b64(header) + b"." + b64(json.dumps(_claims(embedded_aws)).encode())
    signature = hmac.new(public_pem, signing_input, hashlib.sha256).digest()
    token = (signing_input + b"." + b64(signature)).decode()
    assert admin("GET", "/v1/admin/subjects", headers=bearer(token), **LOOKUP).status == 401


def test_a_token_signed_by_another_rsa_key_under_the_pools_kid_is_401(admin, embedded_aws):
    _, kid = _cognito_signing_key()
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(_claims(embedded_aws), other, algorithm="RS256", headers={"kid": kid})
    assert admin("GET", "/v1/admin/subjects", headers=bearer(token), **LOOKUP).status == 401


def test_an_access_token_instead_of_an_id_token_is_401(admin, embedded_aws):
    key, kid = _cognito_signing_key()
    token = jwt.encode(_claims(embedded_aws, token_use="access"), key, algorithm="RS256", headers={"kid": kid})
    assert admin("GET", "/v1/admin/subjects", headers=bearer(token), **LOOKUP).status == 401


def test_a_token_without_expiry_is_401(admin, embedded_aws):
    key, kid = _cognito_signing_key()
    claims = {k: v for k, v in _claims(embedded_aws).items() if k != "exp"}
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})
    assert admin("GET", "/v1/admin/subjects", headers=bearer(token), **LOOKUP).status == 401


def _admin_from(use_function, monkeypatch, lambda_context, source_ip, headers, allowed="203.0.113.0/24"):
    use_function("AdminFunction")
    monkeypatch.setenv("STAFF_ALLOWED_CIDRS", allowed)
    from habeas.config import get_settings

    get_settings.cache_clear()
    event = http_event("GET", "/v1/admin/subjects", headers=headers, source_ip=source_ip, **LOOKUP)
    return import_handler("admin").handler(event, lambda_context)


def test_a_request_from_outside_the_allowlist_is_403_even_with_a_valid_token(
    use_function, monkeypatch, lambda_context, staff
):
    forwarded = {**staff(["dpo"]), "x-forwarded-for": "203.0.113.9"}  # a header cannot open the door
    answer = _admin_from(use_function, monkeypatch, lambda_context, "198.51.100.7", forwarded)
    assert answer["statusCode"] == 403
    assert json.loads(answer["body"])["status"] == 403


def test_the_allowlist_is_checked_before_the_token(use_function, monkeypatch, lambda_context):
    answer = _admin_from(use_function, monkeypatch, lambda_context, "198.51.100.7", bearer("forged"))
    assert answer["statusCode"] == 403


def test_a_request_from_inside_the_allowlist_reaches_the_route(use_function, monkeypatch, lambda_context, staff):
    answer = _admin_from(use_function, monkeypatch, lambda_context, "203.0.113.77", staff(["agent"]))
    assert answer["statusCode"] == 404  # the lookup ran: nobody has that identifier
