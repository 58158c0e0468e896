"""Fixtures of the connector tests: the embedded AWS's tables, bucket and key in the process environment."""

from __future__ import annotations

import collections
import uuid
from typing import Any

import boto3
import pytest

from habeas import aws, keys
from habeas.keys import FieldCipher, default_keyring
from tests.conftest import _reset_library_caches

# Environment variables the data map's stores name, and the template resources behind them.
STORE_RESOURCES = {
    "SUBJECTS_TABLE": "SubjectsTable",
    "IDENTIFIERS_TABLE": "IdentifiersTable",
    "CONVERSATIONS_TABLE": "ConversationsTable",
    "CONSENTS_TABLE": "ConsentsTable",
    "AUDIT_TABLE": "AuditTable",
    "KEYRING_TABLE": "KeyringTable",
    "REQUESTS_TABLE": "RequestsTable",
    "EXPORTS_BUCKET": "ExportsBucket",
    "BLIND_INDEX_SECRET_ARN": "BlindIndexSecret",
}


@pytest.fixture
def stores(embedded_aws, monkeypatch) -> dict[str, str]:
    """Every store's variable set to the embedded resource (a bucket made here if the template has none)."""
    env = {}
    for variable, logical_id in STORE_RESOURCES.items():
        if logical_id in embedded_aws.physical_ids:
            env[variable] = embedded_aws.physical_ids[logical_id]
    if "EXPORTS_BUCKET" not in env:
        env["EXPORTS_BUCKET"] = "connectors-test-exports"
        s3 = boto3.client("s3", endpoint_url=embedded_aws.moto_url)
        s3.create_bucket(Bucket=env["EXPORTS_BUCKET"])
        s3.put_bucket_versioning(Bucket=env["EXPORTS_BUCKET"], VersioningConfiguration={"Status": "Enabled"})
    env["KMS_KEY_ARN"] = (
        f"arn:aws:kms:{embedded_aws.region}:{embedded_aws.account_id}:key/{embedded_aws.physical_ids['DataKey']}"
    )
    env["HABEAS_DEPLOYMENT"] = "habeas"
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.delenv("DATA_MAP_PATH", raising=False)
    _reset_library_caches()
    keys.reset()
    yield env
    _reset_library_caches()
    keys.reset()


@pytest.fixture
def subject_id() -> str:
    return f"sub_{uuid.uuid4().hex}"


@pytest.fixture
def cipher(stores) -> FieldCipher:
    return FieldCipher(default_keyring())


@pytest.fixture
def dynamodb(stores) -> Any:
    return boto3.client("dynamodb")


class Calls(collections.Counter):
    """AWS operations made through the library's clients, with their parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.params: list[tuple[str, dict[str, Any]]] = []

    def hook(self, model: Any, params: dict[str, Any], **_kwargs: Any) -> None:
        self[model.name] += 1
        self.params.append((model.name, params))


@pytest.fixture
def calls(stores) -> Calls:
    """Counts the calls of the library's DynamoDB and S3 clients (provide-client-params sees plain params)."""
    counter = Calls()
    for service in ("dynamodb", "s3"):
        aws.client(service).meta.events.register(f"provide-client-params.{service}.*", counter.hook)
    return counter
