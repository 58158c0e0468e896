"""Delivery of one-time codes: SES for email, SNS for SMS, the Graph API for WhatsApp."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from habeas import aws, messaging
from habeas.config import get_settings
from habeas.errors import DeliveryFailed
from habeas.identifiers import Identifier
from habeas.observability import logger

_TEXTS = {
    "es": ("Tu código de verificación", "Tu código de verificación es {code}. Caduca en 10 minutos. No lo compartas."),
    "pt": ("Seu código de verificação", "Seu código de verificação é {code}. Expira em 10 minutos. Não o compartilhe."),
    "en": ("Your verification code", "Your verification code is {code}. It expires in 10 minutes. Do not share it."),
}


def send_code(identifier: Identifier, channel: str, code: str, locale: str) -> None:
    """Send ``code`` to ``identifier`` over ``channel`` (``email``, ``sms`` or ``whatsapp``)."""
    subject, body = _TEXTS.get(locale, _TEXTS["en"])
    text = body.format(code=code)
    try:
        if channel == "whatsapp":
            messaging.send_whatsapp_text(identifier.value, text)
        elif channel == "email":
            aws.client("ses").send_email(
                Source=get_settings().require("sender_email"),
                Destination={"ToAddresses": [identifier.value]},
                Message={
                    "Subject": {"Data": subject, "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": text, "Charset": "UTF-8"}},
                },
            )
        else:
            aws.client("sns").publish(
                PhoneNumber=identifier.value,
                Message=text,
                MessageAttributes={"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}},
            )
    except (ClientError, BotoCoreError) as error:
        # The identifier is personal data: log only the channel and the error class.
        logger.warning("code delivery failed", extra={"channel": channel, "error": type(error).__name__})
        raise DeliveryFailed("the code could not be delivered; try again later") from error
