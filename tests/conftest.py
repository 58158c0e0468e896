"""Shared fixtures: a Lambda context, the embedded AWS built from template.yaml, and handler callers."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"

# Never let a test reach real AWS, whatever the developer's shell holds.
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",  # noqa: S105
    AWS_SESSION_TOKEN="testing",  # noqa: S105
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
    POWERTOOLS_TRACE_DISABLED="true",
    POWERTOOLS_METRICS_NAMESPACE="Habeas",
    POWERTOOLS_SERVICE_NAME="habeas",
    POWERTOOLS_DEV="false",
)
os.environ.pop("AWS_PROFILE", None)


@dataclass
class FakeLambdaContext:
    function_name: str = "habeas-test"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:habeas-test"
    memory_limit_in_mb: int = 512
    aws_request_id: str = "req-test"
    log_group_name: str = "/aws/lambda/habeas-test"
    log_stream_name: str = "test"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext(aws_request_id=str(uuid.uuid4()))


def load_event(name: str) -> dict[str, Any]:
    """A sample event from events/."""
    return json.loads((EVENTS / name).read_text())


def _reset_library_caches() -> None:
    """Forget every per-container cache, as a cold start would (settings, clients, secrets, keys)."""
    from aws_lambda_powertools.utilities import parameters

    from habeas import apps, aws, config, datamap, purposes, tokens
    from habeas.channels import apps as channel_apps
    from habeas.channels import keywords, webhook, worker
    from habeas.keys.keyring import default_keyring
    from habeas.keys.settings import get_key_settings

    config.get_settings.cache_clear()
    aws.reset()
    purposes.catalogue.cache_clear()
    datamap.data_map.cache_clear()
    tokens._jwks_client.cache_clear()
    parameters.clear_caches()
    keywords.keywords.cache_clear()
    webhook.webhook_service.cache_clear()
    worker.channel_worker.cache_clear()
    channel_apps.channels_app.cache_clear()
    apps.api_app.cache_clear()
    apps.admin_app.cache_clear()
    default_keyring.cache_clear()
    get_key_settings.cache_clear()
    from habeas import alerts  # staff console (issue 7): the suspicious-access rules

    alerts.rules.cache_clear()


def import_handler(function_dir: str) -> ModuleType:
    """Import functions/<dir>/app.py under a unique module name (every function's module is `app`)."""
    name = f"habeas_fn_{function_dir}"
    if name in sys.modules:
        return sys.modules[name]
    path = ROOT / "functions" / function_dir / "app.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def embedded_aws() -> Iterator[Any]:
    """moto's server in-process with the resources of template.yaml (one per test worker)."""
    from habeas_local.testing import embedded_aws_from_template

    with embedded_aws_from_template(ROOT / "template.yaml") as aws_env:
        os.environ["AWS_ENDPOINT_URL"] = aws_env.moto_url
        yield aws_env


@pytest.fixture
def use_function(embedded_aws, monkeypatch) -> Callable[[str], None]:
    """Give the process exactly the environment the template gives one function."""

    def use(logical_id: str) -> None:
        for key, value in embedded_aws.function_env(logical_id).items():
            monkeypatch.setenv(key, value)
        _reset_library_caches()

    yield use
    _reset_library_caches()


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]


def http_event(
    method: str,
    path: str,
    *,
    route: str | None = None,
    body: Any = None,
    raw_body: str | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    source_ip: str = "198.51.100.7",
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event."""
    all_headers = {"content-type": "application/json", **{k.lower(): v for k, v in (headers or {}).items()}}
    event = {
        "version": "2.0",
        "routeKey": f"{method} {route or path}",
        "rawPath": path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
        "headers": all_headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": "pytest",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": f"{method} {route or path}",
            "stage": "$default",
            "time": "23/Nov/2026:00:00:00 +0000",
            "timeEpoch": 1795392000000,
        },
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = query
    if raw_body is not None:
        event["body"] = raw_body
    elif body is not None:
        event["body"] = json.dumps(body)
    return event


@pytest.fixture
def call(use_function, lambda_context) -> Callable[..., Answer]:
    """Invoke a function's handler in-process with an HTTP API event; returns status and parsed body."""

    def invoke(logical_id: str, method: str, path: str, **kwargs: Any) -> Answer:
        use_function(logical_id)
        handler = import_handler({"ApiFunction": "api", "AdminFunction": "admin"}.get(logical_id, logical_id)).handler
        result = handler(http_event(method, path, **kwargs), lambda_context)
        headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
        text = result.get("body") or ""
        is_json = "json" in headers.get("content-type", "")
        return Answer(result["statusCode"], json.loads(text) if is_json and text else text, headers)

    return invoke


@pytest.fixture
def outbox(embedded_aws) -> Callable[[], list[dict[str, Any]]]:
    """What SES and SNS delivered, from moto's own records."""

    def read() -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{embedded_aws.moto_url}/moto-api/data.json") as response:  # noqa: S310
            data = json.loads(response.read())
        emails = [
            {"to": m["destinations"]["ToAddresses"][0], "body": m["body"], "channel": "email"}
            for m in (data.get("ses") or {}).get("Message", [])
        ]
        texts = [
            {"to": m["phone_number"], "body": m["message"], "channel": "sms"}
            for m in (data.get("sns") or {}).get("SMS", [])
        ]
        return emails + texts

    return read
