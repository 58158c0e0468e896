"""boto3 clients, created once per container on first use (never at import time).

Every client honours ``AWS_ENDPOINT_URL`` through botocore itself, which is how the local runtime
points functions at its embedded AWS.
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config

_RETRIES = Config(retries={"max_attempts": 5, "mode": "adaptive"}, connect_timeout=3, read_timeout=10)


@functools.cache
def client(service: str) -> Any:
    """A cached low-level client for ``service`` with adaptive retries."""
    return boto3.session.Session().client(service, config=_RETRIES)


@functools.cache
def table(name: str) -> Any:
    """A cached DynamoDB Table resource."""
    return boto3.session.Session().resource("dynamodb", config=_RETRIES).Table(name)


def reset() -> None:
    """Forget cached clients (tests that move the endpoint call this)."""
    client.cache_clear()
    table.cache_clear()
