"""boto3 clients, created once per container on first use (never at import time).

Every client honours ``AWS_ENDPOINT_URL`` through botocore itself, which is how the local runtime
points functions at its embedded AWS.
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config

_RETRIES = Config(retries={"max_attempts": 5, "mode": "adaptive"}, connect_timeout=3, read_timeout=10)


@functools.cache
def _data_loader() -> botocore.loaders.Loader:
    """One botocore data loader per process: service models are parsed once, not once per session."""
    return botocore.loaders.create_loader()


def _session() -> boto3.session.Session:
    core = botocore.session.Session()
    core.register_component("data_loader", _data_loader())
    session = boto3.session.Session(botocore_session=core)
    paths = _data_loader().search_paths
    paths[:] = list(dict.fromkeys(paths))  # boto3 appends its data path to the loader on every session
    return session


@functools.cache
def client(service: str) -> Any:
    """A cached low-level client for ``service`` with adaptive retries."""
    return _session().client(service, config=_RETRIES)


@functools.cache
def table(name: str) -> Any:
    """A cached DynamoDB Table resource."""
    return _session().resource("dynamodb", config=_RETRIES).Table(name)


def reset() -> None:
    """Forget cached clients (tests that move the endpoint call this)."""
    client.cache_clear()
    table.cache_clear()
