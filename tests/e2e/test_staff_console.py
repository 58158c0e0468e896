"""An agent looks at a customer who sent a card number on WhatsApp; the DPO sees that look: over HTTP."""

import json
import time
import uuid

import pytest

from tests.e2e.whatsapp import signature_header, text_delivery

pytestmark = pytest.mark.e2e
CARD = "4111 1111 1111 1111"


def _staff(runtime, sub: str, groups: list[str]) -> dict[str, str]:
    status, issued = runtime.request("POST", "/local/staff-tokens", {"sub": sub, "groups": groups})
    assert status == 200
    return {"authorization": f"Bearer {issued['access_token']}"}


def _wait_for(probe, seconds: float = 45):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError("timed out")


def test_an_agent_sees_only_the_masked_card_and_the_dpo_sees_the_view_in_the_audit_log(runtime):
    wa_id = f"5511955{uuid.uuid4().int % 1_000_000:06d}"
    raw = text_delivery(wa_id, f"Oi! Meu cartão é {CARD}, vocês podem estornar?")
    assert runtime.request("POST", "/v1/channels/whatsapp/webhook", raw, signature_header(raw))[0] == 200

    agent = _staff(runtime, "agent-e2e", ["agent"])

    def stored_subject():
        status, found = runtime.request("GET", f"/v1/admin/subjects?identifier=%2B{wa_id}", headers=agent)
        if status != 200:
            return None
        status, view = runtime.request("GET", f"/v1/admin/subjects/{found['subject_id']}", headers=agent)
        return view if status == 200 and view["conversations"] else None

    view = _wait_for(stored_subject)  # the worker stores the message from the queue
    subject_id = view["subject_id"]
    assert len(view["conversations"]) == 1
    text = view["conversations"][0]["text"]
    assert "estornar" in text and "4111" not in text and "1111 1111" not in text
    assert CARD not in json.dumps(view)

    dpo = _staff(runtime, "dpo-e2e", ["dpo"])
    status, log = runtime.request("GET", f"/v1/admin/audit?subject_id={subject_id}", headers=dpo)
    assert status == 200 and log["chain_ok"] is True
    views = [e for e in log["events"] if e["action"] == "subject.viewed"]
    assert views and views[0]["actor"] == "agent-e2e" and views[0]["role"] == "agent"
    assert views[0]["subject_id"] == subject_id and views[0]["source_ip"] == "127.0.0.1"
    assert "conversations.text" in views[0]["fields"]
    assert CARD not in json.dumps(log)

    status, by_actor = runtime.request("GET", "/v1/admin/audit?actor=agent-e2e", headers=dpo)
    assert status == 200 and any(e["subject_id"] == subject_id for e in by_actor["events"])
    assert runtime.request("GET", f"/v1/admin/audit?subject_id={subject_id}", headers=agent)[0] == 403


def test_the_runtime_runs_the_incident_jobs_from_the_queue_and_the_hourly_audit_check(runtime):
    dpo = _staff(runtime, "dpo-incidents-e2e", ["dpo"])
    breach = {
        "what": "A misconfigured export exposed support profiles for two hours.",
        "discovered_at": "2026-11-27T10:00:00Z",
        "categories": ["email"],
        "systems": ["profiles"],
    }
    status, recorded = runtime.request("POST", "/v1/admin/incidents", breach, dpo)
    assert status == 202 and recorded["deadlines"]["gdpr_authority"]["due_at"] == "2026-11-30T10:00:00.000Z"

    def drafted():
        status, incident = runtime.request("GET", f"/v1/admin/incidents/{recorded['incident_id']}", headers=dpo)
        return incident if status == 200 and incident["status"] == "drafted" else None

    assert "affected_subjects" in _wait_for(drafted)  # the worker assessed it from the incident queue

    status, report = runtime.request("POST", "/local/schedules/AuditVerifyFunction")
    assert status == 200 and report["chains"] >= report["verified"] >= 1  # other tests may have broken chains
