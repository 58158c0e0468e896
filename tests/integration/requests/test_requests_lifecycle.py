"""The worker carries out each store's part and completes a request exactly once, through faults:
duplicate deliveries, a store failing then recovering, a worker killed between stores, throttled
batch writes, a store that never recovers, a poison message."""

from __future__ import annotations

import json
import urllib.request
import uuid

import pytest
from botocore.exceptions import ClientError

from habeas import audit, aws
from habeas.requests import worker as worker_module
from tests.integration.requests.conftest import (
    file_request,
    read_request,
    seed_conversation,
    seed_profile,
)

pytestmark = pytest.mark.integration


def _completed_entries(subject_id: str) -> list[dict]:
    return [e for e in audit.entries(subject_id, newest_first=False) if e["action"] == "request.completed"]


def _actions(subject_id: str) -> list[str]:
    return [e["action"] for e in audit.entries(subject_id, newest_first=False)]


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url) as response:  # noqa: S310 - the embedded S3
        return response.read()


class Flaky:
    """Wraps a store's connector so that one operation fails ``failures`` times (or forever)."""

    def __init__(self, store: str, operation: str, failures: int | None) -> None:
        self.store, self.operation, self.failures, self.calls = store, operation, failures, 0

    def install(self, monkeypatch) -> None:
        real = worker_module.connector_for

        def connector_for(store):
            connector = real(store)
            if store.name != self.store:
                return connector
            original = getattr(connector, self.operation)

            def flaky(*args, **kwargs):
                self.calls += 1
                if self.failures is None or self.calls <= self.failures:
                    raise ConnectionError("store unreachable")
                return original(*args, **kwargs)

            setattr(connector, self.operation, flaky)
            return connector

        monkeypatch.setattr(worker_module, "connector_for", connector_for)


@pytest.fixture
def seeded(call, subject, use_function):
    """A subject with a profile, a conversation and a consent."""
    purposes = call("ApiFunction", "GET", "/v1/purposes").body["purposes"]
    marketing = next(p for p in purposes if p["purpose"] == "marketing")
    granted = call(
        "ApiFunction",
        "PUT",
        "/v1/consents/marketing",
        route="/v1/consents/{purpose}",
        body={"granted": True, "policy_version": marketing["policy_version"], "channel": "portal"},
        headers=subject["auth"],
    )
    assert granted.status == 200
    use_function("RequestsWorkerFunction")
    seed_profile(subject["subject_id"], name="Ana Souza", email=subject["email"], address="Rua A 1, São Paulo")
    seed_conversation(subject["subject_id"], "Olá, preciso de ajuda com meu pedido")
    return subject


def test_access_export_holds_every_store_consent_history_and_the_request_history(call, seeded, worker):
    request_id = file_request(call, seeded, {"type": "access"}).body["request_id"]
    worker.drain()
    view = read_request(call, seeded, request_id).body
    assert view["status"] == "completed" and view["completed_at"]
    assert set(view["stores"].values()) <= {"done", "not_applicable"}
    assert view["stores"]["profiles"] == view["stores"]["consent_ledger"] == "done"
    # The worker has no SUPPORT_DESK_ENDPOINT: the processor is not used by this deployment.
    assert view["stores"]["support_desk"] == "not_applicable"
    url = view["export_url"]
    assert "X-Amz-Expires=900" in url or "Expires=" in url

    document = json.loads(_fetch(url))
    assert document["subject_id"] == seeded["subject_id"] and document["regulation"] == "gdpr"
    assert document["generated_at"].endswith("Z")
    [profile] = document["stores"]["profiles"]["records"]
    assert profile["name"] == "Ana Souza" and profile["email"] == seeded["email"]  # decrypted
    assert profile["address"] == "Rua A 1, São Paulo"
    texts = [r.get("text") for r in document["stores"]["conversations"]["records"]]
    assert "Olá, preciso de ajuda com meu pedido" in texts
    consent_records = json.dumps(document["stores"]["consent_ledger"]["records"])
    assert "marketing" in consent_records
    assert [h["event"] for h in document["request"]["history"]][:2] == ["received", "dispatched"]
    assert document["request"]["request_id"] == request_id
    assert "keyring" not in document["stores"] and "exports" not in document["stores"]

    # The link is issued afresh on each read and works each time.
    again = read_request(call, seeded, request_id).body["export_url"]
    assert json.loads(_fetch(again))["subject_id"] == seeded["subject_id"]
    assert len(_completed_entries(seeded["subject_id"])) == 1
    audit_text = json.dumps(list(audit.entries(seeded["subject_id"])))
    assert seeded["email"] not in audit_text and "Ana Souza" not in audit_text


def test_portability_adds_a_csv_per_store(call, seeded, worker):
    request_id = file_request(call, seeded, {"type": "portability"}).body["request_id"]
    worker.drain()
    view = read_request(call, seeded, request_id).body
    assert view["status"] == "completed"
    files = view["export_files"]
    assert {"profiles", "conversations", "consent_ledger"} <= set(files)
    profile_csv = _fetch(files["profiles"]).decode()
    header, row = profile_csv.splitlines()[:2]
    assert "email" in header.split(",") and seeded["email"] in row


def test_a_duplicate_delivery_changes_nothing(call, seeded, worker):
    request_id = file_request(call, seeded, {"type": "access"}).body["request_id"]
    messages = worker.receive()
    bodies = [m["Body"] for m in messages]
    worker.deliver(messages)
    worker.drain()
    before = read_request(call, seeded, request_id).body
    audit_before = _actions(seeded["subject_id"])
    for body in bodies:  # SQS delivers at least once: every message again
        worker.send(body)
    worker.drain()
    after = read_request(call, seeded, request_id).body
    assert {k: v for k, v in after.items() if k != "export_url"} == {
        k: v for k, v in before.items() if k != "export_url"
    }
    assert _actions(seeded["subject_id"]) == audit_before
    assert len(_completed_entries(seeded["subject_id"])) == 1


def test_a_store_failing_twice_then_succeeding_completes_exactly_once(call, seeded, worker, monkeypatch):
    flaky = Flaky("conversations", "export", failures=2)
    flaky.install(monkeypatch)
    request_id = file_request(call, seeded, {"type": "access"}).body["request_id"]
    worker.drain()
    assert flaky.calls == 3
    assert sum(len(d.failed) for d in worker.deliveries) == 2  # reported to SQS as batch item failures
    view = read_request(call, seeded, request_id).body
    assert view["status"] == "completed" and view["stores"]["conversations"] == "done"
    assert len(_completed_entries(seeded["subject_id"])) == 1
    stored = aws.client("dynamodb")  # the attempts are recorded on the request
    from habeas.requests.store import RequestStore

    assert RequestStore().get(request_id)["stores"]["conversations"]["attempts"] == 3
    assert stored is not None


def test_an_external_processor_failing_twice_then_succeeding_completes_exactly_once(
    call, seeded, worker, monkeypatch, embedded_aws
):
    from http.server import BaseHTTPRequestHandler, HTTPServer
    from threading import Thread

    answers = [500, 503, 200]
    seen: list[dict] = []

    class Processor(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            seen.append({"body": json.loads(body or b"{}"), "headers": dict(self.headers)})
            status = answers.pop(0) if answers else 200
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"ok": true}')

        def log_message(self, *_):
            return

    server = HTTPServer(("127.0.0.1", 0), Processor)
    Thread(target=server.serve_forever, daemon=True).start()
    secret = embedded_aws.client("secretsmanager").create_secret(
        Name=f"support-desk-{seeded['subject_id']}", SecretString="processor-hmac-key"
    )["ARN"]
    monkeypatch.setenv("SUPPORT_DESK_ENDPOINT", f"http://127.0.0.1:{server.server_port}/habeas")
    monkeypatch.setenv("SUPPORT_DESK_SECRET_ARN", secret)
    real_use = worker.use_function

    def use_with_processor(logical_id):
        real_use(logical_id)
        monkeypatch.setenv("SUPPORT_DESK_ENDPOINT", f"http://127.0.0.1:{server.server_port}/habeas")
        monkeypatch.setenv("SUPPORT_DESK_SECRET_ARN", secret)

    worker.use_function = use_with_processor
    try:
        answer = file_request(call, seeded, {"type": "erasure"})
        request_id = answer.body["request_id"]
        assert read_request(call, seeded, request_id).body["stores"]["support_desk"] == "pending"
        worker.drain()
    finally:
        server.shutdown()
    view = read_request(call, seeded, request_id).body
    assert view["status"] == "completed", view
    assert view["stores"]["support_desk"] == "done"
    assert len(seen) >= 3 and all(s["body"] == seen[0]["body"] for s in seen)
    assert len(_completed_entries(seeded["subject_id"])) == 1


def test_a_worker_killed_between_two_stores_completes_once_on_redelivery(call, seeded, worker):
    request_id = file_request(call, seeded, {"type": "erasure"}).body["request_id"]
    messages = worker.receive()
    assert len(messages) >= 3
    # The worker dies after two stores: the rest of its batch is never deleted and comes back.
    worker.deliver(messages[:2])
    for message in messages[2:]:
        worker.sqs.change_message_visibility(
            QueueUrl=worker.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    half = read_request(call, seeded, request_id).body
    assert half["status"] == "in_progress"
    assert list(half["stores"].values()).count("done") == 2
    worker.drain()
    view = read_request(call, seeded, request_id).body
    assert view["status"] == "completed"
    assert len(_completed_entries(seeded["subject_id"])) == 1


@pytest.mark.parametrize("throttled_calls", [1, 8])
def test_a_throttled_batch_write_is_retried_and_the_erasure_completes(
    call, seeded, worker, monkeypatch, throttled_calls
):
    """One throttle is absorbed by the connector's retries; eight exhaust them and SQS redelivers."""
    # More than 25 conversation items: the deletes go out as batches.
    for index in range(30):
        seed_conversation(seeded["subject_id"], f"mensagem {index}")
    request_id = file_request(call, seeded, {"type": "erasure"}).body["request_id"]
    client = aws.client("dynamodb")
    real = client.batch_write_item
    throttles = {"left": throttled_calls, "seen": 0}

    def throttled(**kwargs):
        if throttles["left"] > 0:
            throttles["left"] -= 1
            throttles["seen"] += 1
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
                "BatchWriteItem",
            )
        return real(**kwargs)

    from habeas.connectors import base

    monkeypatch.setattr(base.time, "sleep", lambda _s: None, raising=False)
    monkeypatch.setattr(worker_module, "backoff", lambda *_a: None)
    original_use = worker.use_function

    def use(logical_id):
        original_use(logical_id)  # resets the client cache: patch the new client
        fresh = aws.client("dynamodb")
        monkeypatch.setattr(fresh, "batch_write_item", throttled)

    worker.use_function = use
    worker.drain()
    assert throttles["seen"] == throttled_calls
    view = read_request(call, seeded, request_id).body
    assert view["status"] == "completed", view
    from habeas.requests.store import RequestStore

    stored = RequestStore().get(request_id)
    assert stored["stores"]["conversations"]["count"] == 31
    assert len(_completed_entries(seeded["subject_id"])) == 1


def test_a_store_that_keeps_failing_fails_the_request_and_never_completes_it(call, seeded, worker, monkeypatch):
    Flaky("conversations", "export", failures=None).install(monkeypatch)
    request_id = file_request(call, seeded, {"type": "access"}).body["request_id"]
    worker.drain()
    view = read_request(call, seeded, request_id).body
    assert view["status"] == "failed"
    assert view["stores"]["conversations"] == "failed"
    assert view["status_reason"] == "conversations: ConnectionError"
    assert "export_url" not in view
    actions = _actions(seeded["subject_id"])
    assert "request.failed" in actions and "request.completed" not in actions
    # Late duplicates of the other stores do not revive it.
    worker.send({"request_id": request_id, "subject_id": seeded["subject_id"], "type": "access", "store": "profiles"})
    worker.drain()
    assert read_request(call, seeded, request_id).body["status"] == "failed"


def test_concurrent_completions_complete_once(call, seeded, worker):
    from habeas.requests.store import RequestStore
    from habeas.requests.worker import RequestWorker

    request_id = file_request(call, seeded, {"type": "rectification", "changes": {"name": "Ana S."}}).body["request_id"]
    messages = worker.receive()
    # Both workers read the request just before either finishes it.
    worker.deliver(messages)
    stale = RequestStore().get(request_id)
    assert stale["status"] == "completed"
    stale = {**stale, "status": "in_progress"}
    assert RequestWorker().complete(stale) is None
    assert len(_completed_entries(seeded["subject_id"])) == 1


def test_workers_finishing_the_last_stores_at_the_same_time_complete_once(call, seeded, worker):
    from concurrent.futures import ThreadPoolExecutor

    from habeas.requests.worker import RequestMessage, RequestWorker

    request_id = file_request(call, seeded, {"type": "erasure"}).body["request_id"]
    messages = worker.receive()
    bodies = [RequestMessage.model_validate_json(m["Body"]) for m in messages]
    for message in messages:
        worker.sqs.delete_message(QueueUrl=worker.queue_url, ReceiptHandle=message["ReceiptHandle"])
    worker.use_function("RequestsWorkerFunction")
    # Every store at once, each on its own worker, twice over (duplicates racing the originals).
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda body: RequestWorker().handle(body), bodies + bodies))
    view = read_request(call, seeded, request_id).body
    assert view["status"] == "completed", view
    assert len(_completed_entries(seeded["subject_id"])) == 1
    done = [e for e in audit.entries(seeded["subject_id"]) if e["action"] == "request.store_done"]
    assert len(done) == len({e["detail"]["store"] for e in done})  # each store counted once


def test_a_message_naming_another_subject_changes_nothing(call, outbox, seeded, worker):
    from tests.integration.helpers import verify

    other = verify(call, outbox, f"dsr-forger-{uuid.uuid4().hex[:8]}@example.com")
    request_id = file_request(call, seeded, {"type": "erasure"}).body["request_id"]
    for message in worker.receive():  # the real messages are lost; a forged one names another subject
        worker.sqs.delete_message(QueueUrl=worker.queue_url, ReceiptHandle=message["ReceiptHandle"])
    worker.send({"request_id": request_id, "subject_id": other["subject_id"], "type": "erasure", "store": "profiles"})
    worker.drain()
    view = read_request(call, seeded, request_id).body
    assert view["status"] == "in_progress" and view["stores"]["profiles"] == "pending"
