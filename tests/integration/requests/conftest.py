"""Fixtures of the request lifecycle tests: verified subjects, seeded stores, and an SQS "Lambda poller"
that hands the RequestsQueue's messages to the worker handler in-process (redelivering failures at once)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import import_handler
from tests.integration.helpers import bearer, verify

REQUEST_ROUTE = "/v1/requests/{request_id}"


@dataclass
class Delivery:
    """What one worker invocation received and which records it reported as failed."""

    message_ids: list[str]
    failed: set[str] = field(default_factory=set)


class Worker:
    """Lambda's SQS event source for RequestsWorkerFunction, stepped by the test."""

    def __init__(self, embedded_aws: Any, use_function: Callable[[str], None], lambda_context: Any) -> None:
        self.env = embedded_aws.function_env("RequestsWorkerFunction")
        self.sqs = embedded_aws.client("sqs")
        self.queue_url = self.env["REQUESTS_QUEUE_URL"]
        self.dlq_url = embedded_aws.function_env("AdminFunction")["REQUESTS_DLQ_URL"]
        self.use_function = use_function
        self.context = lambda_context
        self.deliveries: list[Delivery] = []

    def receive(self, max_messages: int = 10) -> list[dict[str, Any]]:
        return self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=max_messages,
            AttributeNames=["All"],
            VisibilityTimeout=60,
        ).get("Messages", [])

    def deliver(self, messages: list[dict[str, Any]]) -> set[str]:
        """Invoke the worker with these messages; delete what succeeded, make failures visible again."""
        self.use_function("RequestsWorkerFunction")
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        records = [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {
                    "ApproximateReceiveCount": m["Attributes"].get("ApproximateReceiveCount", "1"),
                    "SentTimestamp": m["Attributes"].get("SentTimestamp", "0"),
                    "SenderId": "AIDA",
                    "ApproximateFirstReceiveTimestamp": m["Attributes"].get("ApproximateFirstReceiveTimestamp", "0"),
                },
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
        result = import_handler("requests_worker").handler({"Records": records}, self.context)
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        self.deliveries.append(Delivery([m["MessageId"] for m in messages], failed))
        for message in messages:
            if message["MessageId"] in failed:
                # Time passes: the backoff the worker asked for is over.
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return failed

    def drain(self, max_rounds: int = 40) -> int:
        """Deliver until the queue is empty; returns how many batches were delivered."""
        for rounds in range(max_rounds):
            messages = self.receive()
            if not messages:
                return rounds
            self.deliver(messages)
        raise AssertionError("the requests queue did not drain")

    def send(self, body: Any) -> None:
        """Put a message on the queue as the API would (or a poison one)."""
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body if isinstance(body, str) else json.dumps(body))


@pytest.fixture
def worker(embedded_aws, use_function, lambda_context) -> Worker:
    queue = Worker(embedded_aws, use_function, lambda_context)
    queue.drain()  # whatever an earlier failed test left behind
    yield queue
    queue.drain()


@pytest.fixture
def subject(call, outbox) -> dict[str, Any]:
    email = f"dsr-{uuid.uuid4().hex[:12]}@example.com"
    verified = verify(call, outbox, email)
    return {**verified, "email": email, "auth": bearer(verified["access_token"])}


def file_request(call, subject, body, *, key: str | None = None):
    headers = dict(subject["auth"])
    if key:
        headers["idempotency-key"] = key
    return call("ApiFunction", "POST", "/v1/requests", body=body, headers=headers)


def read_request(call, subject, request_id):
    return call("ApiFunction", "GET", f"/v1/requests/{request_id}", route=REQUEST_ROUTE, headers=subject["auth"])


def worker_env(embedded_aws, use_function) -> None:
    """Give the test process the worker's environment (to call connectors and the library directly)."""
    use_function("RequestsWorkerFunction")


def seed_profile(subject_id: str, **fields: str) -> None:
    """Write profile fields as the staff console does: each FieldCipher-encrypted, bound to its place."""
    from habeas import aws
    from habeas.config import get_settings
    from habeas.dynamo import to_item
    from habeas.keys import FieldCipher, default_keyring

    table = get_settings().require("subjects_table")
    cipher = FieldCipher(default_keyring())
    sealed = {
        name: cipher.encrypt(subject_id, value, table=table, item_key={"subject_id": subject_id}, attribute=name)
        for name, value in fields.items()
    }
    names = {f"#f{i}": name for i, name in enumerate(sealed)}
    values = {f":v{i}": value for i, value in enumerate(sealed.values())}
    aws.client("dynamodb").update_item(
        TableName=table,
        Key=to_item({"subject_id": subject_id}),
        UpdateExpression="SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(sealed))),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=to_item(values),
    )


def seed_conversation(subject_id: str, text: str) -> None:
    """A stored (already redacted) chat message of the subject."""
    from habeas import aws, clock
    from habeas.config import get_settings
    from habeas.dynamo import to_item

    now = clock.rfc3339(clock.now())
    aws.client("dynamodb").put_item(
        TableName=get_settings().require("conversations_table"),
        Item=to_item(
            {
                "subject_id": subject_id,
                "sk": f"MSG#{now}#{uuid.uuid4().hex[:8]}",
                "platform": "whatsapp",
                "direction": "inbound",
                "text": text,
                "created_at": now,
            }
        ),
    )
