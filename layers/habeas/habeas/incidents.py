"""Personal-data breach records: the incident, its deadlines, the affected subjects and their notices.

``POST /v1/admin/incidents`` records the incident and computes the notification deadlines at once
(GDPR art. 33: the supervisory authority within 72 hours of discovery; LGPD / ANPD Resolution 15/2024:
the ANPD and the subjects within 3 business days; both configurable). Finding the affected subjects
needs a scan (of the audit log over the incident window, and of each breached store), which never
runs on a request path: an ``assess`` job on the incident queue does it and drafts one notice per
subject in their language (es/pt/en). Nothing is sent until a DPO approves; a ``deliver`` job then
sends each draft once, through the subject's channel (e-mail, WhatsApp or SMS from the profile).

IncidentsTable: ``{incident_id, sk: "META"}`` the incident; ``{incident_id, sk: "NOTICE#<subject_id>"}``
one notice (language, channel kind, status, text; never the destination address, resolved at delivery).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, Literal

import phonenumbers
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, Json

from habeas import audit, aws, clock, consent, messaging, profiles
from habeas.config import get_settings
from habeas.datamap import data_map
from habeas.dynamo import cancelled_by_condition, from_item, to_item
from habeas.errors import Conflict, DeliveryFailed, NotFound, Unprocessable
from habeas.observability import logger, metrics

Language = Literal["es", "pt", "en"]
_SPANISH_REGIONS = {"ES", "MX", "AR", "CL", "CO", "PE", "UY", "PY", "BO", "EC", "VE", "CR", "PA", "GT", "DO"}
_PORTUGUESE_REGIONS = {"BR", "PT", "AO", "MZ"}

NOTICES: dict[str, tuple[str, str]] = {
    "en": (
        "Important: a security incident involving your personal data",
        "We are writing to tell you about a security incident that may affect your personal data.\n"
        "What happened: {what}\nWhen we found out: {discovered}\nData concerned: {categories}\n"
        "What we are doing: we contained the incident, are investigating it and have informed the "
        "data protection authority where the law requires it.\nWhat you can do: be wary of messages "
        "asking for codes, passwords or payments in our name. To ask questions or exercise your rights, "
        "reply to this message or contact our data protection officer.",
    ),
    "es": (
        "Importante: un incidente de seguridad que afecta a sus datos personales",
        "Le escribimos para informarle de un incidente de seguridad que puede afectar a sus datos personales.\n"
        "Qué ocurrió: {what}\nCuándo lo detectamos: {discovered}\nDatos afectados: {categories}\n"
        "Qué estamos haciendo: hemos contenido el incidente, lo estamos investigando y lo hemos comunicado "
        "a la autoridad de protección de datos cuando la ley lo exige.\nQué puede hacer: desconfíe de "
        "mensajes que le pidan códigos, contraseñas o pagos en nuestro nombre. Para consultas o para "
        "ejercer sus derechos, responda a este mensaje o contacte con nuestro delegado de protección de datos.",
    ),
    "pt": (
        "Importante: um incidente de segurança envolvendo seus dados pessoais",
        "Escrevemos para informar sobre um incidente de segurança que pode afetar seus dados pessoais.\n"
        "O que aconteceu: {what}\nQuando descobrimos: {discovered}\nDados envolvidos: {categories}\n"
        "O que estamos fazendo: contivemos o incidente, estamos investigando e comunicamos a ANPD e "
        "demais autoridades quando a lei exige.\nO que você pode fazer: desconfie de mensagens que pedem "
        "códigos, senhas ou pagamentos em nosso nome. Para dúvidas ou para exercer seus direitos, "
        "responda a esta mensagem ou fale com nosso encarregado de dados (DPO).",
    ),
}
CATEGORY_NAMES: dict[str, dict[str, str]] = {
    "en": {"name": "name", "email": "e-mail address", "phone": "phone number", "contact": "postal address",
           "financial": "payment card or bank details", "government_id": "identity document number",
           "conversation": "chat messages", "conversation_original": "chat messages"},
    "es": {"name": "nombre", "email": "correo electrónico", "phone": "teléfono", "contact": "dirección postal",
           "financial": "datos de tarjeta o cuenta bancaria", "government_id": "número de documento de identidad",
           "conversation": "mensajes de chat", "conversation_original": "mensajes de chat"},
    "pt": {"name": "nome", "email": "e-mail", "phone": "telefone", "contact": "endereço",
           "financial": "dados de cartão ou conta bancária", "government_id": "número de documento (CPF/RG)",
           "conversation": "mensagens de chat", "conversation_original": "mensagens de chat"},
}  # fmt: skip


# ---------------------------------------------------------------- deadlines


def add_business_days(start: datetime, days: int) -> datetime:
    """``start`` plus ``days`` working days (Monday to Friday), at the same time of day."""
    moment, left = start, days
    while left > 0:
        moment += timedelta(days=1)
        if moment.isoweekday() <= 5:
            left -= 1
    return moment


def deadlines(discovered_at: datetime) -> dict[str, dict[str, str | None]]:
    """Notification deadlines counted from discovery."""
    settings = get_settings()
    gdpr = discovered_at + timedelta(hours=settings.incident_gdpr_authority_hours)
    anpd = add_business_days(discovered_at, settings.incident_anpd_business_days)
    return {
        "gdpr_authority": {"due_at": clock.rfc3339(gdpr), "basis": "GDPR art. 33(1): supervisory authority"},
        "gdpr_subjects": {"due_at": None, "basis": "GDPR art. 34(1): without undue delay, if high risk"},
        "lgpd_anpd": {"due_at": clock.rfc3339(anpd), "basis": "LGPD art. 48, ANPD Res. 15/2024: ANPD"},
        "lgpd_subjects": {"due_at": clock.rfc3339(anpd), "basis": "LGPD art. 48, ANPD Res. 15/2024: data subjects"},
    }


# ---------------------------------------------------------------- storage and jobs


def _table() -> str:
    return get_settings().require("incidents_table")


def _db() -> Any:
    return aws.client("dynamodb")


def _enqueue(job: str, incident_id: str) -> None:
    aws.client("sqs").send_message(
        QueueUrl=get_settings().require("incident_jobs_queue_url"),
        MessageBody=json.dumps({"job": job, "incident_id": incident_id}),
    )


def _meta(incident_id: str) -> dict[str, Any]:
    response = _db().get_item(
        TableName=_table(), Key=to_item({"incident_id": incident_id, "sk": "META"}), ConsistentRead=True
    )
    if "Item" not in response:
        raise NotFound("no such incident")
    return from_item(response["Item"])


def _notices(incident_id: str) -> Iterator[dict[str, Any]]:
    kwargs: dict[str, Any] = {
        "TableName": _table(),
        "KeyConditionExpression": "incident_id = :i AND begins_with(sk, :n)",
        "ExpressionAttributeValues": to_item({":i": incident_id, ":n": "NOTICE#"}),
        "ConsistentRead": True,
    }
    while True:
        page = _db().query(**kwargs)
        for raw in page.get("Items", []):
            yield from_item(raw)
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _transition(incident_id: str, from_status: str, to_status: str, **values: Any) -> bool:
    sets = ["#status = :to"] + [f"#{k} = :{k}" for k in values]
    names = {"#status": "status", **{f"#{k}": k for k in values}}
    try:
        _db().update_item(
            TableName=_table(),
            Key=to_item({"incident_id": incident_id, "sk": "META"}),
            UpdateExpression="SET " + ", ".join(sets),
            ConditionExpression="#status = :from",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=to_item(
                {":to": to_status, ":from": from_status, **{f":{k}": v for k, v in values.items()}}
            ),
        )
    except ClientError as error:
        if cancelled_by_condition(error):
            return False
        raise
    return True


# ---------------------------------------------------------------- use cases


def _parse_time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Unprocessable(f"{name} must be an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise Unprocessable(f"{name} must carry a time zone (e.g. Z)")
    return moment


def create(
    actor: audit.Actor,
    *,
    what: str,
    discovered_at: str,
    categories: list[str],
    systems: list[str],
    started_at: str | None = None,
    ended_at: str | None = None,
) -> dict[str, Any]:
    """Record an incident, compute its deadlines and queue the search for affected subjects."""
    dm = data_map()
    unknown = sorted(set(categories) - set(dm.categories))
    if unknown:
        raise Unprocessable(f"categories the data map does not know: {', '.join(unknown)}")
    unknown = sorted(set(systems) - set(dm.stores))
    if unknown:
        raise Unprocessable(f"systems must be data map stores; unknown: {', '.join(unknown)}")
    discovered = _parse_time(discovered_at, "discovered_at")
    started, ended = _parse_time(started_at, "started_at"), _parse_time(ended_at, "ended_at")
    assert discovered is not None
    if discovered > clock.now() + timedelta(minutes=5):
        raise Unprocessable("discovered_at is in the future")
    if started and ended and ended < started:
        raise Unprocessable("ended_at is before started_at")
    now = clock.now()
    incident = {
        "incident_id": f"inc_{uuid.uuid4().hex}",
        "sk": "META",
        "what": what.strip(),
        "discovered_at": clock.rfc3339(discovered),
        "started_at": clock.rfc3339(started) if started else None,
        "ended_at": clock.rfc3339(ended) if ended else None,
        "categories": sorted(set(categories)),
        "systems": sorted(set(systems)),
        "status": "assessing",
        "recorded_at": clock.rfc3339(now),
        "recorded_by": actor.id,
        "deadlines": deadlines(discovered),
    }
    _db().put_item(
        TableName=_table(),
        Item=to_item({k: v for k, v in incident.items() if v is not None}),
        ConditionExpression="attribute_not_exists(incident_id)",
    )
    audit.record(
        actor,
        audit.AuditEvent(
            action="incident.recorded",
            subject_id=None,
            detail={
                "incident_id": incident["incident_id"],
                "categories": incident["categories"],
                "systems": incident["systems"],
            },
        ),
    )
    _enqueue("assess", incident["incident_id"])
    return public(incident)


def public(incident: dict[str, Any], notices: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The incident as the API shows it (with a notice summary when given)."""
    shown = {k: v for k, v in incident.items() if k != "sk"}
    if notices is not None:
        by_status: dict[str, int] = {}
        by_language: dict[str, int] = {}
        for notice in notices:
            by_status[notice["status"]] = by_status.get(notice["status"], 0) + 1
            by_language[notice["language"]] = by_language.get(notice["language"], 0) + 1
        shown["notices"] = {
            "by_status": by_status,
            "by_language": by_language,
            "items": [
                {k: n.get(k) for k in ("subject_id", "language", "channel", "status", "sent_at")} for n in notices[:500]
            ],
        }
    return shown


def get(incident_id: str) -> dict[str, Any]:
    """The incident, its deadlines, the affected subjects' count and the notices' state."""
    return public(_meta(incident_id), list(_notices(incident_id)))


def approve(actor: audit.Actor, incident_id: str) -> dict[str, Any]:
    """Let the drafted notices go out (queued); Conflict unless the incident is drafted."""
    _meta(incident_id)
    if not _transition(
        incident_id, "drafted", "approved", approved_by=actor.id, approved_at=clock.rfc3339(clock.now())
    ):
        raise Conflict("only an incident whose notices are drafted can be approved")
    audit.record(
        actor, audit.AuditEvent(action="incident.approved", subject_id=None, detail={"incident_id": incident_id})
    )
    _enqueue("deliver", incident_id)
    return get(incident_id)


# ---------------------------------------------------------------- the assess job (scans: never on a request path)


def _field_categories() -> dict[str, str]:
    names: dict[str, str] = {}
    for store in data_map().stores.values():
        for name, spec in store.fields.items():
            names.setdefault(name, spec.category)
            names[f"{store.name}.{name}"] = spec.category
    return names


def _scan(table: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    kwargs = {"TableName": table, **kwargs}
    while True:
        page = _db().scan(**kwargs)
        for raw in page.get("Items", []):
            yield from_item(raw)
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def subjects_in_audit_window(start: str, end: str, categories: list[str]) -> set[str]:
    """Subjects whose audit entries in [start, end] touch the categories (any field if none named)."""
    field_category = _field_categories()
    found: set[str] = set()
    for entry in _scan(
        get_settings().require("audit_table"),
        FilterExpression="begins_with(#c, :subject) AND #at BETWEEN :from AND :to",
        ProjectionExpression="#c, #f",
        ExpressionAttributeNames={"#c": "chain", "#at": "at", "#f": "fields"},
        ExpressionAttributeValues=to_item({":subject": "subject#", ":from": start, ":to": end}),
    ):
        touched = {field_category.get(str(name)) for name in entry.get("fields") or []}
        if not categories or touched & set(categories):
            found.add(str(entry["chain"]).removeprefix("subject#"))
    return found


def subjects_in_store(store_name: str) -> set[str]:
    """Every subject with records in a DynamoDB store of the data map (a projection scan)."""
    store = data_map().store(store_name)
    if store.kind != "dynamodb" or not store.partition_key:
        return set()
    prefix, _, suffix = store.partition_value.partition("{subject_id}")
    found: set[str] = set()
    for item in _scan(
        store.env_value("table_env"),
        ProjectionExpression="#k",
        ExpressionAttributeNames={"#k": store.partition_key},
    ):
        value = str(item.get(store.partition_key, ""))
        if value.startswith(prefix) and value.endswith(suffix) and len(value) > len(prefix) + len(suffix):
            found.add(value[len(prefix) : len(value) - len(suffix) if suffix else None])
    return found


def language_of(subject_id: str, profile: dict[str, str]) -> Language:
    """The subject's language: their latest consent's locale, else their phone's country, else en."""
    chosen = sorted(
        (c for c in consent.current_consents(subject_id) if c.get("locale") in NOTICES),
        key=lambda c: str(c.get("recorded_at", "")),
    )
    if chosen:
        return chosen[-1]["locale"]  # type: ignore[no-any-return]
    phone = profile.get("phone")
    if phone:
        try:
            region = phonenumbers.region_code_for_number(phonenumbers.parse(phone))
        except phonenumbers.NumberParseException:
            region = None
        if region in _PORTUGUESE_REGIONS:
            return "pt"
        if region in _SPANISH_REGIONS:
            return "es"
    return "en"


def _last_platform(subject_id: str) -> str | None:
    from habeas.console import recent_conversations

    try:
        newest = recent_conversations(subject_id, 1)
    except Exception:  # noqa: BLE001 - no conversations table here: e-mail or SMS will do
        return None
    return str(newest[0].get("platform")) if newest else None


def channel_for(subject_id: str, profile: dict[str, str]) -> str:
    """How to reach the subject: email, whatsapp or sms from the profile; ``none`` if no address is held."""
    if profile.get("email"):
        return "email"
    if profile.get("phone"):
        return "whatsapp" if _last_platform(subject_id) == "whatsapp" else "sms"
    return "none"  # identifiers are held only as blind indexes: no plaintext address to write to


def draft(incident: dict[str, Any], language: str) -> tuple[str, str]:
    """The notice's subject line and text in ``language``."""
    title, body = NOTICES.get(language, NOTICES["en"])
    names = CATEGORY_NAMES.get(language, CATEGORY_NAMES["en"])
    categories = ", ".join(dict.fromkeys(names.get(c, c) for c in incident.get("categories", []))) or "-"
    return title, body.format(what=incident["what"], discovered=incident["discovered_at"][:10], categories=categories)


def assess(incident_id: str) -> int:
    """Find the affected subjects and draft their notices; returns how many. Idempotent."""
    incident = _meta(incident_id)
    if incident["status"] != "assessing":
        return int(incident.get("affected_subjects", 0))
    affected: set[str] = set()
    if incident.get("started_at"):
        end = incident.get("ended_at") or incident["discovered_at"]
        affected |= subjects_in_audit_window(incident["started_at"], end, incident.get("categories", []))
    not_enumerated = []
    for name in incident.get("systems", []):
        if data_map().store(name).kind == "dynamodb":
            affected |= subjects_in_store(name)
        else:
            not_enumerated.append(name)
    by_language: dict[str, int] = {}
    for subject_id in sorted(affected):
        item = profiles.subject_item(subject_id)
        profile = profiles.decrypt_profile(subject_id, item) if item else {}
        language = language_of(subject_id, profile)
        channel = channel_for(subject_id, profile)
        title, text = draft(incident, language)
        by_language[language] = by_language.get(language, 0) + 1
        _db().put_item(
            TableName=_table(),
            Item=to_item(
                {
                    "incident_id": incident_id,
                    "sk": f"NOTICE#{subject_id}",
                    "subject_id": subject_id,
                    "language": language,
                    "channel": channel,
                    "status": "draft" if channel != "none" else "unreachable",
                    "title": title,
                    "text": text,
                }
            ),
        )
    _transition(
        incident_id,
        "assessing",
        "drafted",
        affected_subjects=len(affected),
        notices_by_language=by_language,
        systems_not_enumerated=not_enumerated,
        assessed_at=clock.rfc3339(clock.now()),
    )
    metrics.add_metric(name="IncidentSubjectsAffected", unit="Count", value=len(affected))
    return len(affected)


# ---------------------------------------------------------------- the deliver job


def _send(channel: str, profile: dict[str, str], title: str, text: str) -> None:
    try:
        if channel == "email":
            aws.client("ses").send_email(
                Source=get_settings().require("sender_email"),
                Destination={"ToAddresses": [profile["email"]]},
                Message={
                    "Subject": {"Data": title, "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": text, "Charset": "UTF-8"}},
                },
            )
        elif channel == "whatsapp":
            messaging.send_whatsapp_text(profile["phone"], f"{title}\n\n{text}")
        else:
            aws.client("sns").publish(PhoneNumber=profile["phone"], Message=f"{title}\n\n{text}")
    except (ClientError, BotoCoreError) as error:
        raise DeliveryFailed("the notice could not be delivered") from error


def deliver(incident_id: str) -> int:
    """Send every drafted notice of an approved incident once; returns how many were sent now."""
    incident = _meta(incident_id)
    if incident["status"] not in ("approved", "notifying"):
        logger.warning("delivery asked for an incident not approved", extra={"incident_id": incident_id})
        return 0
    _transition(incident_id, "approved", "notifying")
    sent = failed = 0
    actor = audit.Actor(id="incident-notifier", role="system")
    for notice in _notices(incident_id):
        if notice["status"] != "draft":
            continue
        subject_id = notice["subject_id"]
        item = profiles.subject_item(subject_id)
        profile = profiles.decrypt_profile(subject_id, item) if item else {}
        address = profile.get("email") if notice["channel"] == "email" else profile.get("phone")
        if not address:
            status = "unreachable"
        else:
            try:
                _send(notice["channel"], profile, notice["title"], notice["text"])
            except DeliveryFailed:
                failed += 1  # stays a draft: the job's retry sends it (and only it) again
                continue
            status = "sent"
        _db().update_item(
            TableName=_table(),
            Key=to_item({"incident_id": incident_id, "sk": notice["sk"]}),
            UpdateExpression="SET #status = :s, sent_at = :now",
            ConditionExpression="#status = :draft",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=to_item({":s": status, ":draft": "draft", ":now": clock.rfc3339(clock.now())}),
        )
        if status == "sent":
            sent += 1
            audit.record(
                actor,
                audit.AuditEvent(
                    action="incident.notice_sent",
                    subject_id=subject_id,
                    detail={"incident_id": incident_id, "channel": notice["channel"], "language": notice["language"]},
                ),
            )
    if failed:
        metrics.add_metric(name="IncidentNoticesFailed", unit="Count", value=failed)
        raise DeliveryFailed(f"{failed} notices could not be delivered; the job will retry them")
    _transition(incident_id, "notifying", "notified", notified_at=clock.rfc3339(clock.now()))
    return sent


class IncidentJob(BaseModel):
    job: Literal["assess", "deliver"]
    incident_id: str


class IncidentJobRecord(SqsRecordModel):
    """An SQS record whose body is one incident job."""

    body: Json[IncidentJob]  # type: ignore[assignment]


def handle_job(record: IncidentJobRecord) -> int:
    """Run one queued job (any exception fails this record alone: retried, then dead-lettered)."""
    job = record.body
    try:
        return assess(job.incident_id) if job.job == "assess" else deliver(job.incident_id)
    except NotFound:
        # No retry can make an unknown incident exist: drop the job rather than dead-letter it.
        logger.warning("job for an unknown incident dropped", extra={"incident_id": job.incident_id})
        return 0
