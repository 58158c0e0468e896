"""The inbound worker: one queued message in, a subject found, the text redacted and stored, rights acted on.

Each SQS record goes through stages recorded on the stored message (``stored`` → ``acted`` →
``done``), so a redelivery of a record that already finished changes nothing, and one that failed
half-way resumes where it stopped instead of storing the message twice. Statuses (sent, delivered,
read) are dropped: they concern our own outbound messages and update nothing personal.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import phonenumbers
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from botocore.exceptions import ClientError
from pydantic import Json

from habeas import audit, aws, clock, messaging, retention, subjects
from habeas.channels.keywords import Keywords, keywords
from habeas.channels.models import InboundItem, Platform
from habeas.channels.rights import ChatContext, ChatRights, DynamoPendingConfirmations, channel_actor
from habeas.config import get_settings
from habeas.dynamo import cancelled_by_condition, from_item, to_item
from habeas.errors import Unprocessable
from habeas.identifiers import Identifier, blind_index, normalise_phone
from habeas.observability import logger, metrics


class InboundRecord(SqsRecordModel):
    """An SQS record whose body is one InboundItem (a body that is not is a poison record)."""

    body: Json[InboundItem]  # type: ignore[assignment]


# ---------------------------------------------------------------- adapters


@dataclass(frozen=True)
class Redaction:
    """Redacted text and the kinds of personal data found in it (never the values)."""

    text: str
    types: tuple[str, ...]


class Redactor(Protocol):
    def __call__(self, text: str, region: str | None) -> Redaction: ...


def pii_redactor(text: str, region: str | None) -> Redaction:
    """habeas.pii's engine; the region (ISO country of the sender's phone) selects national id formats."""
    from habeas.pii import redact

    # Pass the region only if the engine takes one (its signature was still settling when this was written).
    accepts_region = "region" in inspect.signature(redact).parameters
    result = redact(text, region=region) if accepts_region else redact(text)
    spans = getattr(result, "spans", ())
    kinds = {span["type"] if isinstance(span, dict) else span.type for span in spans}
    return Redaction(text=result.text, types=tuple(sorted(kinds)))


class Replier(Protocol):
    def __call__(self, platform: Platform, address: str, text: str) -> None: ...


def graph_replier(platform: Platform, address: str, text: str) -> None:
    """Reply through the Graph API (the local runtime captures it at /local/outbox)."""
    if platform == "whatsapp":
        messaging.send_whatsapp_text(address, text)
    else:
        messaging.send_instagram_text(address, text)


class OriginalVault(Protocol):
    def __call__(self, subject_id: str, table: str, item_key: dict[str, str], text: str) -> str: ...


def keys_vault(subject_id: str, table: str, item_key: dict[str, str], text: str) -> str:
    """Encrypt under the subject's data key (habeas.keys), bound to the item and attribute it is stored in."""
    from habeas.keys import FieldCipher, default_keyring

    return FieldCipher(default_keyring()).encrypt(
        subject_id, text, table=table, item_key=item_key, attribute="original_text"
    )


class ConversationStore:
    """Messages in ConversationsTable: ``MSG#<sent at>#<platform>#<id>`` under the subject."""

    def _table(self) -> str:
        return get_settings().require("conversations_table")

    def get(self, subject_id: str, sk: str) -> dict[str, Any] | None:
        """One item of the subject's conversation."""
        item = (
            aws.client("dynamodb")
            .get_item(TableName=self._table(), Key=to_item({"subject_id": subject_id, "sk": sk}), ConsistentRead=True)
            .get("Item")
        )
        # Past its expiry the item is gone for us, even before DynamoDB's TTL deletes it.
        return from_item(item) if item and not retention.is_expired(from_item(item)) else None

    def create(self, item: dict[str, Any]) -> bool:
        """Put ``item`` unless its key exists (and has not expired); False if it did (a redelivery)."""
        try:
            aws.client("dynamodb").put_item(
                TableName=self._table(),
                Item=to_item(item),
                ConditionExpression="attribute_not_exists(sk) OR expires_at <= :now",
                ExpressionAttributeValues=to_item({":now": int(clock.now().timestamp())}),
            )
        except ClientError as error:
            if cancelled_by_condition(error):
                return False
            raise
        return True

    def advance(self, subject_id: str, sk: str, stage: str, **values: Any) -> None:
        """Record that the message reached ``stage`` (with any values that stage produced)."""
        names = {"#stage": "stage", **{f"#{k}": k for k in values}}
        sets = ", ".join(f"#{k} = :{k}" for k in ("stage", *values))
        aws.client("dynamodb").update_item(
            TableName=self._table(),
            Key=to_item({"subject_id": subject_id, "sk": sk}),
            UpdateExpression=f"SET {sets}",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=to_item({":stage": stage, **{f":{k}": v for k, v in values.items()}}),
        )


# ---------------------------------------------------------------- the sender


@dataclass(frozen=True)
class Sender:
    """Who wrote: the identifier that finds their subject, where to reply, and their country if known."""

    identifier: Identifier
    address: str
    region: str | None

    def __repr__(self) -> str:  # never print an identifier
        return f"Sender(kind={self.identifier.kind!r}, region={self.region!r})"


def sender_of(item: InboundItem) -> Sender:
    """The sender of an inbound message, normalised the way verification normalises identifiers."""
    if item.sender is None:
        raise Unprocessable("a message without a sender")
    if item.platform == "instagram":
        return Sender(Identifier("instagram", item.sender), item.sender, None)
    try:
        # A wa_id is the phone without "+": the same subject as the one who verifies "+<wa_id>".
        phone = normalise_phone(item.sender)
    except Unprocessable:
        # Not a valid number (e.g. a WhatsApp username id): still one stable subject per sender.
        return Sender(Identifier("whatsapp", item.sender), item.sender, None)
    region = phonenumbers.region_code_for_number(phonenumbers.parse(phone.value))
    return Sender(phone, phone.value, region)


def message_sk(item: InboundItem) -> str:
    """The sort key of a message: sortable by the platform's time, unique by platform and id."""
    sent = datetime.fromtimestamp(item.sent_at / 1000, UTC)
    return f"MSG#{clock.rfc3339(sent)}#{item.platform}#{item.id}"


# ---------------------------------------------------------------- the worker


@dataclass
class ChannelWorker:
    """Processes one inbound item at a time; every dependency can be swapped for a fake."""

    store: ConversationStore = field(default_factory=ConversationStore)
    rights: ChatRights = field(default_factory=lambda: ChatRights(pending=DynamoPendingConfirmations()))
    redact: Redactor = pii_redactor
    reply: Replier = graph_replier
    vault: OriginalVault = keys_vault
    subject_for: Callable[[Identifier], str] = field(
        default=lambda identifier: subjects.find_or_create(blind_index(identifier), identifier.kind)[0]
    )
    words: Keywords = field(default_factory=keywords)

    def process(self, item: InboundItem, request_id: str | None = None) -> str:
        """Handle one item; returns what happened (``dropped``, ``duplicate`` or ``processed``)."""
        if item.kind == "status":
            metrics.add_metric(name="ChannelStatusesDropped", unit="Count", value=1)
            return "dropped"
        sender = sender_of(item)
        subject_id = self.subject_for(sender.identifier)
        actor = channel_actor(item.platform, request_id)
        sk = message_sk(item)
        stored = self.store.get(subject_id, sk)
        if stored is None:
            stored = self._store(subject_id, sk, item, sender, actor)
        if stored.get("stage") == "done":
            logger.info("duplicate delivery", extra={"subject_id": subject_id, "platform": item.platform})
            return "duplicate"
        if stored.get("stage") == "stored":
            chat = ChatContext(subject_id=subject_id, platform=item.platform, region=sender.region, actor=actor)
            reply = self.rights.handle(chat, item.text) if item.text else None
            values = {"reply": reply.name, "reply_language": reply.language} if reply else {}
            self.store.advance(subject_id, sk, "acted", **values)
            stored = {**stored, "stage": "acted", **values}
        if stored.get("reply"):
            text = self.words.reply(str(stored["reply"]), stored.get("reply_language", "en"))
            self.reply(item.platform, sender.address, text)
        self.store.advance(subject_id, sk, "done")
        metrics.add_metric(name="ChannelMessagesProcessed", unit="Count", value=1)
        logger.info("message processed", extra={"subject_id": subject_id, "platform": item.platform, "type": item.type})
        return "processed"

    def _store(self, subject_id: str, sk: str, item: InboundItem, sender: Sender, actor: audit.Actor) -> dict:
        settings = get_settings()
        now = clock.now()
        redaction = self.redact(item.text, sender.region) if item.text else None
        record = {
            "subject_id": subject_id,
            "sk": sk,
            "platform": item.platform,
            "direction": "inbound",
            "type": item.type,
            "text": redaction.text if redaction else None,
            "redacted_types": list(redaction.types) if redaction and redaction.types else None,
            "media_id": item.media_id,
            "mime_type": item.mime_type,
            "sent_at": clock.rfc3339(datetime.fromtimestamp(item.sent_at / 1000, UTC)),
            "received_at": item.received_at,
            "stored_at": clock.rfc3339(now),
            **retention.stamp("conversation", now),  # expires_at from the data map's policy
            "stage": "stored",
        }
        if not self.store.create(record):
            # Another delivery of the same record got there first: continue from its stage.
            return self.store.get(subject_id, sk) or record
        fields = ["text"] if redaction else []
        if item.text and settings.channel_keep_original_text:
            self._keep_original(subject_id, sk, item.text, now)
            fields.append("original_text")
        audit.record(
            actor,
            audit.AuditEvent(
                action="channel.message_received",
                subject_id=subject_id,
                fields=fields,
                detail={
                    "platform": item.platform,
                    "type": item.type,
                    "redacted": list(redaction.types) if redaction else [],
                },
            ),
        )
        return from_item(to_item(record))

    def _keep_original(self, subject_id: str, sk: str, text: str, now: datetime) -> None:
        # A separate item, so its short TTL removes the original while the redacted message stays.
        settings = get_settings()
        table = settings.require("conversations_table")
        key = {"subject_id": subject_id, "sk": f"ORIGINAL#{sk.removeprefix('MSG#')}"}
        self.store.create(
            {
                **key,
                "original_text": self.vault(subject_id, table, key, text),
                **retention.stamp("conversation_original", now),
            }
        )


# ---------------------------------------------------------------- SQS batch


@functools.cache
def channel_worker() -> ChannelWorker:
    """The worker with its AWS adapters (one per container)."""
    return ChannelWorker()


processor = BatchProcessor(event_type=EventType.SQS, model=InboundRecord)


def handle_record(record: InboundRecord) -> str:
    """Process one SQS record; any exception fails this record alone (it is retried, then dead-lettered)."""
    return channel_worker().process(record.body, request_id=record.messageId)


def failed_ids(response: dict[str, Sequence[dict[str, str]]]) -> list[str]:
    """The message ids of a partial batch response (for tests and logs)."""
    return [failure["itemIdentifier"] for failure in response.get("batchItemFailures", [])]
