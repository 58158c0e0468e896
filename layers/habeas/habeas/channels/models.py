"""The platforms' webhook payloads and the one inbound item the webhook hands to the worker.

The payload models follow Meta's published formats (WhatsApp Cloud API ``whatsapp_business_account``
webhooks; Instagram Messaging ``instagram`` webhooks). They ignore fields they do not name, because
Meta adds fields without notice and an unknown field must never make us refuse a delivery; they are
strict on what we rely on (ids, senders, timestamps, types).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Platform = Literal["whatsapp", "instagram"]
PLATFORMS: tuple[Platform, ...] = ("whatsapp", "instagram")

# Platform ids are opaque; bound them so a key built from one always fits a DynamoDB sort key.
PlatformId = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f]+$")]
Text = Annotated[str, StringConstraints(max_length=65536)]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# ---------------------------------------------------------------- WhatsApp Cloud API


class WaText(_Payload):
    body: Text


class WaMedia(_Payload):
    """image, audio, document, video, sticker: a media id to fetch from the Graph API (we never do)."""

    id: PlatformId
    mime_type: str | None = None
    sha256: str | None = None
    caption: Text | None = None
    filename: str | None = None
    voice: bool | None = None
    animated: bool | None = None


class WaReply(_Payload):
    id: str
    title: Text
    description: Text | None = None


class WaInteractive(_Payload):
    type: Literal["button_reply", "list_reply", "nfm_reply"] | str
    button_reply: WaReply | None = None
    list_reply: WaReply | None = None


class WaButton(_Payload):
    """A tap on a quick-reply button of a template message."""

    text: Text
    payload: str | None = None


class WaLocation(_Payload):
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None


class WaReaction(_Payload):
    message_id: str | None = None
    emoji: str | None = None


class WaMessage(_Payload):
    """One inbound WhatsApp message."""

    from_: PlatformId = Field(alias="from")
    id: PlatformId
    timestamp: int
    type: str
    text: WaText | None = None
    image: WaMedia | None = None
    audio: WaMedia | None = None
    document: WaMedia | None = None
    video: WaMedia | None = None
    sticker: WaMedia | None = None
    interactive: WaInteractive | None = None
    button: WaButton | None = None
    location: WaLocation | None = None
    contacts: list[dict[str, Any]] | None = None
    reaction: WaReaction | None = None


class WaStatus(_Payload):
    """A delivery status of a message we sent (sent, delivered, read, failed)."""

    id: PlatformId
    status: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    timestamp: int
    recipient_id: str | None = None


class WaContact(_Payload):
    wa_id: PlatformId


class WaValue(_Payload):
    messaging_product: Literal["whatsapp"] | None = None
    contacts: list[WaContact] = Field(default_factory=list)
    messages: list[WaMessage] = Field(default_factory=list)
    statuses: list[WaStatus] = Field(default_factory=list)


class WaChange(_Payload):
    field: str
    value: WaValue


class WaEntry(_Payload):
    id: str
    changes: list[WaChange] = Field(default_factory=list)


class WhatsAppWebhook(_Payload):
    """A WhatsApp Cloud API webhook: entries of changes, each with messages and/or statuses."""

    object: Literal["whatsapp_business_account"]
    entry: list[WaEntry] = Field(min_length=1)


# ---------------------------------------------------------------- Instagram Messaging


class IgParty(_Payload):
    id: PlatformId


class IgAttachment(_Payload):
    type: str
    payload: dict[str, Any] | None = None


class IgQuickReply(_Payload):
    payload: str


class IgMessage(_Payload):
    mid: PlatformId
    text: Text | None = None
    attachments: list[IgAttachment] = Field(default_factory=list)
    quick_reply: IgQuickReply | None = None
    is_echo: bool = False
    is_deleted: bool = False
    is_unsupported: bool = False


class IgPostback(_Payload):
    mid: PlatformId
    title: Text | None = None
    payload: str | None = None


class IgRead(_Payload):
    mid: PlatformId


class IgMessaging(_Payload):
    """One messaging event: a message, a postback (button tap) or a read receipt."""

    sender: IgParty
    recipient: IgParty
    timestamp: int
    message: IgMessage | None = None
    postback: IgPostback | None = None
    read: IgRead | None = None


class IgEntry(_Payload):
    id: str
    time: int
    messaging: list[IgMessaging] = Field(default_factory=list)


class InstagramWebhook(_Payload):
    """An Instagram Messaging webhook: entries of messaging events."""

    object: Literal["instagram"]
    entry: list[IgEntry] = Field(min_length=1)


WEBHOOK_MODELS: dict[Platform, type[WhatsAppWebhook] | type[InstagramWebhook]] = {
    "whatsapp": WhatsAppWebhook,
    "instagram": InstagramWebhook,
}


# ---------------------------------------------------------------- what the worker receives

MessageType = Literal[
    "text",
    "image",
    "audio",
    "document",
    "video",
    "sticker",
    "interactive",
    "button",
    "location",
    "contacts",
    "reaction",
    "unsupported",
]
_MEDIA = ("image", "audio", "document", "video", "sticker")


class InboundItem(BaseModel):
    """One platform message or status, as queued for the worker (one SQS message each).

    ``receipt_key`` names it for replay protection: a message id, or for a status the id of our
    outbound message plus the status (one outbound message gets sent, delivered and read statuses).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    platform: Platform
    kind: Literal["message", "status"]
    id: PlatformId
    sender: PlatformId | None = None
    sent_at: int  # epoch milliseconds, as the platform stamped it
    received_at: str  # RFC 3339, when our webhook accepted it
    type: MessageType | None = None
    text: Text | None = None
    media_id: PlatformId | None = None
    mime_type: str | None = None
    status: str | None = None

    @property
    def receipt_key(self) -> str:
        """The replay-protection key of this item within its platform."""
        return self.id if self.kind == "message" else f"{self.id}#status#{self.status}"

    def to_message_body(self) -> str:
        """The SQS message body (UTF-8 JSON, unescaped so it is never larger than the webhook body)."""
        return json.dumps(self.model_dump(exclude_none=True), ensure_ascii=False, separators=(",", ":"))


def _wa_item(message: WaMessage, received_at: str) -> InboundItem:
    kind = message.type if message.type in MessageType.__args__ else "unsupported"  # type: ignore[attr-defined]
    text: str | None = None
    media: WaMedia | None = None
    if message.type == "text" and message.text:
        text = message.text.body
    elif message.type in _MEDIA:
        media = getattr(message, message.type)
        text = media.caption if media else None
    elif message.type == "interactive" and message.interactive:
        reply = message.interactive.button_reply or message.interactive.list_reply
        text = reply.title if reply else None
    elif message.type == "button" and message.button:
        text = message.button.text
    # location, contacts and reactions carry no text we keep: coordinates and shared contact cards are
    # personal data (the sender's or a third party's) that a conversation log does not need.
    return InboundItem(
        platform="whatsapp",
        kind="message",
        id=message.id,
        sender=message.from_,
        sent_at=message.timestamp * 1000,
        received_at=received_at,
        type=kind,
        text=text,
        media_id=media.id if media else None,
        mime_type=media.mime_type if media else None,
    )


def _ig_items(event: IgMessaging, received_at: str) -> list[InboundItem]:
    common = {
        "platform": "instagram",
        "sender": event.sender.id,
        "sent_at": event.timestamp,
        "received_at": received_at,
    }
    if event.message is not None:
        message = event.message
        if message.is_echo:
            return []  # our own outbound message reflected back: nothing was received
        if message.attachments:
            first = message.attachments[0].type
            kind = first if first in _MEDIA else "unsupported"
            return [InboundItem(kind="message", id=message.mid, type=kind, text=message.text, **common)]
        kind = "text" if message.text is not None else "unsupported"
        return [InboundItem(kind="message", id=message.mid, type=kind, text=message.text, **common)]
    if event.postback is not None:
        return [
            InboundItem(kind="message", id=event.postback.mid, type="interactive", text=event.postback.title, **common)
        ]
    if event.read is not None:
        return [InboundItem(kind="status", id=event.read.mid, status="read", **{**common, "sender": None})]
    return []


def inbound_items(payload: WhatsAppWebhook | InstagramWebhook, received_at: str) -> list[InboundItem]:
    """Every message and status of a webhook delivery, across all its entries and changes, in order."""
    items: list[InboundItem] = []
    if isinstance(payload, WhatsAppWebhook):
        for entry in payload.entry:
            for change in entry.changes:
                if change.field != "messages":
                    continue  # account and template updates: nothing a subject sent
                items += [_wa_item(message, received_at) for message in change.value.messages]
                items += [
                    InboundItem(
                        platform="whatsapp",
                        kind="status",
                        id=status.id,
                        sent_at=status.timestamp * 1000,
                        received_at=received_at,
                        status=status.status,
                    )
                    for status in change.value.statuses
                ]
        return items
    for ig_entry in payload.entry:
        for event in ig_entry.messaging:
            items += _ig_items(event, received_at)
    return items
