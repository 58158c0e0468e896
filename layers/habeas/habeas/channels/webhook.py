"""The webhook side of the channels: accept a signed delivery fast, drop replays, queue the work.

A delivery is answered as soon as each new message or status has a receipt and sits in the inbound
queue; the worker does everything slow (subjects, redaction, storage, replies). Receipts are
claimed before anything is queued, so a replayed delivery queues nothing.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from botocore.exceptions import ClientError

from habeas import aws, clock
from habeas.channels.models import InboundItem, InstagramWebhook, Platform, WhatsAppWebhook, inbound_items
from habeas.channels.signature import verify_token_valid
from habeas.config import get_settings
from habeas.dynamo import cancelled_by_condition, to_item
from habeas.errors import Conflict, DeliveryFailed, Forbidden
from habeas.observability import logger, metrics
from habeas.secrets import secret_json

SQS_MAX_MESSAGE_BYTES = 256 * 1024
_SQS_MAX_BATCH = 10
# Receipts are spread over a few partitions so a burst of deliveries never heats one partition.
_RECEIPT_SHARDS = 16


class ReceiptStore(Protocol):
    """Remembers which platform ids were already received."""

    def claim(self, platform: Platform, key: str) -> bool:
        """Record ``key``; False if it was already recorded (a replay)."""
        ...

    def release(self, platform: Platform, key: str) -> None:
        """Forget ``key`` (its item could not be queued, so a retry must be accepted)."""
        ...


class InboundQueue(Protocol):
    """Where accepted items wait for the worker."""

    def send(self, items: Sequence[InboundItem]) -> list[InboundItem]:
        """Queue ``items``, one message each; returns those that could not be queued."""
        ...


def receipt_key(platform: Platform, key: str) -> dict[str, str]:
    """The ConversationsTable key of a receipt (a dedicated partition, never a subject's)."""
    shard = int(hashlib.sha256(f"{platform}#{key}".encode()).hexdigest()[:4], 16) % _RECEIPT_SHARDS
    return {"subject_id": f"RECEIPTS#{shard:02d}", "sk": f"RECEIPT#{platform}#{key}"}


class DynamoReceipts:
    """Receipts as conditional puts with a TTL in ConversationsTable."""

    def claim(self, platform: Platform, key: str) -> bool:
        """Record ``key`` unless a live receipt exists."""
        settings = get_settings()
        now = clock.now()
        expires_at = int((now + timedelta(seconds=settings.channel_receipt_ttl_seconds)).timestamp())
        try:
            aws.client("dynamodb").put_item(
                TableName=settings.require("conversations_table"),
                Item=to_item({**receipt_key(platform, key), "expires_at": expires_at}),
                # DynamoDB deletes expired items lazily: an expired receipt counts as absent.
                ConditionExpression="attribute_not_exists(sk) OR expires_at < :now",
                ExpressionAttributeValues=to_item({":now": int(now.timestamp())}),
            )
        except ClientError as error:
            if cancelled_by_condition(error):
                return False
            raise
        return True

    def release(self, platform: Platform, key: str) -> None:
        """Delete the receipt of ``key``."""
        aws.client("dynamodb").delete_item(
            TableName=get_settings().require("conversations_table"), Key=to_item(receipt_key(platform, key))
        )


class SqsInboundQueue:
    """The InboundMessagesQueue, written with SendMessageBatch (10 messages or 256 KiB per call)."""

    def send(self, items: Sequence[InboundItem]) -> list[InboundItem]:
        """Queue ``items``; returns the ones SQS refused."""
        queue_url = get_settings().require("inbound_queue_url")
        failed: list[InboundItem] = []
        for batch in _batches(items):
            entries = [{"Id": str(n), "MessageBody": body} for n, (_, body) in enumerate(batch)]
            response = aws.client("sqs").send_message_batch(QueueUrl=queue_url, Entries=entries)
            failed += [batch[int(entry["Id"])][0] for entry in response.get("Failed", [])]
        return failed


def _batches(items: Sequence[InboundItem]) -> list[list[tuple[InboundItem, str]]]:
    batches: list[list[tuple[InboundItem, str]]] = []
    size = 0
    for item in items:
        body = item.to_message_body()
        length = len(body.encode())
        if length > SQS_MAX_MESSAGE_BYTES:
            # Unreachable for bodies the guard let through (<= 256 KiB); kept so a change there fails loudly.
            raise DeliveryFailed("a message is too large to queue")
        if not batches or len(batches[-1]) == _SQS_MAX_BATCH or size + length > SQS_MAX_MESSAGE_BYTES:
            batches.append([])
            size = 0
        batches[-1].append((item, body))
        size += length
    return batches


@dataclass
class WebhookService:
    """Accepts webhook deliveries: receipts first, then the queue."""

    receipts: ReceiptStore
    queue: InboundQueue

    def receive(self, platform: Platform, payload: WhatsAppWebhook | InstagramWebhook) -> int:
        """Queue every new message and status of ``payload``; returns how many were accepted.

        Raises Conflict when the delivery held items and every one was already received (nothing is
        queued), and DeliveryFailed when the queue refused some (their receipts are released first,
        so the platform's retry is accepted).
        """
        items = inbound_items(payload, clock.rfc3339(clock.now()))
        if not items:
            return 0
        fresh = [item for item in items if self.receipts.claim(platform, item.receipt_key)]
        if not fresh:
            metrics.add_metric(name="ChannelReplaysRejected", unit="Count", value=1)
            raise Conflict("every message in this delivery was already received")
        failed = self.queue.send(fresh)
        for item in failed:
            self.receipts.release(platform, item.receipt_key)
        if failed:
            logger.warning("inbound queue refused items", extra={"platform": platform, "failed": len(failed)})
            raise DeliveryFailed("the delivery could not be queued; try again later")
        metrics.add_metric(name="ChannelItemsAccepted", unit="Count", value=len(fresh))
        return len(fresh)


@functools.cache
def webhook_service() -> WebhookService:
    """The service with its AWS adapters (one per container)."""
    return WebhookService(receipts=DynamoReceipts(), queue=SqsInboundQueue())


def channel_secret(platform: Platform) -> tuple[str, str]:
    """The verify token and the app secret for ``platform`` (a ``<platform>_app_secret`` overrides)."""
    secret = secret_json("channel_secret_arn")
    app_secret = secret.get(f"{platform}_app_secret") or secret.get("app_secret") or ""
    return str(secret.get("verify_token") or ""), str(app_secret)


def handshake(platform: Platform, mode: str | None, token: str | None, challenge: str | None) -> str:
    """The challenge to echo when the platform subscribes with our verify token; Forbidden otherwise."""
    verify_token, _ = channel_secret(platform)
    if mode != "subscribe" or not challenge or not verify_token_valid(token, verify_token):
        raise Forbidden("the verify token does not match")
    return challenge
