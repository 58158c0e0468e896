"""Retention over the local runtime: its TTL reaper stands in for DynamoDB's, its stream pollers drive the
cascade, its scheduler fires the sweep. Everything goes over HTTP except what only time would do (an
item growing old is simulated by moving its timestamps into the past in the embedded DynamoDB).

The runtime runs in this process (``habeas_local.testing.runtime_from_template``) with the reaper
driven by the test, so "expired but not yet deleted" is a state the test can look at. Its functions run
with ``DATA_MAP_PATH`` pointing at a copy of the data map, so a policy change is a file edit plus new
containers, as a deploy would be.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from habeas_local import functions
from habeas_local.sources import TtlReaper
from habeas_local.testing import runtime_from_template
from tests.e2e.conftest import Client
from tests.e2e.whatsapp import signature_header, text_delivery

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DATAMAP = ROOT / "layers/habeas/habeas/config/datamap.yaml"
DAY = 86400
POLICY_LINE = "retention: {days: 90, anchor: created}\n    masking: {agent: full, supervisor: full, dpo: full}"


class Local:
    """The runtime, its embedded AWS, and the handles a test needs."""

    def __init__(self, runtime: Any, datamap: Path) -> None:
        self.runtime = runtime
        self.http = Client(runtime.url)
        self.datamap = datamap
        self.reaper = TtlReaper(runtime.aws, runtime.ttl_ledger, 0)
        env = runtime.function_env("RetentionCascadeFunction")
        self.conversations = boto3.resource("dynamodb", endpoint_url=runtime.moto_url).Table(env["CONVERSATIONS_TABLE"])
        self.retention_table = boto3.resource("dynamodb", endpoint_url=runtime.moto_url).Table(env["RETENTION_TABLE"])
        self.bucket = env["ATTACHMENTS_BUCKET"]
        self.s3 = boto3.client("s3", endpoint_url=runtime.moto_url)

    def staff(self, sub: str, groups: list[str]) -> dict[str, str]:
        status, issued = self.http.request("POST", "/local/staff-tokens", {"sub": sub, "groups": groups})
        assert status == 200
        return {"authorization": f"Bearer {issued['access_token']}"}

    def new_containers(self, *logical_ids: str) -> None:
        """What a deploy does: the next invocation starts a fresh container (and reads the data map anew)."""
        for logical_id in logical_ids:
            worker = self.runtime.functions.workers[logical_id]
            with worker._lock:
                worker._discard()

    def set_conversation_days(self, days: int) -> None:
        self.datamap.write_text(
            DATAMAP.read_text().replace(POLICY_LINE, POLICY_LINE.replace("days: 90", f"days: {days}"))
        )
        self.new_containers(*self.runtime.functions.workers)

    def whatsapp(self, wa_id: str, text: str) -> None:
        raw = text_delivery(wa_id, text)
        status, _ = self.http.request("POST", "/v1/channels/whatsapp/webhook", raw, signature_header(raw))
        assert status == 200

    def subject_with_messages(self, wa_id: str, staff: dict[str, str], count: int = 1) -> dict[str, Any]:
        def probe():
            status, found = self.http.request("GET", f"/v1/admin/subjects?identifier=%2B{wa_id}", headers=staff)
            if status != 200:
                return None
            items = self.messages(found["subject_id"])
            return {"subject_id": found["subject_id"], "items": items} if len(items) >= count else None

        return wait_for(probe)

    def messages(self, subject_id: str) -> list[dict[str, Any]]:
        page = self.conversations.query(
            KeyConditionExpression="subject_id = :s AND begins_with(sk, :m)",
            ExpressionAttributeValues={":s": subject_id, ":m": "MSG#"},
            ConsistentRead=True,
        )
        return page["Items"]

    def age(self, item: dict[str, Any], days: int) -> None:
        """Make a stored message ``days`` old (its anchor and expiry move back; held ones keep no expiry)."""
        anchor = int(time.time()) - days * DAY
        policy = int(str(item["retention_policy"]).rsplit("#", 1)[1])
        held = "held_expires_at" in item
        attribute = "held_expires_at" if held else "expires_at"
        self.conversations.update_item(
            Key={"subject_id": item["subject_id"], "sk": item["sk"]},
            UpdateExpression=f"SET retention_anchor = :a, {attribute} = :e",
            ExpressionAttributeValues={":a": anchor, ":e": anchor + policy},
        )

    def attach(self, item: dict[str, Any]) -> str:
        from habeas.retention import attachment_prefix

        key = attachment_prefix(item["subject_id"], item["sk"]) + "photo.jpg"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=b"\xff\xd8")
        return key

    def objects(self, prefix: str) -> list[str]:
        return [o["Key"] for o in self.s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix).get("Contents", [])]

    def audit(self, subject_id: str) -> list[dict[str, Any]]:
        dpo = self.staff("dpo-e2e", ["dpo"])

        def read():
            status, log = self.http.request("GET", f"/v1/admin/audit?subject_id={subject_id}&limit=500", headers=dpo)
            assert status == 200
            # The check reads the events, then the chain head: an entry appended in between (another
            # function still at work for this subject) reads as a break until the next look.
            return log if log["chain_ok"] else None

        return wait_for(read, seconds=20)["events"]

    def sweep(self) -> dict[str, Any]:
        return self.runtime.fire_schedule("RetentionSweepFunction")


def wait_for(probe, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError("timed out")


@pytest.fixture(scope="module")
def local(tmp_path_factory) -> Iterator[Local]:
    datamap = tmp_path_factory.mktemp("retention") / "datamap.yaml"
    datamap.write_text(DATAMAP.read_text())
    real = functions.lambda_environment

    def with_test_settings(aws: Any, logical_id: str) -> dict[str, str]:
        # The data map copy this module edits, and a short sweep lease so a killed run's lease lapses soon.
        return {**real(aws, logical_id), "DATA_MAP_PATH": str(datamap), "RETENTION_SWEEP_LEASE_SECONDS": "5"}

    functions.lambda_environment = with_test_settings
    try:
        with runtime_from_template(ROOT / "template.yaml", ttl_reap_seconds=0) as runtime:
            yield Local(runtime, datamap)
    finally:
        functions.lambda_environment = real


def _wa_id() -> str:
    return f"5511966{uuid.uuid4().int % 1_000_000:06d}"


def test_an_expired_message_is_not_served_and_its_ttl_deletion_cascades_to_s3_and_the_audit_log(local):
    agent = local.staff("agent-ret", ["agent"])
    wa_id = _wa_id()
    local.whatsapp(wa_id, "Oi, segue a foto do produto quebrado")
    subject = local.subject_with_messages(wa_id, agent)
    subject_id, item = subject["subject_id"], subject["items"][0]
    status, view = local.http.request("GET", f"/v1/admin/subjects/{subject_id}", headers=agent)
    assert status == 200 and len(view["conversations"]) == 1
    photo = local.attach(item)

    local.age(item, days=91)  # past its 90 days; DynamoDB has not deleted it yet
    status, view = local.http.request("GET", f"/v1/admin/subjects/{subject_id}", headers=agent)
    assert status == 200 and view["conversations"] == []
    assert local.messages(subject_id), "still stored: only TTL (or the sweep) deletes it"

    assert local.reaper.reap() >= 1
    wait_for(lambda: not local.objects(photo))
    assert local.messages(subject_id) == []
    entries = wait_for(lambda: [e for e in local.audit(subject_id) if e["action"] == "retention.expired"])
    assert len(entries) == 1 and entries[0]["actor"] == "retention" and entries[0]["fields"] == ["text"]
    assert "quebrado" not in json.dumps(local.audit(subject_id))


def test_a_policy_change_restamps_existing_messages(local):
    agent = local.staff("agent-ret", ["agent"])
    wa_id = _wa_id()
    local.whatsapp(wa_id, "mensagem de hoje")
    subject = local.subject_with_messages(wa_id, agent)
    item = subject["items"][0]
    assert local.sweep()["status"] == "completed"  # the policy in force (90 days) is recorded
    local.age(item, days=10)
    try:
        local.set_conversation_days(30)
        report = local.sweep()
        assert report["status"] == "completed" and report["restamped"]["conversation"] >= 1
        stored = local.messages(subject["subject_id"])[0]
        assert int(stored["expires_at"]) == int(stored["retention_anchor"]) + 30 * DAY
        assert stored["retention_policy"] == f"conversation#{30 * DAY}"
        # New writes take the new policy at once.
        local.whatsapp(wa_id, "mensagem nova")
        newest = local.subject_with_messages(wa_id, agent, count=2)["items"]
        assert {str(i["retention_policy"]) for i in newest} == {f"conversation#{30 * DAY}"}
    finally:
        local.set_conversation_days(90)
        assert local.sweep()["status"] == "completed"
    back = local.messages(subject["subject_id"])
    assert all(int(i["expires_at"]) == int(i["retention_anchor"]) + 90 * DAY for i in back)


def test_a_held_subject_survives_retention_and_is_deleted_once_the_hold_is_lifted(local):
    agent, dpo = local.staff("agent-ret", ["agent"]), local.staff("dpo-ret", ["dpo"])
    wa_id = _wa_id()
    local.whatsapp(wa_id, "preciso falar sobre o processo")
    subject = local.subject_with_messages(wa_id, agent)
    subject_id, item = subject["subject_id"], subject["items"][0]
    photo = local.attach(item)

    status, hold = local.http.request(
        "POST", f"/v1/admin/subjects/{subject_id}/holds", {"reason": "litigation 2026-17"}, dpo
    )
    assert status == 201
    held = wait_for(lambda: [i for i in local.messages(subject_id) if "expires_at" not in i])
    local.age(held[0], days=200)  # long past its policy

    # An erasure request waits for the hold (the request lifecycle asks habeas.holds).
    phone = f"+{wa_id}"
    status, started = local.http.request("POST", "/v1/verifications", {"identifier": phone})
    assert status == 202
    status, outbox = local.http.request("GET", "/local/outbox")
    code = re.search(r"\b(\d{6})\b", [m for m in outbox["messages"] if m["to"] == phone][-1]["body"]).group(1)
    status, token = local.http.request(
        "POST", f"/v1/verifications/{started['verification_id']}/confirm", {"code": code}
    )
    assert status == 200 and token["subject_id"] == subject_id
    auth = {"authorization": f"Bearer {token['access_token']}"}
    status, request = local.http.request("POST", "/v1/requests", {"type": "erasure"}, auth)
    assert status == 202

    local.reaper.reap()
    report = local.sweep()
    assert report["status"] == "completed"
    time.sleep(2)  # give the stream pollers and the request worker their turn
    assert local.messages(subject_id) and local.objects(photo)
    status, state = local.http.request("GET", f"/v1/requests/{request['request_id']}", headers=auth)
    assert status == 200 and state["status"] != "completed"

    status, _ = local.http.request("DELETE", f"/v1/admin/subjects/{subject_id}/holds/{hold['hold_id']}", headers=dpo)
    assert status == 200

    def gone() -> bool:
        local.reaper.reap()  # the expiry comes back from the policy (due at once), or the erasure resumes
        return not local.objects(photo) and not local.messages(subject_id)

    wait_for(gone)
    actions = [e["action"] for e in reversed(local.audit(subject_id))]
    assert actions.index("hold.placed") < actions.index("retention.suspended") < actions.index("hold.lifted")
    assert actions.index("hold.lifted") < actions.index("retention.restored")


def test_a_sweep_killed_halfway_and_run_again_ends_in_the_same_state(local):
    subject_id = f"sub_{uuid.uuid4().hex}"
    now = int(time.time())
    items = []
    for n in range(300):
        anchor = now - 95 * DAY - n
        item = {
            "subject_id": subject_id,
            "sk": f"MSG#2026-01-01T00:00:00.000Z#whatsapp#wamid.kill{n:04d}",
            "text": "mensagem antiga",
            "expires_at": anchor + 90 * DAY,
            "retention_policy": f"conversation#{90 * DAY}",
            "retention_anchor": anchor,
        }
        items.append(item)
    with local.conversations.batch_writer() as batch:
        for item in items:
            batch.put_item(Item=item)
    for item in items[:20]:
        local.attach(item)

    worker = local.runtime.functions.workers["RetentionSweepFunction"]
    first = threading.Thread(target=lambda: _survive(local.sweep), daemon=True)
    first.start()
    wait_for(lambda: len(local.messages(subject_id)) < 300, seconds=60)
    worker._process.kill()  # the sandbox dies mid-run: no cleanup, the lease stays taken
    first.join(timeout=30)
    left = len(local.messages(subject_id))
    assert 0 < left < 300, "the first run was to be killed half-way"

    time.sleep(5.5)  # the dead run's lease lapses (RETENTION_SWEEP_LEASE_SECONDS=5 in this runtime)
    report = local.sweep()
    assert report["status"] == "completed"
    assert local.messages(subject_id) == []
    assert local.objects(f"attachments/{subject_id}/") == []
    entries = [e for e in local.audit(subject_id) if e["action"] == "retention.expired"]
    assert len(entries) == 300 and len({e["detail"]["item"] for e in entries}) == 300
    status, body = local.http.request("GET", "/v1/admin/retention", headers=local.staff("dpo-ret", ["dpo"]))
    assert status == 200 and body["last_sweep"]["status"] == "completed"
    conversation = next(c for c in body["categories"] if c["category"] == "conversation")
    assert conversation["deleted_last_30_days"] >= 300


def _survive(call) -> None:
    with contextlib.suppress(Exception):  # the killed invocation fails, as it should
        call()
