"""Erasure certificates: what was erased where, how and when, signed with an asymmetric KMS key.

The payload is canonical JSON (sorted keys, no spaces, UTF-8), signed with KMS ``Sign``
(ECDSA_SHA_256 over the raw payload). Anyone can check it offline with the key's public half
(``public_key_pem``), e.g. with ``verify`` below or ``openssl dgst -sha256 -verify``.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from habeas import aws
from habeas.config import get_settings

ALGORITHM = "ECDSA_SHA_256"
FORMAT = "habeas.erasure-certificate.v1"


def canonical(payload: dict[str, Any]) -> str:
    """The one text form of a payload that is signed and verified."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def payload_for(request: dict[str, Any], *, verified_at: str, verification: dict[str, int]) -> dict[str, Any]:
    """The certificate's content: request, subject id, and per store the strategy, count and time."""
    stores = []
    for name, state in sorted((request.get("stores") or {}).items()):
        if state.get("status") == "not_applicable":
            continue
        stores.append(
            {
                "store": name,
                "strategy": state.get("strategy"),
                "count": int(state.get("count", 0)),
                "done_at": state.get("done_at"),
                "remaining_after_verification": verification.get(name),
            }
        )
    return {
        "format": FORMAT,
        "request_id": request["request_id"],
        "subject_id": request["subject_id"],
        "type": request["type"],
        "regulation": request["regulation"],
        "requested_at": request["created_at"],
        "verified_at": verified_at,
        "stores": stores,
    }


def sign(payload: dict[str, Any]) -> dict[str, Any]:
    """Sign a payload with the certificate key; the certificate as stored with the request."""
    key_arn = get_settings().require("certificate_key_arn")
    text = canonical(payload)
    signed = aws.client("kms").sign(
        KeyId=key_arn, Message=text.encode("utf-8"), MessageType="RAW", SigningAlgorithm=ALGORITHM
    )
    return {
        "payload": text,
        "signature": base64.b64encode(signed["Signature"]).decode("ascii"),
        "key_id": signed.get("KeyId") or key_arn,
        "signing_algorithm": ALGORITHM,
    }


def public_key_pem(key_id: str) -> str:
    """The PEM public key of the certificate key (KMS ``GetPublicKey``)."""
    der = aws.client("kms").get_public_key(KeyId=key_id)["PublicKey"]
    key = serialization.load_der_public_key(der)
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def verify(payload: str, signature_b64: str, public_key: str | bytes) -> bool:
    """True if ``signature_b64`` is a valid ECDSA P-256 / SHA-256 signature of ``payload`` (offline)."""
    pem = public_key.encode() if isinstance(public_key, str) else public_key
    key = serialization.load_pem_public_key(pem) if pem.startswith(b"-----") else serialization.load_der_public_key(pem)
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return False
    try:
        key.verify(base64.b64decode(signature_b64), payload.encode("utf-8"), ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True
