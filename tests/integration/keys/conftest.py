"""Fixtures of the keys tests: per-test tables made from template.yaml on the embedded AWS, a movable clock, KMS call counts."""

from __future__ import annotations

import collections
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from habeas import aws, keys
from habeas.keys import DynamoFieldStore, FieldCipher, KeyCache, Keyring
from habeas_local.testing import create_table_like

ROOT = Path(__file__).resolve().parents[3]
DEPLOYMENT = "habeas-test"


@dataclass
class FakeClock:
    """Wall clock for the keyring (created_at, rotation age) and monotonic seconds for the cache."""

    wall: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    seconds: float = 1000.0

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.seconds

    def advance(self, delta: timedelta) -> None:
        self.wall += delta
        self.seconds += delta.total_seconds()


class KmsCalls(collections.Counter):
    """Counts KMS operations made through one client."""

    def hook(self, model: Any, **_kwargs: Any) -> None:
        self[model.name] += 1

    @property
    def total(self) -> int:
        return sum(self.values())


@dataclass
class KeysEnv:
    kms: Any
    dynamodb: Any
    kms_key_arn: str
    keyring_table: str
    data_table: str
    clock: FakeClock
    calls: KmsCalls
    resource: Any = None

    def keyring(self, *, max_entries: int = 1000, max_age_seconds: float = 300, **overrides: Any) -> Keyring:
        """A keyring as one warm container would hold it (its own cache), on the shared KMS client."""
        params = {
            "table_name": self.keyring_table,
            "kms_key_id": self.kms_key_arn,
            "deployment": DEPLOYMENT,
            "cache": KeyCache(max_entries=max_entries, max_age_seconds=max_age_seconds, clock=self.clock.monotonic),
            "kms": self.kms,
            "dynamodb": self.dynamodb,
            "now": self.clock.now,
        }
        return Keyring(**{**params, **overrides})

    def store(self) -> DynamoFieldStore:
        return DynamoFieldStore(
            self.data_table, encrypted_attributes=["body", "sender_name"], sort_key="sk", dynamodb=self.dynamodb
        )

    def put_message(self, cipher: FieldCipher, subject_id: str, sk: str, body: str, sender_name: str) -> dict:
        """Write one conversation item with its personal fields encrypted, the way a writer would."""
        item = cipher.encrypt_item(
            subject_id,
            {"subject_id": subject_id, "sk": sk, "body": body, "sender_name": sender_name, "channel": "email"},
            table=self.data_table,
            key_attributes=["subject_id", "sk"],
            encrypted_attributes=["body", "sender_name"],
        )
        self.resource.Table(self.data_table).put_item(Item=item)
        return item

    def read_message(self, cipher: FieldCipher, subject_id: str, sk: str) -> dict:
        item = (
            boto3.resource("dynamodb")
            .Table(self.data_table)
            .get_item(Key={"subject_id": subject_id, "sk": sk}, ConsistentRead=True)["Item"]
        )
        return cipher.decrypt_item(
            subject_id,
            item,
            table=self.data_table,
            key_attributes=["subject_id", "sk"],
            encrypted_attributes=["body", "sender_name"],
        )

    def keyring_items(self, subject_id: str) -> list[dict]:
        table = self.resource.Table(self.keyring_table)
        return table.query(
            KeyConditionExpression="subject_id = :s", ExpressionAttributeValues={":s": subject_id}, ConsistentRead=True
        )["Items"]


@pytest.fixture
def keys_env(monkeypatch, embedded_aws) -> Any:
    """A KMS key, a keyring table and a conversations table shaped as in template.yaml, made for this test.

    They live on the session's embedded AWS under names of their own: ``mock_aws()`` would reset the
    in-process moto that the other integration tests share.
    """
    monkeypatch.setenv("HABEAS_DEPLOYMENT", DEPLOYMENT)
    suffix = uuid.uuid4().hex[:8]
    aws.reset()
    keys.reset()
    kms = boto3.client("kms")
    dynamodb = boto3.client("dynamodb")
    calls = KmsCalls()
    kms.meta.events.register("before-call.kms.*", calls.hook)
    key_arn = kms.create_key(Description="BYOK test key")["KeyMetadata"]["Arn"]
    env = KeysEnv(
        kms=kms,
        dynamodb=dynamodb,
        kms_key_arn=key_arn,
        keyring_table=create_table_like(dynamodb, "KeyringTable", f"keyring-{suffix}", ROOT / "template.yaml"),
        data_table=create_table_like(dynamodb, "ConversationsTable", f"conversations-{suffix}", ROOT / "template.yaml"),
        clock=FakeClock(),
        calls=calls,
        resource=boto3.resource("dynamodb"),
    )
    calls.clear()
    yield env
    aws.reset()
    keys.reset()


def emulate_kms_key_state(kms: Any) -> None:
    """Make moto's KMS refuse a disabled or pending-deletion key as real KMS does.

    moto 5.2 records the key state but still serves GenerateDataKey/Decrypt for a disabled key; real KMS
    answers DisabledException / KMSInvalidStateException, which is what this hook returns.
    """

    def refuse(model: Any, params: dict, **_kwargs: Any) -> Any:
        # before-call sees the serialized request: KMS speaks JSON, so the key id is in the body.
        body = params.get("body") or b"{}"
        key_id = json.loads(body if isinstance(body, str) else body.decode()).get("KeyId")
        if model.name not in {"GenerateDataKey", "Decrypt"} or not key_id:
            return None
        state = boto3.client("kms").describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"]
        if state == "Enabled":
            return None
        code = "DisabledException" if state == "Disabled" else "KMSInvalidStateException"
        error = {
            "Error": {"Code": code, "Message": f"{key_id} is {state}"},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }
        return SimpleNamespace(status_code=400, headers={}, content=b""), error

    kms.meta.events.register("before-call.kms.*", refuse)
