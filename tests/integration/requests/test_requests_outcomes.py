"""What requests do to the stores: rectification moves the identifier, erasure leaves nothing erasable
and proves it with a certificate anyone can check, a legal hold defers it, and the DPO sees it all."""

from __future__ import annotations

import json
import uuid

import pytest

from habeas import audit, holds, subjects
from habeas.connectors import connector_for
from habeas.datamap import data_map
from habeas.identifiers import blind_index, normalise
from habeas.requests import certificate
from habeas.requests.store import RequestStore
from tests.integration.helpers import bearer, items, verify
from tests.integration.requests.conftest import file_request, read_request, seed_conversation, seed_profile

pytestmark = pytest.mark.integration


@pytest.fixture
def seeded(call, subject, use_function):
    purposes = call("ApiFunction", "GET", "/v1/purposes").body["purposes"]
    marketing = next(p for p in purposes if p["purpose"] == "marketing")
    body = {"granted": True, "policy_version": marketing["policy_version"], "channel": "portal"}
    assert (
        call(
            "ApiFunction",
            "PUT",
            "/v1/consents/marketing",
            route="/v1/consents/{purpose}",
            body=body,
            headers=subject["auth"],
        ).status
        == 200
    )
    use_function("RequestsWorkerFunction")
    seed_profile(subject["subject_id"], name="Ana Souza", email=subject["email"], phone="+5511987654321")
    seed_conversation(subject["subject_id"], "Meu pedido 123 não chegou")
    return subject


def _exported_profile(subject_id: str) -> dict:
    [profile] = connector_for(data_map().store("profiles")).export(subject_id)
    return profile


def test_rectification_changes_the_profile_and_moves_the_email_to_the_same_subject(
    call, outbox, seeded, worker, use_function
):
    new_email = f"dsr-new-{uuid.uuid4().hex[:8]}@Example.com"
    answer = file_request(
        call, seeded, {"type": "rectification", "changes": {"email": new_email, "name": "Ana S. Souza"}}
    )
    assert answer.status == 202
    view = read_request(call, seeded, answer.body["request_id"]).body
    assert view["stores"]["profiles"] == "pending" and view["stores"]["conversations"] == "not_applicable"
    assert view["fields"] == ["email", "name"]
    worker.drain()
    view = read_request(call, seeded, answer.body["request_id"]).body
    assert view["status"] == "completed"

    use_function("RequestsWorkerFunction")
    profile = _exported_profile(seeded["subject_id"])
    assert profile["email"] == new_email.lower() and profile["name"] == "Ana S. Souza"
    assert profile["phone"] == "+5511987654321"  # untouched
    # The new identifier verifies to the same subject; the old one finds nobody.
    assert verify(call, outbox, new_email.lower())["subject_id"] == seeded["subject_id"]
    use_function("RequestsWorkerFunction")
    assert subjects.find(blind_index(normalise(seeded["email"]))) is None
    entries = json.dumps(list(audit.entries(seeded["subject_id"])))
    assert new_email.lower() not in entries and "Ana S. Souza" not in entries
    done = [e for e in audit.entries(seeded["subject_id"]) if e["action"] == "request.store_done"]
    assert done and done[0]["fields"] == ["email", "name"]


def test_erasure_leaves_nothing_erasable_and_its_certificate_verifies(
    call, outbox, seeded, worker, use_function, embedded_aws
):
    subject_id = seeded["subject_id"]
    access = file_request(call, seeded, {"type": "access"}).body["request_id"]
    worker.drain()
    assert read_request(call, seeded, access).body["status"] == "completed"

    erasure = file_request(call, seeded, {"type": "erasure"}).body["request_id"]
    worker.drain()
    view = read_request(call, seeded, erasure).body
    assert view["status"] == "completed", view
    assert view["stores"]["keyring"] == view["stores"]["profiles"] == view["stores"]["exports"] == "done"
    assert view["stores"]["requests"] == "not_applicable"

    use_function("RequestsWorkerFunction")
    for store in data_map().stores.values():
        connector = connector_for(store)
        if connector.applicable():
            assert connector.find(subject_id) == 0, store.name
    assert subjects.find(blind_index(normalise(seeded["email"]))) is None
    assert not [i for i in items(embedded_aws, "subjects_table") if i["subject_id"] == subject_id]
    # The access export went with the rest (exports store); the old request stays readable, unlinked.
    earlier = read_request(call, seeded, access).body
    assert earlier["status"] == "completed" and "export_url" not in earlier

    signed = view["certificate"]
    assert signed["signing_algorithm"] == "ECDSA_SHA_256"
    payload = json.loads(signed["payload"])
    assert payload["request_id"] == erasure and payload["subject_id"] == subject_id
    by_store = {s["store"]: s for s in payload["stores"]}
    assert by_store["keyring"]["strategy"] == "shred"
    assert by_store["profiles"]["strategy"] == "delete" and by_store["profiles"]["count"] == 1
    assert by_store["consent_ledger"]["strategy"] in ("retain", "pseudonymize")
    # Offline, with the key's public half from KMS (and with the PEM the API hands out).
    kms = embedded_aws.client("kms")
    der = kms.get_public_key(KeyId=signed["key_id"])["PublicKey"]
    assert certificate.verify(signed["payload"], signed["signature"], der)
    assert certificate.verify(signed["payload"], signed["signature"], signed["public_key_pem"])
    forged = signed["payload"].replace('"count":1', '"count":0')
    assert forged != signed["payload"]
    assert not certificate.verify(forged, signed["signature"], der)

    actions = [e["action"] for e in audit.entries(subject_id, newest_first=False)]
    assert actions.count("erasure.verified") == 1 and actions.count("request.completed") == 2
    audit_text = json.dumps(list(audit.entries(subject_id)))
    for plaintext in (seeded["email"], "Ana Souza", "5511987654321", "Meu pedido"):
        assert plaintext not in audit_text


def test_a_legal_hold_keeps_the_erasure_open_and_deletes_nothing_until_lifted(call, seeded, worker, use_function):
    subject_id = seeded["subject_id"]
    use_function("AdminFunction")
    dpo = audit.Actor(id="dpo-1", role="dpo")
    hold = holds.place_hold(subject_id, "litigation 2026/17", dpo)
    erasure = file_request(call, seeded, {"type": "erasure"}).body["request_id"]
    worker.drain()
    view = read_request(call, seeded, erasure).body
    assert view["status"] == "in_progress" and view["status_reason"] == "legal_hold"
    assert "done" not in view["stores"].values()
    use_function("RequestsWorkerFunction")
    assert _exported_profile(subject_id)["name"] == "Ana Souza"

    use_function("AdminFunction")
    holds.lift_hold(subject_id, hold["hold_id"], dpo)
    use_function("RequestsWorkerFunction")
    from habeas.requests import service

    assert service.resume_held(subject_id, actor=dpo) == [erasure]
    worker.drain()
    view = read_request(call, seeded, erasure).body
    assert view["status"] == "completed" and "status_reason" not in view


def test_the_dpo_lists_requests_with_overdue_flags_and_store_failures(call, seeded, worker, embedded_aws, monkeypatch):
    from habeas.requests import worker as worker_module

    real = worker_module.connector_for

    def broken(store):
        connector = real(store)
        if store.name == "conversations":
            connector.export = lambda *_a, **_k: (_ for _ in ()).throw(TimeoutError("slow"))
        return connector

    monkeypatch.setattr(worker_module, "connector_for", broken)
    failed = file_request(call, seeded, {"type": "access"}).body["request_id"]
    worker.drain()
    late = file_request(call, seeded, {"type": "portability", "regulation": "lgpd"}).body["request_id"]
    RequestStore().get(late)  # still open
    table = embedded_aws.function_env("RequestsWorkerFunction")["REQUESTS_TABLE"]
    embedded_aws.client("dynamodb").update_item(
        TableName=table,
        Key={"request_id": {"S": late}},
        UpdateExpression="SET due_at = :past",
        ExpressionAttributeValues={":past": {"S": "2020-01-01T00:00:00.000Z"}},
    )

    dpo = bearer(embedded_aws.staff_token("dpo-7", ["dpo"]))
    listed = call("AdminFunction", "GET", "/v1/admin/requests", headers=dpo)
    assert listed.status == 200
    by_id = {r["request_id"]: r for r in listed.body["requests"]}
    assert by_id[late]["overdue"] is True and by_id[late]["status"] == "in_progress"
    assert by_id[failed]["status"] == "failed" and by_id[failed]["subject_id"] == seeded["subject_id"]
    assert by_id[failed]["failures"]["conversations"] == {"error": "conversations: TimeoutError", "attempts": 4}
    only_failed = call("AdminFunction", "GET", "/v1/admin/requests", headers=dpo, query={"status": "failed"})
    assert {r["status"] for r in only_failed.body["requests"]} == {"failed"}
    overdue = call("AdminFunction", "GET", "/v1/admin/requests", headers=dpo, query={"overdue": "true"})
    assert late in {r["request_id"] for r in overdue.body["requests"]}
    assert all(r["overdue"] for r in overdue.body["requests"])
    monkeypatch.setattr(worker_module, "connector_for", real)
    worker.drain()

    agent = bearer(embedded_aws.staff_token("agent-7", ["agent", "supervisor"]))
    assert call("AdminFunction", "GET", "/v1/admin/requests", headers=agent).status == 403
    assert call("AdminFunction", "GET", "/v1/admin/requests", headers=dpo, query={"status": "lost"}).status == 422


def test_a_poison_message_ends_in_the_dead_letter_queue_and_the_dpo_sees_it(call, worker, embedded_aws):
    marker = f"req_{uuid.uuid4().hex}"
    worker.send('{"request_id": "' + marker + '", "store": ')  # not JSON: never processable
    worker.drain()
    dpo = bearer(embedded_aws.staff_token("dpo-8", ["dpo"]))
    listed = call("AdminFunction", "GET", "/v1/admin/requests", headers=dpo)
    letters = listed.body["dead_letters"]
    assert letters and any(letter["readable"] is False for letter in letters)
    assert all(marker not in json.dumps(letter) for letter in letters)  # bodies are never echoed
    # Delivered until the queue's maxReceiveCount, then parked by SQS.
    assert sum(1 for d in worker.deliveries if d.failed) == 6


def test_an_erasure_that_leaves_records_behind_fails_verification_and_never_completes(
    call, seeded, worker, monkeypatch
):
    from habeas.connectors import ErasureOutcome
    from habeas.requests import worker as worker_module

    real = worker_module.connector_for

    def careless(store):
        connector = real(store)
        if store.name == "conversations":  # claims a deletion, deletes nothing
            connector.erase = lambda subject_id, *, request_id: ErasureOutcome("delete", 1)
        return connector

    monkeypatch.setattr(worker_module, "connector_for", careless)
    monkeypatch.setattr(worker_module, "backoff", lambda *_a: None)
    erasure = file_request(call, seeded, {"type": "erasure"}).body["request_id"]
    worker.drain()
    view = read_request(call, seeded, erasure).body
    assert view["status"] == "failed", view
    assert view["status_reason"] == "verification: records remain in conversations"
    assert "certificate" not in view
    actions = [e["action"] for e in audit.entries(seeded["subject_id"])]
    assert "request.failed" in actions and "request.completed" not in actions and "erasure.verified" not in actions
