"""Rights from the chat, end to end: webhook → queue → worker → consent ledger, audit log and replies."""

from __future__ import annotations

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from habeas import audit, consent, subjects
from habeas.channels.rights import DynamoPendingConfirmations
from habeas.identifiers import Identifier, blind_index, normalise
from habeas.purposes import catalogue
from tests.integration.channels.helpers import ig_text, wa_text

pytestmark = pytest.mark.integration
IG_USER = "7203349169748297"


def phone_subject(e164: str) -> str:
    subject_id = subjects.find(blind_index(normalise(e164)))
    assert subject_id
    return subject_id


def ig_subject() -> str:
    subject_id = subjects.find(blind_index(Identifier("instagram", IG_USER)))
    assert subject_id
    return subject_id


def actions(subject_id: str) -> list[str]:
    return [entry["action"] for entry in audit.entries(subject_id, newest_first=False)]


def requests_of(subject_id: str) -> list[dict]:
    """The data-subject requests the chat filed for the subject."""
    from habeas.requests.store import RequestStore

    return RequestStore().for_subject(subject_id)


def request_details(subject_id: str) -> list[tuple[str, str]]:
    return [
        (entry["action"], entry["detail"]["type"])
        for entry in audit.entries(subject_id, newest_first=False)
        if entry["action"].startswith("request.")
    ]


@pytest.mark.parametrize(
    ("platform", "sender", "text"),
    [
        ("whatsapp", "34612345678", "BAJA"),  # es
        ("whatsapp", "34612345678", "¡Parar!"),  # es, a word shared with pt: Spain answers in Spanish
        ("whatsapp", "5511987654321", "Sair"),  # pt
        ("whatsapp", "5511987654321", "cancelar"),  # pt, a word shared with es: Brazil answers in Portuguese
        ("instagram", IG_USER, "STOP"),  # en (no country known)
        ("whatsapp", "12015550123", "unsubscribe"),  # en
    ],
)
def test_opt_out_withdraws_marketing_at_once_with_the_channel_in_the_history(say, channel_aws, platform, sender, text):
    payload = wa_text(sender, text) if platform == "whatsapp" else ig_text(sender, text)
    assert say(platform, payload) == {"batchItemFailures": []}
    subject_id = ig_subject() if platform == "instagram" else phone_subject(f"+{sender}")
    [withdrawal] = consent.history(subject_id, "marketing")
    assert withdrawal["granted"] is False and withdrawal["channel"] == platform
    assert withdrawal["policy_version"] == catalogue().get("marketing").policy_version
    assert "consent.withdrawn" in actions(subject_id)
    [reply] = channel_aws.graph.texts()
    expected_language = {"34612345678": "es", "5511987654321": "pt"}.get(sender, "en")
    assert withdrawal["locale"] == expected_language
    assert reply.startswith({"es": "Listo", "pt": "Pronto", "en": "Done"}[expected_language])


def test_the_opt_out_reply_goes_to_the_sender_on_its_platform(say, channel_aws):
    say("whatsapp", wa_text("5511987654321", "SAIR"))
    [call] = channel_aws.graph.calls
    assert call["path"].endswith("/106540352242922/messages")
    assert call["body"]["to"] == "5511987654321" and call["body"]["messaging_product"] == "whatsapp"
    say("instagram", ig_text(IG_USER, "stop"))
    assert channel_aws.graph.calls[1]["path"].endswith("/me/messages")
    assert channel_aws.graph.calls[1]["body"]["recipient"] == {"id": IG_USER}


@pytest.mark.parametrize(
    ("platform", "sender", "ask", "confirm", "prompt", "received"),
    [
        ("whatsapp", "34612345678", "Hola, quiero borrar mis datos", "Sí", "¿Confirmas", "Hemos recibido"),
        ("whatsapp", "5511987654321", "Quero APAGAR meus dados!", "sim", "Você confirma", "Recebemos"),
        ("instagram", IG_USER, "please delete my data", "YES", "Do you confirm", "We have received"),
    ],
)
def test_erasure_from_the_chat_asks_for_confirmation_first(
    say, channel_aws, platform, sender, ask, confirm, prompt, received
):
    build = wa_text if platform == "whatsapp" else ig_text
    say(platform, build(sender, ask))
    subject_id = ig_subject() if platform == "instagram" else phone_subject(f"+{sender}")
    # Asked, not started: the intent is recorded and a confirmation is pending.
    assert request_details(subject_id) == [("request.requested_from_chat", "erasure")]
    assert DynamoPendingConfirmations().get(subject_id)["platform"] == platform
    assert channel_aws.graph.texts()[-1].startswith(prompt)
    say(platform, build(sender, confirm))
    assert request_details(subject_id) == [
        ("request.requested_from_chat", "erasure"),
        ("request.confirmed_from_chat", "erasure"),
        ("request.received", "erasure"),
    ]
    assert [(r["type"], r["status"], r["channel"]) for r in requests_of(subject_id)] == [
        ("erasure", "in_progress", platform)
    ]
    assert DynamoPendingConfirmations().get(subject_id) is None
    assert channel_aws.graph.texts()[-1].startswith(received)
    # A second "yes" confirms nothing more.
    say(platform, build(sender, confirm))
    assert len(request_details(subject_id)) == 3 and len(requests_of(subject_id)) == 1


def test_no_cancels_a_pending_erasure(say, channel_aws):
    say("whatsapp", wa_text("34612345678", "borrar mis datos"))
    say("whatsapp", wa_text("34612345678", "NO"))
    subject_id = phone_subject("+34612345678")
    assert [a for a, _ in request_details(subject_id)] == ["request.requested_from_chat", "request.cancelled_from_chat"]
    assert channel_aws.graph.texts()[-1].startswith("De acuerdo")


def test_yes_without_a_pending_erasure_is_just_a_message(say, channel_aws):
    say("whatsapp", wa_text("5511987654321", "sim"))
    assert request_details(phone_subject("+5511987654321")) == []
    assert channel_aws.graph.calls == []


def test_an_expired_confirmation_confirms_nothing(say, channel_aws):
    say("whatsapp", wa_text("5511987654321", "apagar meus dados"))
    subject_id = phone_subject("+5511987654321")
    channel_aws.table("ConversationsTable").update_item(
        Key={"subject_id": subject_id, "sk": "PENDING#erasure"},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": 1},
    )
    say("whatsapp", wa_text("5511987654321", "sim"))
    assert [a for a, _ in request_details(subject_id)] == ["request.requested_from_chat"]


@pytest.mark.parametrize(
    ("sender", "text", "reply"),
    [
        ("34612345678", "quiero mis datos", "Hemos recibido tu solicitud de acceso"),
        ("5511987654321", "Quero meus dados, por favor", "Recebemos sua solicitação de acesso"),
        ("12015550123", "My data", "We have received your request for a copy"),
    ],
)
def test_access_from_the_chat_is_started_at_once(say, channel_aws, sender, text, reply):
    say("whatsapp", wa_text(sender, text))
    subject_id = phone_subject(f"+{sender}")
    assert request_details(subject_id) == [
        ("request.requested_from_chat", "access"),
        ("request.confirmed_from_chat", "access"),
        ("request.received", "access"),
    ]
    assert [(r["type"], r["status"]) for r in requests_of(subject_id)] == [("access", "in_progress")]
    [sent] = channel_aws.graph.texts()
    assert sent.startswith(reply)


def test_a_failed_reply_is_retried_without_withdrawing_twice(post_webhook, run_worker, channel_aws, lambda_context):
    from tests.conftest import import_handler
    from tests.integration.channels.conftest import sqs_event

    assert post_webhook("whatsapp", wa_text("5511987654321", "SAIR")).status == 200
    [queued] = channel_aws.queued()
    handler = import_handler("channel_worker").handler
    channel_aws.graph.fail = True
    # A batch whose every record failed is raised whole (Powertools), so SQS redelivers it.
    with pytest.raises(BatchProcessingError):
        handler(sqs_event([queued]), lambda_context)
    channel_aws.graph.fail = False
    assert handler(sqs_event([queued]), lambda_context) == {"batchItemFailures": []}
    subject_id = phone_subject("+5511987654321")
    assert len(consent.history(subject_id, "marketing")) == 1
    assert len(channel_aws.graph.calls) == 1
