"""Event sources: what Lambda's pollers and EventBridge do for the template's functions.

One thread per source: an SQS poller, a DynamoDB stream reader per shard set, a scheduler per
schedule, and the TTL reaper that stands in for DynamoDB's own expiry process.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from habeas_local import schedules
from habeas_local.functions import Invocation

if TYPE_CHECKING:
    from habeas_local.aws import EmbeddedAws

log = logging.getLogger("habeas_local")

Invoker = Callable[[str, Any], Invocation]
# DynamoDB's marker on stream records of items that TTL deleted.
TTL_USER_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


class Source(threading.Thread):
    """A polling thread that stops when asked."""

    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.stopping = threading.Event()

    def stop(self) -> None:
        """Ask the thread to finish its current step and exit."""
        self.stopping.set()

    def run(self) -> None:
        """Run ``step`` until stopped; errors are logged and retried after a pause."""
        while not self.stopping.is_set():
            try:
                self.step()
            except (ClientError, BotoCoreError, OSError) as error:
                if self.stopping.is_set():
                    return
                log.warning("%s: %s", self.name, error)
                self.stopping.wait(2)
            except Exception:
                log.exception("%s failed", self.name)
                self.stopping.wait(2)

    def step(self) -> None:  # pragma: no cover - overridden
        """One unit of work."""
        raise NotImplementedError


def _plain_json(value: Any) -> Any:
    """boto3 output back to the wire form Lambda events carry (bytes base64, datetimes epoch)."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, dict):
        return {k: _plain_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_json(v) for v in value]
    if isinstance(value, set):
        return [_plain_json(v) for v in value]
    return value


# ---------------------------------------------------------------------------- SQS
class SqsPoller(Source):
    """Lambda's SQS event source mapping: receive, invoke, delete what succeeded."""

    def __init__(
        self, aws: EmbeddedAws, invoke: Invoker, function: str, event_name: str, properties: dict[str, Any]
    ) -> None:
        super().__init__(f"sqs:{function}.{event_name}")
        self.function = function
        self.sqs = aws.client("sqs")
        queue = aws.resolve(properties["Queue"], f"{function}.{event_name} Queue")
        self.queue_arn = str(queue)
        name = self.queue_arn.rsplit(":", 1)[-1]
        self.queue_url = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
        self.batch_size = int(aws.resolve(properties.get("BatchSize", 10), "BatchSize"))
        self.partial = "ReportBatchItemFailures" in (properties.get("FunctionResponseTypes") or [])
        self.enabled = str(aws.resolve(properties.get("Enabled", True), "Enabled")).lower() != "false"
        self.region = aws.region
        self.invoke = invoke

    def step(self) -> None:
        """One receive (a short long-poll, so that shutdown stays quick) and its invocation."""
        if not self.enabled:
            self.stopping.wait(1)
            return
        received = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=max(1, min(self.batch_size, 10)),
            WaitTimeSeconds=1,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not received:
            return
        records = [self.record(message) for message in received]
        invocation = self.invoke(self.function, {"Records": records})
        if not invocation.ok:
            # The whole batch goes back to the queue after its visibility timeout; the queue's
            # RedrivePolicy moves a message to the DLQ after maxReceiveCount receives.
            log.warning("%s: batch of %d failed (%s)", self.name, len(records), invocation.error_type)
            return
        failed = set()
        if self.partial:
            result = invocation.result if isinstance(invocation.result, dict) else {}
            items = result.get("batchItemFailures") or []
            ids = {r["messageId"] for r in records}
            failed = {str(item.get("itemIdentifier")) for item in items if isinstance(item, dict)}
            if failed - ids:  # an unknown or empty identifier fails the whole batch, as in Lambda
                return
        done = [m for m in received if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )

    def record(self, message: dict[str, Any]) -> dict[str, Any]:
        """The SQS record of a Lambda event for one received message."""
        attributes = {}
        for name, attribute in (message.get("MessageAttributes") or {}).items():
            converted = {"dataType": attribute["DataType"], "stringListValues": [], "binaryListValues": []}
            if "StringValue" in attribute:
                converted["stringValue"] = attribute["StringValue"]
            if "BinaryValue" in attribute:
                converted["binaryValue"] = base64.b64encode(attribute["BinaryValue"]).decode()
            attributes[name] = converted
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes") or {},
            "messageAttributes": attributes,
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self.region,
        }


# ---------------------------------------------------------------------------- TTL
class TtlLedger:
    """Keys of items the reaper deleted, so that their stream REMOVE records can be tagged."""

    def __init__(self) -> None:
        self._keys: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(keys: dict[str, Any]) -> str:
        return json.dumps(_plain_json(keys), sort_keys=True)

    def add(self, table_name: str, keys: dict[str, Any]) -> None:
        """Remember a TTL deletion."""
        with self._lock:
            self._keys.setdefault(table_name, set()).add(self._key(keys))

    def take(self, table_name: str, keys: dict[str, Any]) -> bool:
        """True (once) if the reaper deleted this item."""
        key = self._key(keys)
        with self._lock:
            found = key in self._keys.get(table_name, set())
            if found:
                self._keys[table_name].discard(key)
            return found


class TtlReaper(Source):
    """Deletes items whose TTL attribute is in the past, as DynamoDB's TTL process does.

    DynamoDB skips values that are not numbers and values more than five years old; so does this.
    A scan is fine here: it stands in for a service-internal process, not for application code.
    """

    def __init__(self, aws: EmbeddedAws, ledger: TtlLedger, interval: float) -> None:
        super().__init__("ttl-reaper")
        self.dynamodb = aws.client("dynamodb")
        self.tables = [aws.ref(t) for t in aws.logical_ids("AWS::DynamoDB::Table")]
        self.ledger = ledger
        self.interval = interval

    def step(self) -> None:
        """One sweep of every table with TTL enabled, then a pause."""
        self.reap()
        self.stopping.wait(self.interval)

    def reap(self) -> int:
        """Delete expired items now; returns how many were deleted."""
        deleted = 0
        now = int(time.time())
        for table in self.tables:
            ttl = self.dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
            if ttl.get("TimeToLiveStatus") != "ENABLED":
                continue
            key_names = [
                k["AttributeName"] for k in self.dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]
            ]
            values = {":now": {"N": str(now)}, ":oldest": {"N": str(now - 5 * 366 * 86400)}}
            names = {"#ttl": ttl["AttributeName"]}
            scan: dict[str, Any] = {
                "TableName": table,
                "FilterExpression": "#ttl BETWEEN :oldest AND :now",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
            while True:
                page = self.dynamodb.scan(**scan)
                for item in page.get("Items", []):
                    keys = {name: item[name] for name in key_names}
                    self.ledger.add(table, keys)
                    try:
                        # Only if still expired: an item refreshed since the scan stays.
                        self.dynamodb.delete_item(
                            TableName=table,
                            Key=keys,
                            ConditionExpression="#ttl BETWEEN :oldest AND :now",
                            ExpressionAttributeNames=names,
                            ExpressionAttributeValues=values,
                        )
                        deleted += 1
                    except ClientError as error:
                        if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                            raise
                        self.ledger.take(table, keys)
                if "LastEvaluatedKey" not in page:
                    break
                scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        if deleted:
            log.info("ttl-reaper: deleted %d expired item(s)", deleted)
        return deleted


# ---------------------------------------------------------------------------- DynamoDB streams
class StreamPoller(Source):
    """Lambda's DynamoDB stream event source mapping."""

    def __init__(
        self,
        aws: EmbeddedAws,
        invoke: Invoker,
        function: str,
        event_name: str,
        properties: dict[str, Any],
        ledger: TtlLedger,
    ) -> None:
        super().__init__(f"stream:{function}.{event_name}")
        self.function = function
        self.invoke = invoke
        self.ledger = ledger
        self.region = aws.region
        self.streams = aws.client("dynamodbstreams")
        self.stream_arn = str(aws.resolve(properties["Stream"], f"{function}.{event_name} Stream"))
        self.table_name = self.stream_arn.split(":table/", 1)[1].split("/stream/", 1)[0]
        self.batch_size = int(aws.resolve(properties.get("BatchSize", 100), "BatchSize"))
        self.starting_position = str(aws.resolve(properties.get("StartingPosition", "LATEST"), "StartingPosition"))
        self.max_retries = int(aws.resolve(properties.get("MaximumRetryAttempts", -1), "MaximumRetryAttempts"))
        self.bisect = str(aws.resolve(properties.get("BisectBatchOnFunctionError", False), "Bisect")).lower() == "true"
        self.partial = "ReportBatchItemFailures" in (properties.get("FunctionResponseTypes") or [])
        self.enabled = str(aws.resolve(properties.get("Enabled", True), "Enabled")).lower() != "false"
        self.iterators: dict[str, str | None] = {}
        # Ready once the shard iterators exist: LATEST means "from when the mapping was created".
        self.ready = threading.Event()
        self._open_shards()

    def _open_shards(self) -> None:
        description = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        kind = "TRIM_HORIZON" if self.starting_position == "TRIM_HORIZON" else "LATEST"
        for shard in description["Shards"]:
            if shard["ShardId"] not in self.iterators:
                self.iterators[shard["ShardId"]] = self.streams.get_shard_iterator(
                    StreamArn=self.stream_arn,
                    ShardId=shard["ShardId"],
                    ShardIteratorType=kind,
                )["ShardIterator"]
        self.ready.set()

    def step(self) -> None:
        """Read each shard once; deliver what arrived; pause a little (Lambda polls ~4/s)."""
        if not self.enabled:
            self.stopping.wait(1)
            return
        self.poll()
        self.stopping.wait(0.25)

    def poll(self) -> int:
        """Read each shard once and deliver what arrived; returns how many records were delivered."""
        delivered = 0
        for shard_id, iterator in list(self.iterators.items()):
            if iterator is None or self.stopping.is_set():
                continue
            page = self.streams.get_records(ShardIterator=iterator, Limit=self.batch_size)
            self.iterators[shard_id] = page.get("NextShardIterator")
            records = [self.record(r) for r in page.get("Records", [])]
            if records:
                self.deliver(records)
                delivered += len(records)
        return delivered

    def record(self, raw: dict[str, Any]) -> dict[str, Any]:
        """A stream record as Lambda delivers it: with eventSourceARN, TTL deletions tagged."""
        record = _plain_json(raw)
        record["eventSourceARN"] = self.stream_arn  # moto omits it; Lambda (and Powertools) rely on it
        record["awsRegion"] = self.region
        if record.get("eventName") == "REMOVE" and self.ledger.take(self.table_name, record["dynamodb"]["Keys"]):
            record["userIdentity"] = dict(TTL_USER_IDENTITY)
        return record

    def deliver(self, records: list[dict[str, Any]]) -> None:
        """Invoke until the batch succeeds, honouring partial failures, retries and bisection."""
        attempts = 0
        while records and not self.stopping.is_set():
            invocation = self.invoke(self.function, {"Records": records})
            if invocation.ok:
                failed_from = self._first_failure(records, invocation.result) if self.partial else None
                if failed_from is None:
                    return
                # Lambda checkpoints before the lowest failed sequence number and retries from it.
                records = records[failed_from:]
            elif self.bisect and len(records) > 1:
                middle = len(records) // 2
                log.warning("%s: batch of %d failed; bisecting", self.name, len(records))
                self.deliver(records[:middle])
                self.deliver(records[middle:])
                return
            attempts += 1
            if 0 <= self.max_retries < attempts:
                log.warning("%s: discarding %d record(s) after %d retries", self.name, len(records), self.max_retries)
                return
            self.stopping.wait(min(2**attempts * 0.1, 5))

    @staticmethod
    def _first_failure(records: list[dict[str, Any]], result: Any) -> int | None:
        items = (result or {}).get("batchItemFailures") if isinstance(result, dict) else None
        if not items:
            return None
        positions = {r["dynamodb"]["SequenceNumber"]: i for i, r in enumerate(records)}
        failed = [positions.get(str(item.get("itemIdentifier"))) for item in items if isinstance(item, dict)]
        if any(p is None for p in failed):
            return 0  # an unknown identifier fails the whole batch
        return min(p for p in failed if p is not None)


# ---------------------------------------------------------------------------- schedules
def scheduled_event(aws: EmbeddedAws, rule_name: str, input_text: str | None, when: datetime) -> Any:
    """What EventBridge sends: the rule's Input if given, else a "Scheduled Event"."""
    if input_text is not None:
        return json.loads(input_text)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": aws.account_id,
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": aws.region,
        "resources": [f"arn:aws:events:{aws.region}:{aws.account_id}:rule/{rule_name}"],
        "detail": {},
    }


class Schedule(Source):
    """An EventBridge rule (``Schedule``) or Scheduler schedule (``ScheduleV2``) on a function."""

    def __init__(
        self, aws: EmbeddedAws, invoke: Invoker, function: str, event_name: str, kind: str, properties: dict[str, Any]
    ) -> None:
        super().__init__(f"schedule:{function}.{event_name}")
        self.aws = aws
        self.function = function
        self.event_name = event_name
        self.invoke = invoke
        where = f"{function}.{event_name}"
        expression_key = "ScheduleExpression" if kind == "ScheduleV2" else "Schedule"
        self.expression = str(aws.resolve(properties[expression_key], where))
        timezone = aws.resolve(properties.get("ScheduleExpressionTimezone"), where)
        self.schedule = schedules.parse(self.expression, timezone)
        input_value = aws.resolve(properties.get("Input"), where)
        self.input = None if input_value is None else str(input_value)
        enabled = aws.resolve(properties.get("Enabled", True), where)
        state = str(aws.resolve(properties.get("State", "ENABLED"), where)).upper()
        self.enabled = str(enabled).lower() != "false" and state != "DISABLED"
        self.rule_name = str(aws.resolve(properties.get("Name"), where) or f"{aws.stack_name}-{function}{event_name}")
        self.started = datetime.now(UTC)
        self.next_at: datetime | None = None

    def fire(self) -> Invocation:
        """Invoke the function now with this schedule's event."""
        return self.invoke(self.function, scheduled_event(self.aws, self.rule_name, self.input, datetime.now(UTC)))

    def step(self) -> None:
        """Sleep until the next firing, then fire."""
        if not self.enabled:
            self.stopping.wait(3600)
            return
        now = datetime.now(UTC)
        self.next_at = self.schedule.next_after(now, self.started)
        if self.stopping.wait((self.next_at - now).total_seconds()):
            return
        invocation = self.fire()
        if not invocation.ok:
            log.warning("%s: %s", self.name, invocation.error_type)
