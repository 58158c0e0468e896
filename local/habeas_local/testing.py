"""Helpers for tests: the embedded AWS or the whole runtime, built from a template.

``tests/conftest.py`` wires them into fixtures, e.g.::

    @pytest.fixture(scope="session")
    def embedded_aws():
        with embedded_aws_from_template(ROOT / "template.yaml") as aws_env:
            os.environ["AWS_ENDPOINT_URL"] = aws_env.moto_url
            yield aws_env

Note: moto keeps its state in process-wide backends. Two embedded AWSs in one process share it, so
give each its own ``stack_name``; and ``moto.mock_aws`` resets every backend when it starts and
stops, which empties an embedded AWS living in the same process.
"""

from __future__ import annotations

import contextlib
import functools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from habeas_local.aws import EmbeddedAws
from habeas_local.runtime import LocalRuntime
from habeas_local.template import load_yaml

# What makes a table answer the same queries as the template's: keys, billing and indexes.
TABLE_SHAPE = ("AttributeDefinitions", "KeySchema", "BillingMode", "GlobalSecondaryIndexes")


@functools.cache
def _resources(template_path: Path) -> dict:
    return load_yaml(template_path)["Resources"]


def create_table_like(dynamodb: Any, logical_id: str, name: str, template_path: str | Path) -> str:
    """Create table ``name`` shaped as the template's ``logical_id`` (keys, billing, indexes); its name."""
    properties = _resources(Path(template_path).resolve())[logical_id]["Properties"]
    dynamodb.create_table(TableName=name, **{k: properties[k] for k in TABLE_SHAPE if k in properties})
    return name


@contextlib.contextmanager
def embedded_aws_from_template(
    template_path: str | Path, *, params: dict[str, str] | None = None, stack_name: str = "habeas"
) -> Iterator[EmbeddedAws]:
    """moto's server in-process with the template's resources; stopped on exit."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with EmbeddedAws(template_path, params=params, stack_name=stack_name) as aws_env:
        yield aws_env


@contextlib.contextmanager
def runtime_from_template(
    template_path: str | Path,
    *,
    params: dict[str, str] | None = None,
    stack_name: str | None = None,
    event_sources: bool = True,
    ttl_reap_seconds: float = 0.5,
) -> Iterator[LocalRuntime]:
    """The whole local runtime on a free port (a unique stack name unless given); stopped on exit."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    runtime = LocalRuntime(
        template_path,
        port=0,
        params=params,
        stack_name=stack_name or f"t{uuid.uuid4().hex[:8]}",
        event_sources=event_sources,
        ttl_reap_seconds=ttl_reap_seconds,
    )
    with runtime:
        yield runtime
