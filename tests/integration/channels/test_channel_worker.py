"""The ChannelWorkerFunction handler against moto: subjects, redaction, storage, duplicates, poison records."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from boto3.dynamodb.conditions import Key

from habeas import audit, subjects
from habeas.identifiers import blind_index, normalise
from tests.integration.channels.helpers import ig_text, sample_payload, wa_text

pytestmark = pytest.mark.integration


def conversation(channel_aws, subject_id: str, prefix: str = "MSG#") -> list[dict]:
    table = channel_aws.table("ConversationsTable")
    return table.query(KeyConditionExpression=Key("subject_id").eq(subject_id) & Key("sk").begins_with(prefix))["Items"]


def subject_of(identifier: str) -> str | None:
    return subjects.find(blind_index(normalise(identifier)))


def actions(subject_id: str) -> list[str]:
    return [entry["action"] for entry in audit.entries(subject_id, newest_first=False)]


def test_a_wa_id_and_the_e164_number_it_verifies_with_are_the_same_subject(say, channel_aws):
    # GIVEN a subject who verified "+55 11 98765-4321" on the portal (the verification flow's own steps)
    verified, _ = subjects.find_or_create(blind_index(normalise("+55 11 98765-4321")), "phone")
    # WHEN WhatsApp delivers a message from wa_id 5511987654321
    assert say("whatsapp", wa_text("5511987654321", "oi")) == {"batchItemFailures": []}
    # THEN it is stored under that subject
    assert [m["text"] for m in conversation(channel_aws, verified)] == ["oi"]


def test_an_unknown_sender_becomes_a_subject_that_verifying_later_finds(say, channel_aws):
    assert subject_of("+34612345678") is None
    say("whatsapp", wa_text("34612345678", "hola"))
    subject_id = subject_of("+34612345678")
    assert subject_id is not None
    assert len(conversation(channel_aws, subject_id)) == 1


def test_the_stored_message_is_redacted_with_its_fields_and_retention(say, channel_aws):
    say(
        "whatsapp", wa_text("5511987654321", "meu email é ana@example.com", message_id="wamid.X1", timestamp=1795388400)
    )
    subject_id = subject_of("+5511987654321")
    [message] = conversation(channel_aws, subject_id)
    assert message["sk"] == "MSG#2026-11-22T23:00:00.000Z#whatsapp#wamid.X1"
    assert "ana@example.com" not in json.dumps(message, default=str)
    assert message["platform"] == "whatsapp" and message["direction"] == "inbound" and message["type"] == "text"
    assert message["redacted_types"] == ["email"]
    assert message["received_at"] and message["stage"] == "done"
    expires = datetime.fromtimestamp(int(message["expires_at"]), UTC)
    assert timedelta(days=89) < expires - datetime.now(UTC) <= timedelta(days=90)
    # Original text is off by default: nothing else is stored for the subject.
    assert conversation(channel_aws, subject_id, "ORIGINAL#") == []


def test_the_original_text_is_kept_encrypted_for_seven_days_only_when_configured(say, channel_aws, monkeypatch):
    pytest.importorskip("habeas.keys.cipher")
    from habeas import config
    from habeas.keys.cipher import FieldCipher, is_ciphertext
    from habeas.keys.keyring import default_keyring

    monkeypatch.setenv("CHANNEL_KEEP_ORIGINAL_TEXT", "true")
    config.get_settings.cache_clear()
    say("whatsapp", wa_text("5511987654321", "meu email é ana@example.com"))
    subject_id = subject_of("+5511987654321")
    [original] = conversation(channel_aws, subject_id, "ORIGINAL#")
    assert is_ciphertext(original["original_text"]) and "ana@" not in original["original_text"]
    expires = datetime.fromtimestamp(int(original["expires_at"]), UTC)
    assert timedelta(days=6) < expires - datetime.now(UTC) <= timedelta(days=7)
    plain = FieldCipher(default_keyring()).decrypt(
        subject_id,
        original["original_text"],
        table=channel_aws.env["CONVERSATIONS_TABLE"],
        item_key={"subject_id": subject_id, "sk": original["sk"]},
        attribute="original_text",
    )
    assert plain == "meu email é ana@example.com"


def test_every_processed_message_is_audited_by_the_channel_without_its_text(say, channel_aws):
    say("instagram", ig_text("7203349169748297", "hello, my email is bob@example.com"))
    from habeas.identifiers import Identifier

    subject_id = subjects.find(blind_index(Identifier("instagram", "7203349169748297")))
    [entry] = list(audit.entries(subject_id))
    assert entry["action"] == "channel.message_received"
    assert (entry["actor"], entry["role"]) == ("channel:instagram", "channel")
    assert entry["fields"] == ["text"]
    assert "bob" not in json.dumps(entry, default=str) and "7203349169748297" not in json.dumps(entry, default=str)


def test_media_messages_are_stored_with_their_media_id_and_nothing_is_downloaded(say, channel_aws):
    say("whatsapp", sample_payload("channels_whatsapp_media.json"))
    messages = conversation(channel_aws, subject_of("+5511987654321"))
    assert sorted(m["type"] for m in messages) == ["audio", "document", "image", "sticker", "video"]
    image = next(m for m in messages if m["type"] == "image")
    assert image["media_id"] == "1479537139650973" and image["text"] == "foto do recibo"
    assert channel_aws.graph.calls == []  # no Graph API call: no download, no reply


def test_statuses_are_dropped_without_storing_anything(say, channel_aws):
    assert say("whatsapp", sample_payload("channels_whatsapp_statuses.json")) == {"batchItemFailures": []}
    assert channel_aws.table("ConversationsTable").scan(FilterExpression=Key("sk").begins_with("MSG#"))["Items"] == []
    assert subject_of("+5511987654321") is None


def test_a_duplicate_sqs_delivery_stores_and_audits_once(post_webhook, channel_aws, lambda_context):
    assert post_webhook("whatsapp", wa_text("5511987654321", "oi")).status == 200
    [queued] = channel_aws.queued()
    from tests.conftest import import_handler
    from tests.integration.channels.conftest import sqs_event

    handler = import_handler("channel_worker").handler
    twice = sqs_event([queued, {**queued, "messageId": queued["messageId"] + "-again"}])
    assert handler(twice, lambda_context) == {"batchItemFailures": []}
    assert handler(sqs_event([queued]), lambda_context) == {"batchItemFailures": []}
    subject_id = subject_of("+5511987654321")
    assert len(conversation(channel_aws, subject_id)) == 1
    assert actions(subject_id) == ["channel.message_received"]


def test_a_poison_record_fails_alone_in_a_mixed_batch(post_webhook, run_worker, channel_aws):
    assert post_webhook("whatsapp", sample_payload("channels_whatsapp_interactive.json")).status == 200
    poison = ['{"platform": "whatsapp", "kind": "message"', json.dumps({"platform": "fax", "kind": "message"})]
    response = run_worker(extra_bodies=poison)
    assert len(response["batchItemFailures"]) == 2
    # The three good records were processed despite the two poison ones.
    assert len(conversation(channel_aws, subject_of("+5511987654321"))) == 3


def test_the_sample_sqs_event_fails_only_its_poison_record(channel_aws, lambda_context):
    from tests.conftest import import_handler, load_event

    event = load_event("channels_worker_sqs.json")
    response = import_handler("channel_worker").handler(event, lambda_context)
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == [event["Records"][-1]["messageId"]]
