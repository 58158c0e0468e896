"""The ChannelsFunction handler against moto: handshake, signatures, shapes, replays, queueing."""

from __future__ import annotations

import base64
import copy
import json

import pytest

from tests.conftest import load_event
from tests.integration.channels.helpers import APP_SECRET, VERIFY_TOKEN, queued_items, sample_payload

pytestmark = pytest.mark.integration


# ---------------------------------------------------------------- handshake


def test_handshake_with_the_verify_token_echoes_the_challenge_as_text(get_webhook):
    answer = get_webhook(
        "whatsapp", {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    )
    assert answer.status == 200
    assert answer.body == "1158201444"
    assert answer.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "local-verify-token", "hub.challenge": "42"},
        {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN[:-1], "hub.challenge": "42"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "42"},
        {"hub.mode": "subscribe", "hub.challenge": "42"},
        {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN},
    ],
)
def test_handshake_without_the_right_token_is_403_problem(get_webhook, query):
    answer = get_webhook("instagram", query)
    assert answer.status == 403
    assert answer.headers["content-type"] == "application/problem+json"
    assert "42" not in json.dumps(answer.body)


def test_handshake_of_an_unknown_platform_is_404(get_webhook):
    answer = get_webhook("telegram", {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"})
    assert answer.status == 404


# ---------------------------------------------------------------- signatures


def test_signed_text_message_is_accepted_and_queued(post_webhook, channel_aws):
    answer = post_webhook("whatsapp", sample_payload("channels_whatsapp_text.json"))
    assert answer.status == 200, answer.body
    assert answer.body == {"received": 1}
    [item] = queued_items(channel_aws)
    assert item["platform"] == "whatsapp" and item["kind"] == "message" and item["type"] == "text"
    assert item["sender"] == "5511987654321"


@pytest.mark.parametrize(
    "signature",
    [
        None,  # missing
        "",
        "sha256=" + "0" * 64,
        "sha1=" + "0" * 40,
        "deadbeef",
    ],
)
def test_missing_or_wrong_signature_is_401_and_queues_nothing(post_webhook, channel_aws, signature):
    answer = post_webhook("whatsapp", sample_payload("channels_whatsapp_text.json"), signature=signature)
    assert answer.status == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert channel_aws.queued() == []


def test_signature_over_another_body_is_401(post_webhook, channel_aws):
    from habeas.channels.signature import sign

    payload = sample_payload("channels_whatsapp_text.json")
    forged = copy.deepcopy(payload)
    forged["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] = "STOP"
    answer = post_webhook("whatsapp", forged, signature=sign(json.dumps(payload).encode(), APP_SECRET))
    assert answer.status == 401
    assert channel_aws.queued() == []


def test_signature_is_checked_before_the_body_is_parsed(post_webhook):
    # Unsigned garbage is 401, not 400: nothing about the body is looked at before the signature.
    assert post_webhook("whatsapp", None, raw=b"{not json", signature=None).status == 401
    assert post_webhook("whatsapp", None, raw=b"{not json").status == 400


def test_base64_encoded_body_is_verified_over_its_decoded_bytes(post_webhook, channel_aws, lambda_context):
    from habeas.channels.signature import sign
    from tests.conftest import import_handler

    event = load_event("channels_whatsapp_media.json")
    raw = base64.b64decode(event["body"])
    event["headers"]["x-hub-signature-256"] = sign(raw, APP_SECRET)
    result = import_handler("channels").handler(event, lambda_context)
    assert result["statusCode"] == 200, result["body"]
    assert json.loads(result["body"]) == {"received": 5}


def test_unknown_platform_is_404_even_when_signed(post_webhook, channel_aws):
    answer = post_webhook("telegram", sample_payload("channels_whatsapp_text.json"))
    assert answer.status == 404
    assert channel_aws.queued() == []


# ---------------------------------------------------------------- shapes


@pytest.mark.parametrize(
    ("platform", "payload", "status"),
    [
        ("instagram", "whatsapp", 422),  # a WhatsApp payload on the Instagram webhook
        ("whatsapp", "instagram", 422),
        ("whatsapp", {"object": "whatsapp_business_account"}, 422),  # no entries
        ("whatsapp", {"object": "page", "entry": [{"id": "1", "changes": []}]}, 422),
        (
            "whatsapp",
            {
                "object": "whatsapp_business_account",
                "entry": [
                    {
                        "id": "1",
                        "changes": [
                            {"field": "messages", "value": {"messages": [{"from": "5511987654321", "type": "text"}]}}
                        ],
                    }
                ],
            },
            422,
        ),
        ("whatsapp", [1, 2], 400),
    ],
)
def test_a_signed_body_of_the_wrong_shape_is_refused_and_queues_nothing(
    post_webhook, channel_aws, platform, payload, status
):
    if payload == "whatsapp":
        payload = sample_payload("channels_whatsapp_text.json")
    elif payload == "instagram":
        payload = sample_payload("channels_instagram_messages.json")
    answer = post_webhook(platform, payload)
    assert answer.status == status, answer.body
    assert channel_aws.queued() == []


def test_unknown_extra_fields_from_meta_are_accepted(post_webhook):
    payload = sample_payload("channels_whatsapp_text.json")
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["brand_new_field"] = {"x": 1}
    payload["entry"][0]["brand_new_entry_field"] = True
    assert post_webhook("whatsapp", payload).body == {"received": 1}


# ---------------------------------------------------------------- kinds of delivery


def test_media_messages_queue_their_media_ids_and_captions(post_webhook, channel_aws):
    answer = post_webhook("whatsapp", sample_payload("channels_whatsapp_media.json"))
    assert answer.body == {"received": 5}
    items = queued_items(channel_aws)
    assert sorted(i["type"] for i in items) == ["audio", "document", "image", "sticker", "video"]
    image = next(i for i in items if i["type"] == "image")
    assert image["media_id"] == "1479537139650973" and image["text"] == "foto do recibo"
    assert image["mime_type"] == "image/jpeg"


def test_interactive_replies_queue_the_chosen_title(post_webhook, channel_aws):
    assert post_webhook("whatsapp", sample_payload("channels_whatsapp_interactive.json")).body == {"received": 3}
    assert sorted((i["type"], i["text"]) for i in queued_items(channel_aws)) == [
        ("button", "Parar promoções"),
        ("interactive", "Quero meus dados"),
        ("interactive", "SIM"),
    ]


def test_statuses_are_counted_and_queued_one_per_status(post_webhook, channel_aws):
    answer = post_webhook("whatsapp", sample_payload("channels_whatsapp_statuses.json"))
    assert answer.body == {"received": 3}
    items = queued_items(channel_aws)
    assert sorted(i["status"] for i in items) == ["delivered", "read", "sent"]
    assert all(i["kind"] == "status" and "sender" not in i for i in items)


def test_several_entries_and_changes_in_one_post_are_all_queued(post_webhook, channel_aws):
    assert post_webhook("whatsapp", sample_payload("channels_whatsapp_multi_entry.json")).body == {"received": 4}
    items = queued_items(channel_aws)
    assert sorted((i["kind"], i.get("type") or i.get("status")) for i in items) == [
        ("message", "contacts"),
        ("message", "location"),
        ("message", "text"),
        ("status", "delivered"),
    ]
    location = next(i for i in items if i.get("type") == "location")
    assert "text" not in location  # coordinates and addresses are not kept


def test_instagram_messages_postbacks_and_reads_are_queued_but_echoes_are_not(post_webhook, channel_aws):
    assert post_webhook("instagram", sample_payload("channels_instagram_messages.json")).body == {"received": 4}
    items = queued_items(channel_aws)
    assert sorted((i["kind"], i.get("type") or i.get("status")) for i in items) == [
        ("message", "image"),
        ("message", "interactive"),
        ("message", "text"),
        ("status", "read"),
    ]
    assert {i.get("sender") for i in items if i["kind"] == "message"} == {"7203349169748297"}


# ---------------------------------------------------------------- replays


def test_a_replayed_delivery_is_409_and_queues_nothing(post_webhook, channel_aws):
    payload = sample_payload("channels_whatsapp_text.json")
    assert post_webhook("whatsapp", payload).status == 200
    channel_aws.queued()  # the first delivery's message
    replay = post_webhook("whatsapp", payload)
    assert replay.status == 409
    assert replay.headers["content-type"] == "application/problem+json"
    assert channel_aws.queued() == []


def test_a_mixed_delivery_queues_and_counts_only_the_new_messages(post_webhook, channel_aws):
    first = sample_payload("channels_whatsapp_text.json")
    assert post_webhook("whatsapp", first).status == 200
    channel_aws.queued()
    mixed = copy.deepcopy(first)
    again = mixed["entry"][0]["changes"][0]["value"]["messages"][0]
    new = {**again, "id": again["id"] + "NEW", "text": {"body": "second"}}
    mixed["entry"][0]["changes"][0]["value"]["messages"].append(new)
    answer = post_webhook("whatsapp", mixed)
    assert answer.body == {"received": 1}
    assert [i["id"] for i in queued_items(channel_aws)] == [new["id"]]


def test_the_same_status_twice_is_a_replay_but_the_next_status_is_not(post_webhook, channel_aws):
    payload = sample_payload("channels_whatsapp_statuses.json")
    statuses = payload["entry"][0]["changes"][0]["value"]["statuses"]
    payload["entry"][0]["changes"][0]["value"]["statuses"] = statuses[:1]
    assert post_webhook("whatsapp", payload).body == {"received": 1}
    assert post_webhook("whatsapp", payload).status == 409
    payload["entry"][0]["changes"][0]["value"]["statuses"] = statuses[1:2]
    assert post_webhook("whatsapp", payload).body == {"received": 1}


def test_a_delivery_the_queue_refuses_is_retryable(post_webhook, channel_aws, monkeypatch):
    from habeas.channels import webhook

    payload = sample_payload("channels_whatsapp_text.json")
    monkeypatch.setattr(webhook.SqsInboundQueue, "send", lambda self, items: list(items))
    assert post_webhook("whatsapp", payload).status == 503
    monkeypatch.undo()
    for key, value in channel_aws.env.items():
        monkeypatch.setenv(key, value)
    # The receipt was released, so Meta's retry is accepted instead of being taken for a replay.
    assert post_webhook("whatsapp", payload).body == {"received": 1}
