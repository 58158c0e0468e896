"""A customer writes on WhatsApp, then verifies the same phone on the portal: over HTTP, from the runtime."""

import json
import re
import time
import urllib.request

import pytest

from tests.e2e.whatsapp import APP_SECRET, signature_header, text_delivery

pytestmark = pytest.mark.e2e


def _post_signed(runtime, raw: bytes, secret: bytes = APP_SECRET):
    return runtime.request("POST", "/v1/channels/whatsapp/webhook", raw, signature_header(raw, secret))


def _wait_for(predicate, seconds: float = 30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError("timed out")


def test_opt_out_on_whatsapp_shows_in_the_history_of_the_verified_phone(runtime):
    wa_id = "5511976543210"
    status, handshake = runtime.request(
        "GET", "/v1/channels/whatsapp/webhook?hub.mode=subscribe&hub.verify_token=local-verify-token&hub.challenge=77"
    )
    assert (status, handshake) == (200, "77")
    forged = _post_signed(runtime, text_delivery(wa_id, "SAIR"), secret=b"not-the-secret")
    assert forged[0] == 401

    assert _post_signed(runtime, text_delivery(wa_id, "meu cartão é 4111 1111 1111 1111"))[0] == 200
    opt_out = text_delivery(wa_id, "SAIR")
    assert _post_signed(runtime, opt_out) == (200, {"received": 1})
    reply = _wait_for(lambda: [m for m in runtime.request("GET", "/local/outbox")[1]["messages"] if m["to"] == wa_id])
    assert reply[-1]["channel"] == "whatsapp" and "marketing" in reply[-1]["body"]
    assert "4111" not in json.dumps(runtime.request("GET", "/local/outbox")[1])

    # The same phone, typed as a person would, verifies to the subject the chat created.
    status, started = runtime.request("POST", "/v1/verifications", {"identifier": "+55 11 97654-3210"})
    assert status == 202
    texts = [m for m in runtime.request("GET", "/local/outbox")[1]["messages"] if m["to"] == f"+{wa_id}"]
    code = re.search(r"\b(\d{6})\b", texts[-1]["body"]).group(1)
    status, token = runtime.request("POST", f"/v1/verifications/{started['verification_id']}/confirm", {"code": code})
    assert status == 200
    auth = {"authorization": f"Bearer {token['access_token']}"}
    status, history = runtime.request("GET", "/v1/consents/marketing/history", headers=auth)
    assert status == 200
    assert [(e["granted"], e["channel"]) for e in history["events"]] == [(False, "whatsapp")]

    # The access export holds the card message, redacted; the card number is nowhere in it.
    status, filed = runtime.request("POST", "/v1/requests", {"type": "access"}, auth)
    assert status == 202

    def finished():
        view = runtime.request("GET", f"/v1/requests/{filed['request_id']}", headers=auth)[1]
        return view if view["status"] in ("completed", "failed") else None

    view = _wait_for(finished, seconds=60)
    assert view["status"] == "completed", view
    with urllib.request.urlopen(view["export_url"]) as response:  # noqa: S310 - the embedded S3
        export = response.read().decode()
    texts = [r.get("text") or "" for r in json.loads(export)["stores"]["conversations"]["records"]]
    assert any(t.startswith("meu cartão é ") for t in texts), texts
    assert not re.search(r"4111[ -]?1111[ -]?1111[ -]?1111", export)
