"""Fixtures of the channel tests: per-test resources on the session's embedded AWS for the two channel functions,
shaped by template.yaml's own properties, a captured Graph API, and signed webhook events.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from cfnlint.decode import decode_str

from habeas import aws, config, purposes
from habeas.channels import apps as channel_apps
from habeas.channels import keywords, webhook, worker
from habeas.channels.signature import sign
from tests.conftest import http_event, import_handler
from tests.integration.channels.helpers import APP_SECRET, VERIFY_TOKEN

ROOT = Path(__file__).resolve().parents[3]
TABLES = {
    "SubjectsTable": "SUBJECTS_TABLE",
    "IdentifiersTable": "IDENTIFIERS_TABLE",
    "ConsentsTable": "CONSENTS_TABLE",
    "AuditTable": "AUDIT_TABLE",
    "ConversationsTable": "CONVERSATIONS_TABLE",
    "KeyringTable": "KEYRING_TABLE",
    "RequestsTable": "REQUESTS_TABLE",  # rights confirmed in a chat file data-subject requests
}


def _template() -> dict[str, Any]:
    template, errors = decode_str((ROOT / "template.yaml").read_text())
    assert not errors, errors
    return template["Resources"]


def _create_table(client: Any, properties: dict[str, Any], name: str) -> None:
    wanted = ("AttributeDefinitions", "KeySchema", "BillingMode", "GlobalSecondaryIndexes")
    client.create_table(TableName=name, **{k: properties[k] for k in wanted if k in properties})
    ttl = properties.get("TimeToLiveSpecification")
    if ttl:
        client.update_time_to_live(TableName=name, TimeToLiveSpecification=dict(ttl))


@dataclass
class GraphCapture:
    """What the Graph API send endpoint received (path and JSON body of each call)."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    fail: bool = False

    def texts(self) -> list[str]:
        return [c["body"].get("text", {}).get("body") or c["body"].get("message", {}).get("text") for c in self.calls]


@pytest.fixture
def graph() -> Iterator[GraphCapture]:
    capture = GraphCapture()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if capture.fail:
                self.send_response(500)
                self.end_headers()
                return
            capture.calls.append({"path": self.path, "body": body})
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"messages": [{"id": "wamid.out"}]}')

        def log_message(self, *_args: Any) -> None:
            return

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    capture.url = f"http://127.0.0.1:{server.server_port}/v21.0"  # type: ignore[attr-defined]
    yield capture
    server.shutdown()


def reset_caches() -> None:
    config.get_settings.cache_clear()
    aws.reset()
    purposes.catalogue.cache_clear()
    keywords.keywords.cache_clear()
    webhook.webhook_service.cache_clear()
    worker.channel_worker.cache_clear()
    channel_apps.channels_app.cache_clear()
    parameters.clear_caches()
    try:
        from habeas.keys.keyring import default_keyring

        default_keyring.cache_clear()
    except ImportError:
        pass


@dataclass
class ChannelAws:
    """The moto resources and the environment the channel functions get from the template."""

    env: dict[str, str]
    queue_url: str
    dlq_url: str
    graph: GraphCapture

    def table(self, logical_id: str) -> Any:
        return boto3.resource("dynamodb").Table(self.env[TABLES[logical_id]])

    def queued(self) -> list[dict[str, Any]]:
        """Drain the inbound queue: the bodies of every message waiting there."""
        sqs = boto3.client("sqs")
        found: list[dict[str, Any]] = []
        while True:
            page = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0)
            messages = page.get("Messages", [])
            if not messages:
                return found
            for message in messages:
                found.append({"body": message["Body"], "messageId": message["MessageId"]})
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def channel_aws(monkeypatch, graph, embedded_aws) -> Iterator[ChannelAws]:
    # Resources of this test's own, on the session's embedded AWS (``mock_aws()`` would reset the
    # in-process moto that the other integration tests share).
    resources = _template()
    deployment = f"habeas-{uuid.uuid4().hex[:6]}"
    env = {"HABEAS_DEPLOYMENT": deployment, "GRAPH_API_BASE_URL": graph.url}  # type: ignore[attr-defined]
    dynamodb = boto3.client("dynamodb")
    for logical_id, variable in TABLES.items():
        name = f"{deployment}-{logical_id}"
        _create_table(dynamodb, resources[logical_id]["Properties"], name)
        env[variable] = name
    sqs = boto3.client("sqs")
    dlq_props = resources["InboundMessagesDLQ"]["Properties"]
    dlq_url = sqs.create_queue(
        QueueName=f"{deployment}-dlq",
        Attributes={"MessageRetentionPeriod": str(dlq_props["MessageRetentionPeriod"])},
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    props = resources["InboundMessagesQueue"]["Properties"]
    queue_url = sqs.create_queue(
        QueueName=f"{deployment}-inbound",
        Attributes={
            "VisibilityTimeout": str(props["VisibilityTimeout"]),
            "MessageRetentionPeriod": str(props["MessageRetentionPeriod"]),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": props["RedrivePolicy"]["maxReceiveCount"]}
            ),
        },
    )["QueueUrl"]
    env["INBOUND_QUEUE_URL"] = queue_url
    env["REQUESTS_QUEUE_URL"] = sqs.create_queue(QueueName=f"{deployment}-requests")["QueueUrl"]
    secrets = boto3.client("secretsmanager")
    # What an operator puts into ChannelSecret (its template keys), with per-test values.
    channel_secret = {
        "verify_token": VERIFY_TOKEN,
        "app_secret": APP_SECRET,
        "access_token": "test-access-token",
        "whatsapp_phone_number_id": "106540352242922",
    }
    env["CHANNEL_SECRET_ARN"] = secrets.create_secret(
        Name=f"{deployment}-channel", SecretString=json.dumps(channel_secret)
    )["ARN"]
    env["BLIND_INDEX_SECRET_ARN"] = secrets.create_secret(
        Name=f"{deployment}-blind-index", SecretString=uuid.uuid4().hex * 2
    )["ARN"]
    env["KMS_KEY_ARN"] = boto3.client("kms").create_key(Description="test data key")["KeyMetadata"]["Arn"]
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_caches()
    yield ChannelAws(env=env, queue_url=queue_url, dlq_url=dlq_url, graph=graph)
    reset_caches()


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]


@pytest.fixture
def post_webhook(channel_aws, lambda_context) -> Callable[..., Answer]:
    """POST a payload to a channel webhook through the ChannelsFunction handler, signed unless told otherwise."""
    handler = import_handler("channels").handler

    def post(platform: str, payload: Any, *, signature: str | None = "sign", raw: bytes | None = None) -> Answer:
        body = raw if raw is not None else json.dumps(payload, ensure_ascii=False).encode()
        headers = {}
        if signature == "sign":
            headers["x-hub-signature-256"] = sign(body, APP_SECRET)
        elif signature is not None:
            headers["x-hub-signature-256"] = signature
        event = http_event(
            "POST",
            f"/v1/channels/{platform}/webhook",
            route="/v1/channels/{platform}/webhook",
            raw_body=body.decode(),
            headers=headers,
        )
        return _answer(handler(event, lambda_context))

    return post


@pytest.fixture
def get_webhook(channel_aws, lambda_context) -> Callable[..., Answer]:
    handler = import_handler("channels").handler

    def get(platform: str, query: dict[str, str]) -> Answer:
        event = http_event(
            "GET", f"/v1/channels/{platform}/webhook", route="/v1/channels/{platform}/webhook", query=query
        )
        return _answer(handler(event, lambda_context))

    return get


def _answer(result: dict[str, Any]) -> Answer:
    headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
    text = result.get("body") or ""
    is_json = "json" in headers.get("content-type", "")
    return Answer(result["statusCode"], json.loads(text) if is_json and text else text, headers)


@pytest.fixture
def run_worker(channel_aws, lambda_context) -> Callable[..., dict[str, Any]]:
    """Drain the inbound queue into the ChannelWorkerFunction handler as one SQS batch."""
    handler = import_handler("channel_worker").handler

    def run(extra_bodies: list[str] | None = None) -> dict[str, Any]:
        messages = channel_aws.queued() + [{"body": b, "messageId": str(uuid.uuid4())} for b in extra_bodies or []]
        return handler(sqs_event(messages), lambda_context)

    return run


def sqs_event(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """An SQS event as Lambda's event source mapping delivers it."""
    return {
        "Records": [
            {
                "messageId": m["messageId"],
                "receiptHandle": f"handle-{m['messageId']}",
                "body": m["body"],
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1795388401000",
                    "SenderId": "AROAEXAMPLE:habeas-channels",
                    "ApproximateFirstReceiveTimestamp": "1795388401100",
                },
                "messageAttributes": {},
                "md5OfBody": "0" * 32,
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:inbound",
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


@pytest.fixture(autouse=True)
def pii_engine(monkeypatch) -> None:
    """habeas.pii when it is installed; until then a stand-in that redacts e-mail addresses only."""
    try:
        import habeas.pii  # noqa: F401
    except ImportError:
        import re
        import sys
        from types import ModuleType, SimpleNamespace

        stand_in = ModuleType("habeas.pii")

        def redact(text: str, **_: Any) -> Any:
            spans = [{"start": m.start(), "end": m.end(), "type": "email"} for m in re.finditer(r"\S+@\S+", text)]
            return SimpleNamespace(text=re.sub(r"\S+@\S+", "[EMAIL]", text), spans=spans)

        stand_in.redact = redact  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "habeas.pii", stand_in)


@pytest.fixture
def say(post_webhook, run_worker) -> Callable[..., dict[str, Any]]:
    """A subject writes: the webhook accepts the delivery and the worker processes the queue."""

    def send(platform: str, payload: dict[str, Any]) -> dict[str, Any]:
        answer = post_webhook(platform, payload)
        assert answer.status == 200, answer.body
        return run_worker()

    return send
