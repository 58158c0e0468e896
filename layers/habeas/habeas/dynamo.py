"""Small helpers over the low-level DynamoDB client (typed attribute values, transactions)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    """Plain dict -> DynamoDB attribute values (None values are left out)."""
    return {key: _serializer.serialize(value) for key, value in values.items() if value is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB attribute values -> plain dict, whole numbers as int."""
    return {key: _plain(_deserializer.deserialize(value)) for key, value in item.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return sorted(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def cancelled_by_condition(error: Exception) -> bool:
    """True if a TransactWriteItems/PutItem failed only because a condition did not hold."""
    response = getattr(error, "response", {}) or {}
    code = response.get("Error", {}).get("Code", "")
    if code == "ConditionalCheckFailedException":
        return True
    if code != "TransactionCanceledException":
        return False
    reasons = response.get("CancellationReasons") or []
    codes = {reason.get("Code") for reason in reasons}
    return bool(codes) and codes <= {"ConditionalCheckFailed", "None", None}


def lost_a_race(error: Exception) -> bool:
    """True if a TransactWriteItems lost to a concurrent writer: a condition failed, or DynamoDB cancelled
    it for a conflicting transaction on the same item (``TransactionConflict``), which is worth a retry."""
    if cancelled_by_condition(error):
        return True
    response = getattr(error, "response", {}) or {}
    if response.get("Error", {}).get("Code", "") != "TransactionCanceledException":
        return False
    codes = {reason.get("Code") for reason in response.get("CancellationReasons") or []}
    return bool(codes) and codes <= {"ConditionalCheckFailed", "TransactionConflict", "None", None}
