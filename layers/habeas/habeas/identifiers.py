"""Normalised subject identifiers and their keyed blind index.

A subject is found by ``HMAC-SHA256(blind-index key, kind:normalised)``, never by a plaintext
identifier used as a key, so a copy of the identifiers table reveals no email or phone number.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Literal

import phonenumbers

from habeas.errors import Unprocessable
from habeas.secrets import secret_bytes

# instagram: a platform-scoped user id; whatsapp: a WhatsApp user id that is not a valid phone number.
IdentifierKind = Literal["email", "phone", "instagram", "whatsapp"]

# Deliberately permissive on the local part (RFC 5322 allows much); strict on shape and length.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"^[^@\s<>()\[\],;:\"]{{1,64}}@{_LABEL}(?:\.{_LABEL})+$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


@dataclass(frozen=True)
class Identifier:
    """An identifier in canonical form: lower-cased email or E.164 phone."""

    kind: IdentifierKind
    value: str

    def __repr__(self) -> str:  # never print the identifier itself
        return f"Identifier(kind={self.kind!r})"


def normalise(raw: str) -> Identifier:
    """Parse an email or an E.164 phone number; Unprocessable if it is neither."""
    candidate = raw.strip()
    if "@" in candidate:
        email = candidate.lower()
        if len(email) > 254 or not _EMAIL.match(email):
            raise Unprocessable("identifier is not a valid email address")
        return Identifier("email", email)
    compact = re.sub(r"[\s().-]", "", candidate)
    if not _E164.match(compact):
        raise Unprocessable("identifier must be an email address or an E.164 phone number (+countrycode...)")
    return Identifier("phone", _valid_e164(compact))


def normalise_phone(raw_digits: str, default_region: str | None = None) -> Identifier:
    """A phone as messaging platforms send it (``5511987654321``, no plus) in E.164 form."""
    digits = re.sub(r"\D", "", raw_digits)
    number = f"+{digits}" if default_region is None else raw_digits
    return Identifier("phone", _valid_e164(number, default_region))


def _valid_e164(number: str, region: str | None = None) -> str:
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException as exc:
        raise Unprocessable("identifier is not a valid phone number") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise Unprocessable("identifier is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def blind_index(identifier: Identifier, key: bytes | None = None) -> str:
    """Keyed, deterministic index of a normalised identifier (hex HMAC-SHA256)."""
    key = key if key is not None else secret_bytes("blind_index_secret_arn")
    message = f"{identifier.kind}:{identifier.value}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()
