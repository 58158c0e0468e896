"""Identity verification by one-time code: the only way a subject gets an access token.

Codes are 6 digits, stored only as a keyed hash bound to their verification id, valid for 10 minutes
and for at most 5 tries. Starting a verification answers the same whether or not a subject exists
(no account enumeration); confirming an identifier that no subject has yet creates the subject.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from habeas import audit, aws, clock, retention, subjects
from habeas.config import ConfigurationError, get_settings
from habeas.delivery import send_code
from habeas.dynamo import cancelled_by_condition, from_item, to_item
from habeas.errors import NotFound, TooManyAttempts, Unauthorized, Unprocessable
from habeas.identifiers import Identifier, blind_index, normalise
from habeas.secrets import secret_bytes
from habeas.tokens import issue_subject_token

_DEFAULT_CHANNEL = {"email": "email", "phone": "sms"}
_CHANNELS_FOR = {"email": {"email"}, "phone": {"sms", "whatsapp"}}


def _code_hash(verification_id: str, code: str) -> str:
    # Keyed and bound to the verification: a leaked table cannot be brute-forced offline.
    key = secret_bytes("blind_index_secret_arn")
    return hmac.new(key, f"otp:{verification_id}:{code}".encode(), hashlib.sha256).hexdigest()


def _rate_limit(index: str) -> None:
    """At most N verifications per identifier per hour, known or unknown alike (stops SMS pumping)."""
    settings = get_settings()
    hour = int(clock.now().timestamp()) // 3600
    try:
        aws.client("dynamodb").update_item(
            TableName=settings.require("verifications_table"),
            Key=to_item({"verification_id": f"rate#{index}#{hour}"}),
            UpdateExpression="ADD attempts :one SET expires_at = :expires",
            ConditionExpression="attribute_not_exists(attempts) OR attempts < :max",
            ExpressionAttributeValues=to_item(
                {":one": 1, ":max": settings.verifications_per_identifier_per_hour, ":expires": (hour + 2) * 3600}
            ),
        )
    except ClientError as error:
        if cancelled_by_condition(error):
            raise TooManyAttempts("too many verification requests for this identifier; try again later") from error
        raise


@dataclass(frozen=True)
class StartVerification:
    """A request to verify an identifier."""

    identifier: str
    channel: str | None = None
    locale: str = "en"


def start(command: StartVerification) -> dict[str, Any]:
    """Create a verification and deliver its code. Returns ``{"verification_id"}``."""
    identifier = normalise(command.identifier)
    channel = command.channel or _DEFAULT_CHANNEL[identifier.kind]
    if channel not in _CHANNELS_FOR[identifier.kind]:
        raise Unprocessable(f"channel {channel} cannot deliver to this kind of identifier")
    settings = get_settings()
    index = blind_index(identifier)
    _rate_limit(index)
    verification_id = f"ver_{uuid.uuid4().hex}"
    code = f"{secrets.randbelow(1_000_000):06d}"
    now = int(clock.now().timestamp())
    aws.client("dynamodb").put_item(
        TableName=settings.require("verifications_table"),
        Item=to_item(
            {
                "verification_id": verification_id,
                "blind_index": index,
                "kind": identifier.kind,
                "channel": channel,
                "code_hash": _code_hash(verification_id, code),
                "attempts": 0,
                "created_at": now,
                "expires_at": _expires_at(now),
            }
        ),
        ConditionExpression="attribute_not_exists(verification_id)",
    )
    send_code(identifier, channel, code, command.locale)
    return {"verification_id": verification_id}


def _expires_at(now: int) -> int:
    """When a code sent at ``now`` stops working: the data map's verification policy (10 minutes)."""
    expires_at = retention.expires_at_for("verification", now)
    if expires_at is None:
        raise ConfigurationError("the data map's verification category needs a retention policy")
    return expires_at


def confirm(verification_id: str, code: str, *, source_ip: str | None, request_id: str | None) -> dict[str, Any]:
    """Check a code; on success return a subject access token (creating the subject if new)."""
    settings = get_settings()
    if not verification_id.startswith("ver_"):
        raise NotFound("unknown verification")
    now = int(clock.now().timestamp())
    try:
        # Count the try before checking the code, atomically, so parallel guesses cannot exceed the limit.
        response = aws.client("dynamodb").update_item(
            TableName=settings.require("verifications_table"),
            Key=to_item({"verification_id": verification_id}),
            UpdateExpression="ADD attempts :one",
            ConditionExpression=(
                "attribute_exists(code_hash) AND attempts < :max AND attribute_not_exists(confirmed_at)"
            ),
            ExpressionAttributeValues=to_item({":one": 1, ":max": settings.verification_max_attempts}),
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as error:
        if not cancelled_by_condition(error):
            raise
        old = from_item(error.response.get("Item", {}))
        if not old.get("code_hash"):
            raise NotFound("unknown verification") from error
        if old.get("confirmed_at"):
            raise Unauthorized("verification already used") from error
        raise TooManyAttempts("too many wrong codes; start a new verification") from error
    item = from_item(response["Attributes"])
    if int(item["expires_at"]) <= now:
        raise Unauthorized("verification expired; start a new one")
    if not hmac.compare_digest(_code_hash(verification_id, code), str(item["code_hash"])):
        if int(item["attempts"]) >= settings.verification_max_attempts:
            raise TooManyAttempts("too many wrong codes; start a new verification")
        raise Unauthorized("wrong code")
    try:
        aws.client("dynamodb").update_item(
            TableName=settings.require("verifications_table"),
            Key=to_item({"verification_id": verification_id}),
            UpdateExpression="SET confirmed_at = :now",
            ConditionExpression="attribute_not_exists(confirmed_at)",
            ExpressionAttributeValues=to_item({":now": now}),
        )
    except ClientError as error:
        if cancelled_by_condition(error):
            raise Unauthorized("verification already used") from error
        raise
    subject_id, created = subjects.find_or_create(str(item["blind_index"]), str(item["kind"]))
    token = issue_subject_token(subject_id)
    actor = audit.Actor(id=subject_id, role="subject", source_ip=source_ip, request_id=request_id)
    audit.record(
        actor,
        audit.AuditEvent(
            action="subject.created" if created else "subject.verified",
            subject_id=subject_id,
            fields=[str(item["kind"])],
            detail={"verification_id": verification_id, "channel": str(item["channel"])},
        ),
    )
    return {
        "access_token": token.access_token,
        "token_type": "Bearer",
        "expires_in": token.expires_in,
        "subject_id": subject_id,
    }


def identifier_subject(identifier: Identifier) -> str | None:
    """The subject id behind an identifier, if one exists (staff lookup)."""
    return subjects.find(blind_index(identifier))
