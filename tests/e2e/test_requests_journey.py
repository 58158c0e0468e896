"""A subject with data in every store asks for access, rectification and erasure over HTTP; the local
runtime's SQS poller drives the requests worker. Then: nothing erasable is left in any store (the
connectors' own ``find``), the erasure certificate verifies offline, and the audit log holds no
plaintext personal data. Runs its own runtime process so that it can also reach the embedded AWS."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import boto3
import pytest
from cfnlint.decode import decode_str

from tests.e2e.conftest import Client, _free_port
from tests.e2e.whatsapp import signature_header, text_delivery

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
_STARTED = re.compile(r"Habeas local runtime on (\S+) \(embedded AWS (\S+)\)")


@pytest.fixture(scope="module")
def stack():
    """The runtime as a process, its HTTP client and its embedded AWS endpoint."""
    port = _free_port()
    env = {**os.environ, "HABEAS_PORT": str(port), "PYTHONUNBUFFERED": "1"}
    env.pop("AWS_ENDPOINT_URL", None)
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "habeas_local"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log, text=True
        )
        try:
            moto_url = None
            deadline = time.monotonic() + 90
            while moto_url is None and time.monotonic() < deadline:
                line = process.stdout.readline()
                if not line and process.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"the runtime exited: {log.read().decode()[-2000:]}")
                match = _STARTED.search(line or "")
                if match:
                    moto_url = match.group(2)
            assert moto_url, "the runtime did not start in 90 s"
            client = Client(f"http://127.0.0.1:{port}")
            while client.request("GET", "/health")[0] != 200:
                time.sleep(0.3)
            yield client, moto_url
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _aws(moto_url: str, service: str):
    return boto3.client(
        service,
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="habeas-local",
        aws_secret_access_key="habeas-local",  # noqa: S106
    )


def _worker_env(moto_url: str) -> dict[str, str]:
    """The RequestsWorkerFunction's table and bucket variables, resolved against the runtime's stack."""
    template, errors = decode_str((ROOT / "template.yaml").read_text())
    assert not errors
    variables = template["Resources"]["RequestsWorkerFunction"]["Properties"]["Environment"]["Variables"]
    summaries = _aws(moto_url, "cloudformation").list_stack_resources(StackName="habeas")["StackResourceSummaries"]
    physical = {s["LogicalResourceId"]: s["PhysicalResourceId"] for s in summaries}
    return {
        name: physical[value["Ref"]]
        for name, value in variables.items()
        if isinstance(value, dict) and value.get("Ref") in physical
    }


def _wait_for(probe, seconds: float = 90):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.4)
    raise AssertionError("timed out")


def _whatsapp(wa_id: str, text: str) -> tuple[bytes, dict[str, str]]:
    raw = text_delivery(wa_id, text)
    return raw, signature_header(raw)


def _code(client: Client, to: str) -> str:
    messages = [m for m in client.request("GET", "/local/outbox")[1]["messages"] if m["to"] == to]
    return re.search(r"\b(\d{6})\b", messages[-1]["body"]).group(1)


def _verify(client: Client, identifier: str, to: str) -> dict:
    status, started = client.request("POST", "/v1/verifications", {"identifier": identifier})
    assert status == 202
    status, token = client.request(
        "POST", f"/v1/verifications/{started['verification_id']}/confirm", {"code": _code(client, to)}
    )
    assert status == 200, token
    return token


def _staff(client: Client, sub: str, groups: list[str]) -> dict[str, str]:
    status, issued = client.request("POST", "/local/staff-tokens", {"sub": sub, "groups": groups})
    assert status == 200
    return {"authorization": f"Bearer {issued['access_token']}"}


def _finished(client: Client, auth: dict[str, str], request_id: str) -> dict:
    def done():
        status, view = client.request("GET", f"/v1/requests/{request_id}", headers=auth)
        assert status == 200, view
        return view if view["status"] in ("completed", "failed") else None

    view = _wait_for(done)
    assert view["status"] == "completed", view
    return view


def test_access_rectification_and_verified_erasure_over_http(stack, monkeypatch):
    client, moto_url = stack
    wa_id = f"5511987{uuid.uuid4().int % 1_000_000:06d}"
    phone = f"+{wa_id}"
    email = f"beatriz.{uuid.uuid4().hex[:8]}@example.com"
    new_email = f"bia.{uuid.uuid4().hex[:8]}@example.org"
    name, address = "Beatriz Lima", "Rua das Palmeiras 45, Recife"
    new_address = "Avenida Boa Viagem 900, Recife"

    # A verified subject (by phone) with data in every store.
    token = _verify(client, phone, phone)
    subject_id, auth = token["subject_id"], {"authorization": f"Bearer {token['access_token']}"}
    status, purposes = client.request("GET", "/v1/purposes")
    marketing = next(p for p in purposes["purposes"] if p["purpose"] == "marketing")
    consent = {"granted": True, "policy_version": marketing["policy_version"], "channel": "portal"}
    assert client.request("PUT", "/v1/consents/marketing", consent, auth)[0] == 200
    raw, signature = _whatsapp(wa_id, "Oi, quero saber do meu pedido de ontem")
    assert client.request("POST", "/v1/channels/whatsapp/webhook", raw, signature)[0] == 200
    supervisor = _staff(client, "supervisor-e2e", ["supervisor"])
    profile = {"name": name, "email": email, "phone": phone, "address": address}
    status, put = client.request("PUT", f"/v1/admin/subjects/{subject_id}/profile", profile, supervisor)
    assert status == 200, put

    def message_stored():
        status, view = client.request("GET", f"/v1/admin/subjects/{subject_id}", headers=supervisor)
        return status == 200 and view.get("conversations")

    _wait_for(message_stored)

    # Access: the export holds the decrypted profile, the redacted conversation and the consent.
    status, accepted = client.request("POST", "/v1/requests", {"type": "access"}, auth)
    assert status == 202 and accepted["status"] == "in_progress"
    view = _finished(client, auth, accepted["request_id"])
    with urllib.request.urlopen(view["export_url"]) as response:  # noqa: S310 - the embedded S3
        document = json.loads(response.read())
    assert document["subject_id"] == subject_id
    [record] = document["stores"]["profiles"]["records"]
    assert (record["name"], record["email"], record["phone"], record["address"]) == (name, email, phone, address)
    assert any("pedido" in (r.get("text") or "") for r in document["stores"]["conversations"]["records"])
    assert "marketing" in json.dumps(document["stores"]["consent_ledger"]["records"])

    # Rectification: the new email verifies to the same subject, the old one finds nobody.
    body = {"type": "rectification", "changes": {"email": new_email, "address": new_address}}
    status, accepted = client.request("POST", "/v1/requests", body, {**auth, "idempotency-key": "rectify-e2e-1"})
    assert status == 202
    again = client.request("POST", "/v1/requests", body, {**auth, "idempotency-key": "rectify-e2e-1"})
    assert again == (202, accepted)
    _finished(client, auth, accepted["request_id"])
    assert _verify(client, new_email, new_email)["subject_id"] == subject_id
    lookup = f"/v1/admin/subjects?identifier={email.replace('@', '%40')}"
    assert client.request("GET", lookup, headers=supervisor)[0] == 404

    # Erasure, verified, with a certificate anyone can check.
    status, accepted = client.request("POST", "/v1/requests", {"type": "erasure"}, auth)
    assert status == 202
    view = _finished(client, auth, accepted["request_id"])
    assert {view["stores"][s] for s in ("profiles", "identifiers", "conversations", "keyring", "exports")} == {"done"}
    signed = view["certificate"]
    kms = _aws(moto_url, "kms")
    from habeas.requests.certificate import verify

    der = kms.get_public_key(KeyId=signed["key_id"])["PublicKey"]
    assert verify(signed["payload"], signed["signature"], der)
    assert verify(signed["payload"], signed["signature"], signed["public_key_pem"])
    assert json.loads(signed["payload"])["request_id"] == accepted["request_id"]
    status, listed = client.request("GET", "/v1/requests", headers=auth)
    assert status == 200 and [r["type"] for r in listed["requests"]] == ["erasure", "rectification", "access"]

    # No store holds anything erasable of the subject, by the connectors' own count.
    from tests.conftest import _reset_library_caches

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "habeas-local")
    for variable, value in _worker_env(moto_url).items():
        monkeypatch.setenv(variable, value)
    _reset_library_caches()
    from habeas.connectors import connector_for
    from habeas.datamap import data_map

    try:
        for store in data_map().stores.values():
            connector = connector_for(store)
            if connector.applicable():
                assert connector.find(subject_id) == 0, store.name
    finally:
        monkeypatch.undo()
        _reset_library_caches()

    # The audit log holds ids, actions and field names, never the personal data itself.
    audit_table = _worker_env(moto_url)["AUDIT_TABLE"]
    dump = json.dumps(_aws(moto_url, "dynamodb").scan(TableName=audit_table)["Items"], ensure_ascii=False)
    assert subject_id in dump
    for plaintext in (email, new_email, wa_id, name, "Beatriz", address, new_address, "pedido de ontem"):
        assert plaintext not in dump, plaintext
