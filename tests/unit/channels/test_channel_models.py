"""The platforms' payloads parse into the items the worker gets, across entries, changes and kinds."""

import base64
import json

import pytest
from pydantic import ValidationError

from habeas.channels.models import InboundItem, InstagramWebhook, WhatsAppWebhook, inbound_items
from habeas.channels.webhook import SQS_MAX_MESSAGE_BYTES, _batches
from tests.conftest import load_event

pytestmark = pytest.mark.unit
AT = "2026-11-22T23:00:01.000Z"


def payload(name):
    event = load_event(name)
    return json.loads(base64.b64decode(event["body"]) if event["isBase64Encoded"] else event["body"])


def wa_items(name):
    return inbound_items(WhatsAppWebhook.model_validate(payload(name)), AT)


def test_a_text_message_keeps_sender_time_and_text():
    [item] = wa_items("channels_whatsapp_text.json")
    assert (item.kind, item.type, item.sender) == ("message", "text", "5511987654321")
    assert item.sent_at == 1795388401 * 1000 and item.received_at == AT
    assert item.receipt_key == item.id


def test_media_carry_the_media_id_and_caption_but_never_a_download():
    items = {i.type: i for i in wa_items("channels_whatsapp_media.json")}
    assert set(items) == {"image", "audio", "document", "video", "sticker"}
    assert items["document"].media_id == "992483259023445" and items["document"].text == "contrato"
    assert items["audio"].text is None and items["audio"].mime_type.startswith("audio/ogg")


def test_statuses_of_one_message_have_distinct_receipts():
    items = wa_items("channels_whatsapp_statuses.json")
    assert [i.kind for i in items] == ["status"] * 3
    assert len({i.id for i in items}) == 1 and len({i.receipt_key for i in items}) == 3
    assert all(i.sender is None for i in items)  # the recipient's number is not carried along


def test_location_and_contact_cards_are_kept_without_their_personal_data():
    items = {i.type: i for i in wa_items("channels_whatsapp_multi_entry.json") if i.kind == "message"}
    assert items["location"].text is None and items["contacts"].text is None
    assert "Madrid" not in items["location"].to_message_body()
    assert "Bob" not in items["contacts"].to_message_body()


def test_non_message_changes_yield_nothing():
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "account_update", "value": {"event": "X"}}]}],
    }
    assert inbound_items(WhatsAppWebhook.model_validate(body), AT) == []


def test_instagram_echoes_are_skipped_and_reads_are_statuses():
    items = inbound_items(InstagramWebhook.model_validate(payload("channels_instagram_messages.json")), AT)
    assert [(i.kind, i.type) for i in items] == [
        ("message", "text"),
        ("message", "image"),
        ("message", "interactive"),
        ("status", None),
    ]
    assert items[0].sent_at == 1795388400100  # Instagram already stamps milliseconds


@pytest.mark.parametrize(
    "body",
    [
        {"object": "instagram", "entry": []},
        {
            "object": "instagram",
            "entry": [{"id": "1", "time": 1, "messaging": [{"sender": {}, "recipient": {"id": "2"}, "timestamp": 1}]}],
        },
        {
            "object": "instagram",
            "entry": [
                {
                    "id": "1",
                    "time": 1,
                    "messaging": [{"sender": {"id": "x\n"}, "recipient": {"id": "2"}, "timestamp": 1}],
                }
            ],
        },
    ],
)
def test_malformed_instagram_payloads_are_rejected(body):
    with pytest.raises(ValidationError):
        InstagramWebhook.model_validate(body)


def test_queue_batches_respect_ten_messages_and_the_size_limit():
    small = [
        InboundItem(
            platform="whatsapp",
            kind="message",
            id=f"m{n}",
            sender="1",
            sent_at=1,
            received_at=AT,
            type="text",
            text="x",
        )
        for n in range(23)
    ]
    assert [len(b) for b in _batches(small)] == [10, 10, 3]
    big_text = "é" * 50_000  # 100 KB each in UTF-8
    big = [
        InboundItem(
            platform="whatsapp",
            kind="message",
            id=f"b{n}",
            sender="1",
            sent_at=1,
            received_at=AT,
            type="text",
            text=big_text,
        )
        for n in range(5)
    ]
    batches = _batches(big)
    assert all(sum(len(body.encode()) for _, body in b) <= SQS_MAX_MESSAGE_BYTES for b in batches)
    assert sum(len(b) for b in batches) == 5
