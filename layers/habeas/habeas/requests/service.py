"""The data-subject request lifecycle: file, fan out per store, read back, list for the DPO.

A request is recorded (``received``), then one SQS message per applicable store is sent and it
moves to ``in_progress``; ``habeas.requests.worker`` carries out each store's part and completes
it. Rectification ``changes`` travel only inside the (KMS-encrypted) queue messages of the stores
that hold those fields: the request item itself never holds personal data.
"""

from __future__ import annotations

import calendar
import contextvars
import json
import re
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Literal

from habeas import audit, aws, clock
from habeas.config import get_settings
from habeas.errors import NotFound, Unprocessable
from habeas.idempotency import once
from habeas.observability import logger
from habeas.requests import certificate, export
from habeas.requests.store import STATUSES, TERMINAL, RequestStore
from habeas.retention import activity

RequestType = Literal["access", "portability", "rectification", "erasure"]
Regulation = Literal["gdpr", "lgpd", "ccpa"]
REQUEST_TYPES: tuple[str, ...] = ("access", "portability", "rectification", "erasure")
REGULATIONS: tuple[str, ...] = ("gdpr", "lgpd", "ccpa")
EXPORT_TYPES = frozenset({"access", "portability"})
# Stores whose part is not a message of its own: the keyring is shredded last, when completing.
DEFERRED_STORES = frozenset({"keyring"})
# Stores never acted on by a request: the requests table is the proof the request was handled.
NEVER_APPLICABLE = frozenset({"requests"})
_REQUEST_ID = re.compile(r"^req_[0-9a-f]{32}$")
_DURATION = re.compile(r"^P(\d{1,3})([MD])$")

# Who files the request; kept out of the idempotency payload (it differs between retries).
_actor: contextvars.ContextVar[audit.Actor | None] = contextvars.ContextVar("request_actor", default=None)


class DispatchFailed(RuntimeError):
    """Some store messages could not be queued; the request was marked failed."""


# ---------------------------------------------------------------- deadlines


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` plus calendar months, the day clamped to the target month's length (Jan 31 + 1 = Feb 28/29)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def due_at(created: datetime, regulation: str) -> datetime:
    """When the answer is due under ``regulation`` (REQUEST_DEADLINES: GDPR 1 month, LGPD 15 days, CCPA 45 days)."""
    spec = get_settings().request_deadlines.get(regulation)
    match = _DURATION.match(spec or "")
    if match is None:
        raise Unprocessable(f"no deadline is configured for regulation {regulation}")
    amount, unit = int(match.group(1)), match.group(2)
    return add_months(created, amount) if unit == "M" else created + timedelta(days=amount)


# ---------------------------------------------------------------- planning


def plan(request_type: str, changes: dict[str, str] | None) -> dict[str, str]:
    """Each data-map store's starting state for a request: ``pending`` or ``not_applicable``.

    Decided from the data map alone; whether a deployment uses a store (an external processor with no
    endpoint) is the worker's call, where that store's settings are.
    """
    from habeas.datamap import data_map

    dm = data_map()
    touched: set[str] = set()
    if request_type == "rectification":
        places = dm.rectifiable()
        touched = {store.name for field in changes or {} for store, _ in places[field]}
    states: dict[str, str] = {}
    for name in dm.stores:
        if name in NEVER_APPLICABLE:
            applicable = False
        elif request_type in EXPORT_TYPES:
            # Earlier exports are copies, and wrapped keys mean nothing to the subject.
            applicable = name not in ("exports", *DEFERRED_STORES)
        elif request_type == "rectification":
            applicable = name in touched
        else:
            applicable = True
        states[name] = "pending" if applicable else "not_applicable"
    return states


def validate_changes(subject_id: str, request_type: str, changes: dict[str, Any] | None) -> dict[str, str] | None:
    """Rectification changes checked against the data map and normalised (422/409 before anything is written)."""
    if request_type != "rectification":
        if changes is not None:
            raise Unprocessable("changes is only accepted for a rectification")
        return None
    from habeas.datamap import data_map

    dm = data_map()
    normalised = dm.validate_changes(changes)
    places = dm.rectifiable()
    for field, value in normalised.items():
        kind = places[field][0][0].fields[field].identifier
        if kind is not None:
            from habeas.connectors.identifiers import ensure_available
            from habeas.identifiers import Identifier

            ensure_available(subject_id, Identifier(kind, value))
    return normalised


def _store_changes(store_name: str, changes: dict[str, str] | None) -> dict[str, str] | None:
    if changes is None:
        return None
    from habeas.datamap import data_map

    fields = data_map().store(store_name).fields
    return {field: value for field, value in changes.items() if field in fields}


# ---------------------------------------------------------------- filing


def create_request(
    subject_id: str,
    request_type: str,
    *,
    actor: audit.Actor,
    regulation: str | None = None,
    changes: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """File a request: validate, record, fan out. Returns ``{request_id, type, status, due_at}``.

    With ``idempotency_key`` a repeat with the same body returns the first answer and creates nothing.
    """
    if request_type not in REQUEST_TYPES:
        raise Unprocessable("type must be one of access, portability, rectification, erasure")
    regulation = regulation or get_settings().default_regulation
    if regulation not in REGULATIONS:
        raise Unprocessable("regulation must be one of gdpr, lgpd, ccpa")
    normalised = validate_changes(subject_id, request_type, changes)
    payload = {"subject_id": subject_id, "type": request_type, "regulation": regulation, "changes": normalised}
    token = _actor.set(actor)
    try:
        return once(_file, payload, key=idempotency_key, scope=f"requests:{subject_id}")
    finally:
        _actor.reset(token)


def _requests_period_days() -> int:
    from habeas.datamap import data_map

    return int(data_map().store("requests").erasure.period_days or 0)


def _file(payload: dict[str, Any]) -> dict[str, Any]:
    subject_id, request_type = payload["subject_id"], payload["type"]
    changes: dict[str, str] | None = payload.get("changes")
    actor = _actor.get() or audit.Actor(id=subject_id, role="subject")
    now = clock.now()
    request_id = f"req_{uuid.uuid4().hex}"
    states = plan(request_type, changes)
    counted = [name for name, state in states.items() if state == "pending" and name not in DEFERRED_STORES]
    item = {
        "request_id": request_id,
        "subject_id": subject_id,
        "type": request_type,
        "regulation": payload["regulation"],
        "status": "received",
        # Where it was filed: "portal", or the platform of a chat ("channel:whatsapp" -> "whatsapp").
        "channel": actor.id.split(":", 1)[-1] if actor.role == "channel" else "portal",
        "created_at": clock.rfc3339(now),
        "due_at": clock.rfc3339(due_at(now, payload["regulation"])),
        "remaining": len(counted),
        "fields": sorted(changes) if changes else None,
        "stores": {name: {"status": state} for name, state in states.items()},
        "history": [{"at": clock.rfc3339(now), "event": "received"}],
        # Kept as proof the request was handled for the period the data map's requests store declares.
        "expires_at": int((now + timedelta(days=_requests_period_days())).timestamp()),
    }
    requests = RequestStore()
    requests.put_new(item)
    # A request that could not be audited or whose messages could not be queued is failed at once
    # rather than left open with nothing to carry it out.
    try:
        activity.touch(subject_id)  # filing a request is the subject's activity (retention anchor)
        audit.record(
            actor,
            audit.AuditEvent(
                action="request.received",
                subject_id=subject_id,
                fields=sorted(changes or ()),
                detail={"request_id": request_id, "type": request_type, "regulation": payload["regulation"]},
            ),
        )
        messages = [
            _message(request_id, subject_id, request_type, store, _store_changes(store, changes)) for store in counted
        ]
        if not messages:  # nothing to fan out: go straight to completion
            messages = [_message(request_id, subject_id, request_type, None, None)]
        # In progress before the first message can reach a worker.
        requests.transition(request_id, from_status="received", to_status="in_progress", event="dispatched")
        send(messages)
    except Exception:
        _fail_filing(requests, request_id, subject_id, actor)
        raise
    return {"request_id": request_id, "type": request_type, "status": "in_progress", "due_at": item["due_at"]}


def _fail_filing(requests: RequestStore, request_id: str, subject_id: str, actor: audit.Actor) -> None:
    """Fail a request whose filing broke half-way (and say so in the audit log), keeping the first error."""
    try:
        requests.fail(request_id, reason="dispatch_failed")
        audit.record(
            actor,
            audit.AuditEvent(
                action="request.failed",
                subject_id=subject_id,
                outcome="failed",
                detail={"request_id": request_id, "reason": "dispatch_failed"},
            ),
        )
    except Exception:  # noqa: BLE001 - the caller raises the error that broke the filing
        logger.exception("could not record a failed filing", extra={"request_id": request_id})


def _message(
    request_id: str, subject_id: str, request_type: str, store: str | None, changes: dict[str, str] | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"request_id": request_id, "subject_id": subject_id, "type": request_type, "store": store}
    if changes:
        body["changes"] = changes
    return body


def send(messages: list[dict[str, Any]], *, attempts: int = 3) -> None:
    """Queue store messages in batches of 10, retrying entries SQS reports as failed."""
    queue_url = get_settings().require("requests_queue_url")
    sqs = aws.client("sqs")
    pending = {str(index): message for index, message in enumerate(messages)}
    for _ in range(attempts):
        failed: dict[str, dict[str, Any]] = {}
        ids = list(pending)
        for start in range(0, len(ids), 10):
            chunk = ids[start : start + 10]
            response = sqs.send_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": entry_id, "MessageBody": json.dumps(pending[entry_id])} for entry_id in chunk],
            )
            for failure in response.get("Failed", []):
                failed[failure["Id"]] = pending[failure["Id"]]
        if not failed:
            return
        pending = failed
    raise DispatchFailed(f"{len(pending)} store message(s) could not be queued")


def resume(request_id: str, *, actor: audit.Actor) -> dict[str, Any] | None:
    """Re-queue the pending stores of an open request (e.g. once a legal hold is lifted)."""
    requests = RequestStore()
    item = requests.get(request_id)
    if item is None or item["status"] != "in_progress":
        return None
    item = requests.set_reason(request_id, None, "resumed") or item
    pending = [
        name
        for name, state in (item.get("stores") or {}).items()
        if state.get("status") == "pending" and name not in DEFERRED_STORES
    ]
    stores: Iterable[str | None] = pending or [None]
    send([_message(request_id, item["subject_id"], item["type"], store, None) for store in stores])
    audit.record(
        actor,
        audit.AuditEvent(action="request.resumed", subject_id=item["subject_id"], detail={"request_id": request_id}),
    )
    return item


def resume_held(subject_id: str, *, actor: audit.Actor) -> list[str]:
    """Continue the subject's erasures that a legal hold kept waiting (call once the last hold is lifted)."""
    waiting = [
        item["request_id"]
        for item in RequestStore().for_subject(subject_id)
        if item["status"] == "in_progress" and item.get("status_reason") == "legal_hold"
    ]
    for request_id in waiting:
        resume(request_id, actor=actor)
    return waiting


def start_from_channel(subject_id: str, request_type: str, actor: audit.Actor) -> dict[str, Any]:
    """A request confirmed in a chat (access or erasure), under the deployment's default regulation."""
    return create_request(subject_id, request_type, actor=actor)


# ---------------------------------------------------------------- reading


def _public(item: dict[str, Any], *, links: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "request_id": item["request_id"],
        "type": item["type"],
        "status": item["status"],
        "regulation": item["regulation"],
        "created_at": item["created_at"],
        "due_at": item["due_at"],
        "completed_at": item.get("completed_at"),
        "stores": {name: state.get("status", "pending") for name, state in (item.get("stores") or {}).items()},
    }
    if item.get("status_reason"):
        view["status_reason"] = item["status_reason"]
    if item.get("fields"):
        view["fields"] = item["fields"]
    if links and item["status"] == "completed" and item["type"] in EXPORT_TYPES and item.get("export"):
        view["export_url"] = export.presigned_url(item["export"]["key"])
        files = item["export"].get("files") or {}
        if files:
            view["export_files"] = {store: export.presigned_url(key) for store, key in sorted(files.items())}
    signed = item.get("certificate")
    if links and signed:
        view["certificate"] = {**signed, "public_key_pem": certificate.public_key_pem(signed["key_id"])}
    return view


def _check_id(request_id: str) -> None:
    if not _REQUEST_ID.match(request_id):
        raise NotFound("no such request")


def get_request(subject_id: str, request_id: str) -> dict[str, Any]:
    """One of the subject's requests; NotFound for unknown ids and for other subjects' requests alike."""
    _check_id(request_id)
    item = RequestStore().get(request_id)
    if item is None or item["subject_id"] != subject_id:
        raise NotFound("no such request")
    return _public(item, links=True)


def list_requests(subject_id: str, *, limit: int = 100) -> list[dict[str, Any]]:
    """The subject's requests, newest first (no links: GET one request for its export or certificate)."""
    return [_public(item, links=False) for item in RequestStore().for_subject(subject_id, limit=limit)]


def _overdue(item: dict[str, Any], now: str) -> bool:
    return item["status"] not in ("completed", "rejected") and item["due_at"] < now


def admin_list(*, status: str | None = None, overdue_only: bool = False, limit: int = 100) -> dict[str, Any]:
    """Requests for the DPO (newest first) with overdue flags and per-store failures, and the dead letters."""
    statuses = [status] if status else list(STATUSES)
    requests = RequestStore()
    items = [item for wanted in statuses for item in requests.by_status(wanted, limit=limit)]
    items.sort(key=lambda item: item["created_at"], reverse=True)
    now = clock.rfc3339(clock.now())
    dead = dead_letters()
    parked = {letter.get("request_id") for letter in dead}
    listed = []
    for item in items:
        overdue = _overdue(item, now)
        if overdue_only and not overdue:
            continue
        view = _public(item, links=False)
        view["subject_id"] = item["subject_id"]
        view["overdue"] = overdue
        view["dead_lettered"] = item["request_id"] in parked
        view["failures"] = {
            name: {"error": state.get("error") or "retrying", "attempts": int(state.get("attempts", 0))}
            for name, state in (item.get("stores") or {}).items()
            if state.get("status") == "failed" or (state.get("status") == "pending" and state.get("attempts"))
        }
        listed.append(view)
        if len(listed) >= limit:
            break
    return {"requests": listed, "dead_letters": dead}


def dead_letters(*, max_messages: int = 50) -> list[dict[str, Any]]:
    """Store messages parked in the dead-letter queue (peeked, not removed): ids only, never a body."""
    queue_url = get_settings().requests_dlq_url
    if not queue_url:
        return []
    sqs = aws.client("sqs")
    seen: dict[str, dict[str, Any]] = {}
    for _ in range(5):
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=0,  # a peek: the messages stay where they are
            AttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
        ).get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in seen]
        if not fresh:
            break
        for message in fresh:
            seen[message["MessageId"]] = _letter(message)
        if len(seen) >= max_messages:
            break
    return sorted(seen.values(), key=lambda letter: letter["sent_at"] or "")


def _letter(message: dict[str, Any]) -> dict[str, Any]:
    try:
        body = json.loads(message["Body"])
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    attributes = message.get("Attributes") or {}
    sent = attributes.get("SentTimestamp")
    return {
        "message_id": message["MessageId"],
        "request_id": body.get("request_id") if isinstance(body.get("request_id"), str) else None,
        "store": body.get("store") if isinstance(body.get("store"), str) else None,
        "receive_count": int(attributes.get("ApproximateReceiveCount", 0)),
        "sent_at": clock.rfc3339(datetime.fromtimestamp(int(sent) / 1000, clock.now().tzinfo)) if sent else None,
        "readable": bool(body.get("request_id")),
    }


__all__ = [
    "REQUEST_TYPES",
    "TERMINAL",
    "admin_list",
    "create_request",
    "dead_letters",
    "due_at",
    "get_request",
    "list_requests",
    "plan",
    "resume",
    "resume_held",
    "start_from_channel",
]
