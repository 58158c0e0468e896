"""A new subject verifies, grants and withdraws consent, and reads the history: over HTTP, from the runtime."""

import re

import pytest

pytestmark = pytest.mark.e2e


def test_verification_consent_grant_withdrawal_and_history_over_http(runtime):
    assert runtime.request("GET", "/health") == (200, {"status": "ok"})
    status, purposes = runtime.request("GET", "/v1/purposes")
    assert status == 200
    marketing = next(p for p in purposes["purposes"] if p["purpose"] == "marketing")

    status, started = runtime.request("POST", "/v1/verifications", {"identifier": "e2e.journey@example.com"})
    assert status == 202
    status, outbox = runtime.request("GET", "/local/outbox")
    mails = [m for m in outbox["messages"] if m["to"] == "e2e.journey@example.com"]
    assert mails and mails[-1]["channel"] == "email"
    code = re.search(r"\b(\d{6})\b", mails[-1]["body"]).group(1)

    status, wrong = runtime.request(
        "POST",
        f"/v1/verifications/{started['verification_id']}/confirm",
        {"code": "000000" if code != "000000" else "111111"},
    )
    assert status == 401 and wrong["status"] == 401
    status, token = runtime.request("POST", f"/v1/verifications/{started['verification_id']}/confirm", {"code": code})
    assert status == 200 and token["token_type"] == "Bearer"
    auth = {"authorization": f"Bearer {token['access_token']}"}

    body = {"granted": True, "policy_version": marketing["policy_version"], "channel": "portal"}
    assert runtime.request("PUT", "/v1/consents/marketing", body, auth)[0] == 200
    body = {"granted": False, "policy_version": marketing["policy_version"], "channel": "portal"}
    assert runtime.request("PUT", "/v1/consents/marketing", body, auth)[0] == 200

    status, current = runtime.request("GET", "/v1/consents", headers=auth)
    assert status == 200 and current["consents"][0]["granted"] is False
    status, history = runtime.request("GET", "/v1/consents/marketing/history", headers=auth)
    assert status == 200 and [e["granted"] for e in history["events"]] == [True, False]

    assert runtime.request("GET", "/v1/consents", headers={"authorization": "Bearer forged"})[0] == 401
    status, problem = runtime.request("PUT", "/v1/consents/marketing", b"{not json", auth)
    assert status == 400 and problem["status"] == 400


def test_staff_token_from_the_runtime_opens_the_admin_routes(runtime):
    status, issued = runtime.request("POST", "/local/staff-tokens", {"sub": "dpo-1", "groups": ["dpo"]})
    assert status == 200
    auth = {"authorization": f"Bearer {issued['access_token']}"}
    status, _ = runtime.request("GET", "/v1/admin/subjects?identifier=nobody%40example.com", headers=auth)
    assert status == 404
    assert runtime.request("GET", "/v1/admin/subjects?identifier=nobody%40example.com")[0] == 401
