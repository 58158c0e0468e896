"""Steps the integration tests share: verify a subject, read tables directly."""

from __future__ import annotations

import re
from typing import Any

import boto3


def code_sent_to(outbox, identifier: str) -> str:
    """The newest one-time code delivered to ``identifier``."""
    bodies = [m["body"] for m in outbox() if m["to"] == identifier]
    assert bodies, "no code was delivered"
    match = re.search(r"\b(\d{6})\b", bodies[-1])
    assert match
    return match.group(1)


def verify(call, outbox, identifier: str, **extra: Any) -> dict[str, Any]:
    """Run the whole verification flow; returns the confirm answer body."""
    started = call("ApiFunction", "POST", "/v1/verifications", body={"identifier": identifier, **extra})
    assert started.status == 202, started.body
    verification_id = started.body["verification_id"]
    code = code_sent_to(outbox, identifier.lower() if "@" in identifier else re.sub(r"[^\d+]", "", identifier))
    confirmed = call(
        "ApiFunction",
        "POST",
        f"/v1/verifications/{verification_id}/confirm",
        route="/v1/verifications/{verification_id}/confirm",
        body={"code": code},
    )
    assert confirmed.status == 200, confirmed.body
    return confirmed.body


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def items(embedded_aws, logical_table: str) -> list[dict[str, Any]]:
    """Every item of a table (tests only: a scan is fine here)."""
    name = embedded_aws.function_env("ApiFunction").get(logical_table.upper())
    table = boto3.resource("dynamodb", endpoint_url=embedded_aws.moto_url).Table(name)
    found, kwargs = [], {}
    while True:
        page = table.scan(**kwargs)
        found += page["Items"]
        if "LastEvaluatedKey" not in page:
            return found
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
