"""The requests worker: one SQS message = one store's part of one request; the last one completes it.

Per message: skip if the request is closed or the store is no longer ``pending`` (a duplicate
delivery changes nothing); count the attempt on the request; run the connector; mark the store
``done`` with a conditional update that also counts it off ``remaining``. A failure raises, so the
batch utility reports it and SQS redelivers it after a growing visibility timeout (backoff); once a
store has failed REQUEST_MAX_ATTEMPTS times the request is marked ``failed`` with the reason, never
``completed``. Messages that cannot even be read end in the dead-letter queue.

Completing runs in whichever message finds ``remaining`` at 0 (the one that counted the last store,
or a redelivery of it after a crash). It is idempotent and ends in one conditional write, so two
concurrent completions finish the request exactly once:

- access / portability: the export document (and CSVs) from every store's part;
- rectification: nothing more to do;
- erasure: no standing legal hold, the keyring shredded last, then a verification pass that asks
  every delete/shred store's connector to ``find`` the subject, and a signed certificate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from pydantic import BaseModel, ConfigDict, Field, Json

from habeas import audit, aws, clock
from habeas.config import get_settings
from habeas.observability import logger, metrics
from habeas.requests import certificate, export
from habeas.requests.service import DEFERRED_STORES, EXPORT_TYPES, RequestType
from habeas.requests.store import TERMINAL, RequestStore

ERASED_STRATEGIES = frozenset({"delete", "shred"})
LEGAL_HOLD = "legal_hold"


class RequestMessage(BaseModel):
    """One store's part of one request (``store`` None: only complete the request)."""

    model_config = ConfigDict(extra="ignore")
    request_id: str = Field(pattern=r"^req_[0-9a-f]{32}$")
    subject_id: str = Field(min_length=1, max_length=128)
    type: RequestType
    store: str | None = Field(None, max_length=64)
    changes: dict[str, str] | None = None


class RequestRecord(SqsRecordModel):
    """An SQS record whose body is a RequestMessage (anything else is a poison record)."""

    body: Json[RequestMessage]  # type: ignore[assignment]


class VerificationIncomplete(RuntimeError):
    """The verification pass still found erasable records; retried, then the request fails."""


def connector_for(store: Any) -> Any:
    """The data map's connector for a store (a seam the fault tests replace)."""
    from habeas.connectors import connector_for as build

    return build(store)


def active_hold(subject_id: str) -> Any:
    """The standing legal hold on the subject, if legal holds are deployed."""
    try:
        from habeas import holds
    except ImportError:  # pragma: no cover - holds ship with the retention work
        return None
    return holds.active_hold(subject_id)


def backoff(receipt_handle: str | None, attempt: int) -> None:
    """Delay the redelivery of a failed message: 10 s, 20 s, 40 s ... at most 15 minutes."""
    queue_url = get_settings().requests_queue_url
    if not receipt_handle or not queue_url:
        return
    try:
        aws.client("sqs").change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=min(900, 10 * 2 ** max(0, attempt - 1))
        )
    except Exception as error:  # the default visibility timeout still applies
        logger.warning("could not delay the redelivery", extra={"error": type(error).__name__})


def _actor(request_id: str) -> audit.Actor:
    return audit.Actor(id="requests-worker", role="system", request_id=request_id)


def _data_map() -> Any:
    from habeas.datamap import data_map

    return data_map()


@dataclass
class RequestWorker:
    """Carries out store parts and completes requests."""

    requests: RequestStore = field(default_factory=RequestStore)
    connector: Callable[[Any], Any] = field(default=lambda store: connector_for(store))
    hold: Callable[[str], Any] = field(default=lambda subject_id: active_hold(subject_id))
    delay: Callable[[str | None, int], None] = field(default=lambda handle, attempt: backoff(handle, attempt))

    # ------------------------------------------------------------ one message
    def handle(self, message: RequestMessage, *, receipt_handle: str | None = None) -> None:
        """Process one message; raises to have SQS deliver it again later."""
        item = self.requests.get(message.request_id)
        if item is None or item["subject_id"] != message.subject_id:
            logger.warning("message for an unknown request dropped", extra={"request_id": message.request_id})
            return
        if item["status"] in TERMINAL:
            return
        if item["status"] != "in_progress":
            raise RuntimeError("request not dispatched yet")  # the API is between its two writes: retry
        if message.store is not None:
            updated = self._store_part(item, message, receipt_handle)
            if updated is None:
                return
            item = updated
        if item["status"] == "in_progress" and int(item.get("remaining", 0)) == 0:
            self.complete(item, receipt_handle)

    def _store_part(
        self, item: dict[str, Any], message: RequestMessage, receipt_handle: str | None
    ) -> dict[str, Any] | None:
        store_name = str(message.store)
        state = (item.get("stores") or {}).get(store_name)
        if state is None or store_name in DEFERRED_STORES:
            logger.warning("message for a store the request does not have", extra={"store": store_name})
            return None
        if state.get("status") != "pending":
            return item  # duplicate delivery: nothing to redo, but the request may still need completing
        if item["type"] == "erasure" and self._held(item):
            return None
        connector = self.connector(_data_map().store(store_name))
        if not connector.applicable():  # decided here, where the store's settings are (e.g. a processor URL)
            skipped = self.requests.store_done(
                item["request_id"], store_name, strategy=None, count=0, outcome="not_applicable"
            )
            return skipped or self.requests.get(item["request_id"])
        counted = self.requests.begin_attempt(item["request_id"], store_name)
        if counted is None:
            return self.requests.get(item["request_id"])  # done or failed meanwhile
        attempt = int(counted["stores"][store_name].get("attempts", 1))
        try:
            strategy, count = self._run(item, store_name, connector, message.changes)
        except Exception as error:
            return self._failed_attempt(counted, store_name, attempt, error, receipt_handle)
        done = self.requests.store_done(item["request_id"], store_name, strategy=strategy, count=count)
        if done is None:  # another delivery finished it first
            return self.requests.get(item["request_id"])
        metrics.add_metric(name="RequestStoreDone", unit="Count", value=1)
        audit.record(
            _actor(item["request_id"]),
            audit.AuditEvent(
                action="request.store_done",
                subject_id=item["subject_id"],
                fields=sorted(message.changes or ()),
                detail={
                    "request_id": item["request_id"],
                    "type": item["type"],
                    "store": store_name,
                    "strategy": strategy,
                    "count": count,
                    "attempts": attempt,
                },
            ),
        )
        return done

    def _run(
        self, item: dict[str, Any], store_name: str, connector: Any, changes: dict[str, str] | None
    ) -> tuple[str | None, int]:
        subject_id, request_id = item["subject_id"], item["request_id"]
        if item["type"] in EXPORT_TYPES:
            records = connector.export(subject_id)
            export.write_part(subject_id, request_id, store_name, records)
            return None, len(records)
        if item["type"] == "rectification":
            return None, int(connector.rectify(subject_id, dict(changes or {}), request_id=request_id))
        outcome = connector.erase(subject_id, request_id=request_id)
        return str(outcome.strategy), int(outcome.count)

    def _failed_attempt(
        self, item: dict[str, Any], store_name: str, attempt: int, error: Exception, receipt_handle: str | None
    ) -> dict[str, Any] | None:
        reason = f"{store_name}: {type(error).__name__}"  # the type only: a message may hold personal data
        logger.warning(
            "store part failed", extra={"request_id": item["request_id"], "store": store_name, "attempt": attempt}
        )
        if attempt < get_settings().request_max_attempts:
            self.delay(receipt_handle, attempt)
            raise error
        self._fail(item, reason, store_name)
        return None

    def _fail(self, item: dict[str, Any], reason: str, store_name: str | None) -> None:
        if self.requests.fail(item["request_id"], reason=reason, store=store_name) is None:
            return
        metrics.add_metric(name="RequestFailed", unit="Count", value=1)
        audit.record(
            _actor(item["request_id"]),
            audit.AuditEvent(
                action="request.failed",
                subject_id=item["subject_id"],
                outcome="failed",
                detail={"request_id": item["request_id"], "type": item["type"], "store": store_name, "reason": reason},
            ),
        )

    def _held(self, item: dict[str, Any]) -> bool:
        """True (and recorded once on the request) while a legal hold stands on the subject."""
        hold = self.hold(item["subject_id"])
        if hold is None:
            return False
        if self.requests.set_reason(item["request_id"], LEGAL_HOLD, "legal_hold") is not None:
            audit.record(
                _actor(item["request_id"]),
                audit.AuditEvent(
                    action="erasure.held",
                    subject_id=item["subject_id"],
                    outcome="deferred",
                    detail={"request_id": item["request_id"], "hold_id": (hold or {}).get("hold_id")},
                ),
            )
        return True

    # ------------------------------------------------------------ completion
    def complete(self, item: dict[str, Any], receipt_handle: str | None = None) -> dict[str, Any] | None:
        """Finish a request whose stores are all done; at most one caller's write wins."""
        if item["type"] == "erasure" and self._held(item):
            return None
        counted = self.requests.count_finalize_attempt(item["request_id"])
        if counted is None:
            return None
        attempt = int(counted.get("finalize_attempts", 1))
        try:
            extra = self._completion(counted)
        except Exception as error:
            logger.warning(
                "completing the request failed",
                extra={"request_id": item["request_id"], "attempt": attempt, "error": type(error).__name__},
            )
            if attempt < get_settings().request_max_attempts:
                self.delay(receipt_handle, attempt)
                raise
            reason = str(error) if isinstance(error, VerificationIncomplete) else f"completion: {type(error).__name__}"
            self._fail(counted, reason, None)
            return None
        completed = self.requests.complete(item["request_id"], extra)
        if completed is None:
            return None  # a concurrent completion won
        if item["type"] == "erasure":
            # The exports store was erased with the rest: earlier requests no longer link to their files.
            for earlier in self.requests.for_subject(item["subject_id"]):
                if earlier.get("export"):
                    self.requests.forget_export(earlier["request_id"], erased_by=item["request_id"])
        metrics.add_metric(name="RequestCompleted", unit="Count", value=1)
        audit.record(
            _actor(item["request_id"]),
            audit.AuditEvent(
                action="request.completed",
                subject_id=item["subject_id"],
                detail={
                    "request_id": item["request_id"],
                    "type": item["type"],
                    "stores": sorted(n for n, s in completed["stores"].items() if s.get("status") == "done"),
                },
            ),
        )
        return completed

    def _completion(self, item: dict[str, Any]) -> dict[str, Any]:
        if item["type"] in EXPORT_TYPES:
            parts = {
                name: export.read_part(item["subject_id"], item["request_id"], name)
                for name, state in item["stores"].items()
                if state.get("status") == "done"
            }
            return {"export": export.write(item, parts, csv_files=item["type"] == "portability")}
        if item["type"] == "erasure":
            return {"certificate": self._verified_erasure(item)}
        return {}

    def _verified_erasure(self, item: dict[str, Any]) -> dict[str, Any]:
        dm = _data_map()
        request_id, subject_id = item["request_id"], item["subject_id"]
        for name in sorted(DEFERRED_STORES):  # the keys go last: nothing may need to decrypt after this
            state = item["stores"].get(name)
            if state and state.get("status") == "pending":
                outcome = self.connector(dm.store(name)).erase(subject_id, request_id=request_id)
                updated = self.requests.store_done(
                    request_id, name, strategy=str(outcome.strategy), count=int(outcome.count), counted=False
                )
                if updated is not None:
                    item = updated
                    audit.record(
                        _actor(request_id),
                        audit.AuditEvent(
                            action="request.store_done",
                            subject_id=subject_id,
                            detail={
                                "request_id": request_id,
                                "type": "erasure",
                                "store": name,
                                "strategy": str(outcome.strategy),
                                "count": int(outcome.count),
                            },
                        ),
                    )
                else:
                    item = self.requests.get(request_id) or item
        remaining: dict[str, int] = {}
        for name, state in sorted(item["stores"].items()):
            if state.get("status") != "done":
                continue
            if dm.store(name).erasure.strategy in ERASED_STRATEGIES:
                remaining[name] = int(self.connector(dm.store(name)).find(subject_id))
        left = {name: count for name, count in remaining.items() if count}
        if left:
            raise VerificationIncomplete("verification: records remain in " + ", ".join(sorted(left)))
        verified_at = clock.rfc3339(clock.now())
        audit.record(
            _actor(request_id),
            audit.AuditEvent(
                action="erasure.verified",
                subject_id=subject_id,
                detail={"request_id": request_id, "stores_checked": sorted(remaining)},
            ),
        )
        payload = certificate.payload_for(item, verified_at=verified_at, verification=remaining)
        return certificate.sign(payload)


# A batch whose every record failed is still a partial response: SQS retries each with its own backoff.
processor = BatchProcessor(event_type=EventType.SQS, model=RequestRecord, raise_on_entire_batch_failure=False)


def handle_record(record: RequestRecord) -> None:
    """The batch utility's record handler (raises to report the record as failed)."""
    RequestWorker().handle(record.body, receipt_handle=record.receiptHandle)
