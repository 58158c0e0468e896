"""Fixtures of the retention tests: the cascade's stream sources and the TTL reaper, driven in-process.

The local runtime's own StreamPoller and TtlReaper (habeas_local.sources) run against the session's
embedded AWS; the poller invokes RetentionCascadeFunction's handler in this process with exactly the
template's environment. Streams start at LATEST so one test never sees another's records.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from habeas_local.functions import Invocation
from habeas_local.sources import StreamPoller, TtlLedger, TtlReaper
from tests.conftest import import_handler
from tests.integration.helpers import bearer


@dataclass
class Retention:
    """Handles on the embedded AWS for one test."""

    aws: Any
    pollers: list[StreamPoller]
    reaper: TtlReaper
    invocations: list[dict[str, Any]]
    use_function: Callable[[str], None]

    def drain(self, rounds: int = 10) -> None:
        """Deliver every stream record that arrived to the cascade, and those its own writes made."""
        for _ in range(rounds):
            if not sum(poller.poll() for poller in self.pollers):
                return

    def reap(self) -> int:
        """DynamoDB's TTL process, now: deletes expired items; their REMOVE records carry its identity."""
        return self.reaper.reap()

    def table(self, env: str) -> Any:
        name = self.aws.function_env("RetentionCascadeFunction")[env]
        return boto3.resource("dynamodb", endpoint_url=self.aws.moto_url).Table(name)

    @property
    def bucket(self) -> str:
        return self.aws.function_env("RetentionCascadeFunction")["ATTACHMENTS_BUCKET"]

    def s3(self) -> Any:
        return boto3.client("s3", endpoint_url=self.aws.moto_url)

    def object_keys(self, prefix: str) -> list[str]:
        page = self.s3().list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return sorted(obj["Key"] for obj in page.get("Contents", []))


@pytest.fixture
def retention_env(embedded_aws, use_function, lambda_context) -> Iterator[Retention]:
    invocations: list[dict[str, Any]] = []

    def invoke(logical_id: str, event: Any) -> Invocation:
        use_function(logical_id)
        invocations.append(event)
        try:
            result = import_handler("retention_cascade").handler(event, lambda_context)
        except Exception as error:  # a whole-batch failure, as Lambda would report it
            return Invocation(str(uuid.uuid4()), False, error_type=type(error).__name__, error_message=str(error))
        return Invocation(str(uuid.uuid4()), True, result)

    ledger = TtlLedger()
    spec = embedded_aws.template.functions["RetentionCascadeFunction"]
    pollers = [
        StreamPoller(
            embedded_aws,
            invoke,
            "RetentionCascadeFunction",
            name,
            {**event["Properties"], "StartingPosition": "LATEST", "MaximumRetryAttempts": 0},
            ledger,
        )
        for name, event in spec.events.items()
        if event.get("Type") == "DynamoDB"
    ]
    reaper = TtlReaper(embedded_aws, ledger, 0)
    yield Retention(embedded_aws, pollers, reaper, invocations, use_function)


def now_epoch() -> int:
    return int(datetime.now(UTC).timestamp())


HOLDS_ROUTE = "/v1/admin/subjects/{subject_id}/holds"


def place_hold(env: Retention, call: Callable[..., Any], subject_id: str) -> str:
    """A DPO places a hold on the subject over the console route; returns its id."""
    dpo = bearer(env.aws.staff_token("dpo-9", ["dpo"]))
    path = HOLDS_ROUTE.format(subject_id=subject_id)
    placed = call("AdminFunction", "POST", path, route=HOLDS_ROUTE, body={"reason": "litigation"}, headers=dpo)
    assert placed.status == 201, placed.body
    return str(placed.body["hold_id"])


def lift_hold(env: Retention, call: Callable[..., Any], subject_id: str, hold_id: str) -> None:
    """The DPO lifts it."""
    dpo = bearer(env.aws.staff_token("dpo-9", ["dpo"]))
    path = f"{HOLDS_ROUTE.format(subject_id=subject_id)}/{hold_id}"
    lifted = call("AdminFunction", "DELETE", path, route=HOLDS_ROUTE + "/{hold_id}", headers=dpo)
    assert lifted.status == 200, lifted.body
