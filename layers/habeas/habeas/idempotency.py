"""``Idempotency-Key`` support for endpoints that create something, on Powertools' idempotency utility.

A repeat with the same key and body returns the first answer and creates nothing new; the same key
with another body is refused. Keys are scoped (e.g. per subject) so one caller's key never returns
another caller's answer.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from habeas import aws
from habeas.config import get_settings
from habeas.errors import BadRequest

_KEY = re.compile(r"^[A-Za-z0-9._:~-]{8,128}$")
_config = IdempotencyConfig(
    event_key_jmespath="key",
    payload_validation_jmespath="payload",
    expires_after_seconds=24 * 3600,
    raise_on_no_idempotency_key=True,
)


def register_lambda_context(context: Any) -> None:
    """Let the utility see the remaining time of this invocation (call from the handler)."""
    _config.register_lambda_context(context)


@functools.cache
def _persistence() -> DynamoDBPersistenceLayer:
    return DynamoDBPersistenceLayer(
        table_name=get_settings().require("idempotency_table"), boto3_client=aws.client("dynamodb")
    )


@functools.cache
def _wrapped(operation: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    def run(command: dict[str, Any]) -> dict[str, Any]:
        return operation(command["payload"])

    run.__qualname__ = f"{operation.__module__}.{operation.__qualname__}"  # part of the stored key
    return idempotent_function(data_keyword_argument="command", persistence_store=_persistence(), config=_config)(run)


def once(
    operation: Callable[[dict[str, Any]], dict[str, Any]], payload: dict[str, Any], *, key: str | None, scope: str
) -> dict[str, Any]:
    """Run ``operation(payload)``; with a key, at most once per ``(scope, key)`` and body."""
    if key is None:
        return operation(payload)
    if not _KEY.match(key):
        raise BadRequest("Idempotency-Key must be 8-128 characters of letters, digits and ._:~-")
    return _wrapped(operation)(command={"key": f"{scope}:{key}", "payload": payload})
