"""Every store of the shipped data map, one subject: export, erase in map order, then nothing erasable is left."""

from __future__ import annotations

import json

import boto3
import pytest

from habeas import audit, consent, subjects
from habeas.connectors import connector_for
from habeas.datamap import data_map
from habeas.dynamo import to_item
from habeas.identifiers import blind_index, normalise
from tests.integration.connectors.test_dynamodb_connector import put_messages, put_profile

pytestmark = pytest.mark.integration


def test_subject_in_every_store_is_erased_everywhere_and_the_logs_still_verify(stores, dynamodb, cipher):
    email = "whole-map@example.com"
    subject_id, _ = subjects.find_or_create(blind_index(normalise(email)), "email")
    put_profile(dynamodb, cipher, stores, subject_id, {"name": "Ana", "email": email})
    put_messages(dynamodb, stores, subject_id, 30, cipher=cipher)
    actor = audit.Actor(id=subject_id, role="subject", source_ip="198.51.100.7")
    consent.record_consent(
        subject_id, "analytics", granted=True, policy_version="2026-01", channel="portal", locale="es", actor=actor
    )
    s3 = boto3.client("s3")
    s3.put_object(Bucket=stores["EXPORTS_BUCKET"], Key=f"exports/{subject_id}/e.json", Body=json.dumps({}).encode())
    dynamodb.put_item(
        TableName=stores["IDENTIFIERS_TABLE"],
        Item=to_item({"blind_index": "other-subject-row", "subject_id": f"{subject_id}_other", "kind": "email"}),
    )
    connectors = [connector_for(store) for store in data_map().stores.values()]
    connectors = [c for c in connectors if c.applicable() and (c.store.table_env or c.store.bucket_env) in stores]

    exported = {c.store.name: c.export(subject_id) for c in connectors}
    assert exported["profiles"][0]["email"] == email and len(exported["conversations"]) == 60

    outcomes = {c.store.name: c.erase(subject_id, request_id="req-all") for c in connectors}

    assert {name: o.strategy for name, o in outcomes.items()}["keyring"] == "shred"
    assert outcomes["conversations"].count == 60 and outcomes["identifiers"].count == 1
    assert {c.store.name: c.find(subject_id) for c in connectors} == {c.store.name: 0 for c in connectors}
    assert subjects.find(blind_index(normalise(email))) is None
    assert subjects.find("other-subject-row") == f"{subject_id}_other"
    assert consent.verify_ledger(subject_id).ok and audit.verify(subject_id).ok
    assert all(c.erase(subject_id, request_id="req-all").count == 0 for c in connectors)
