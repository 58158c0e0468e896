"""DynamoDB connector on the embedded AWS: find, export, rectify and erase of one subject, per strategy."""

from __future__ import annotations

import time
from typing import Any

import pytest

from habeas import audit, aws, consent, subjects
from habeas.connectors import ErasureOutcome, StoreUnavailable, connector_for
from habeas.connectors import dynamodb as dynamo_connector
from habeas.datamap import Erasure, FieldSpec, Store, data_map
from habeas.dynamo import from_item, to_item
from habeas.errors import Conflict
from habeas.identifiers import blind_index, normalise
from habeas.keys import KeyShredded

pytestmark = pytest.mark.integration
SYSTEM = audit.Actor(id="system", role="system", source_ip="203.0.113.9")
PROFILE = {
    "name": "Ana Souza",
    "email": "ana.souza@example.com",
    "phone": "+5511987654321",
    "address": "Rua A, 1",
    "document_id": "123.456.789-09",
}


def put_profile(dynamodb, cipher, stores, subject_id, values=PROFILE) -> None:
    table = stores["SUBJECTS_TABLE"]
    key = {"subject_id": subject_id}
    item = {**key, "created_at": "2026-01-01T00:00:00.000Z"}
    for name, value in values.items():
        item[name] = cipher.encrypt(subject_id, value, table=table, item_key=key, attribute=name)
    dynamodb.put_item(TableName=table, Item=to_item(item))


def get(dynamodb, table, key) -> dict[str, Any] | None:
    raw = dynamodb.get_item(TableName=table, Key=to_item(key), ConsistentRead=True).get("Item")
    return from_item(raw) if raw else None


def put_messages(dynamodb, stores, subject_id, count, *, cipher=None, expires_at=None) -> None:
    table = stores["CONVERSATIONS_TABLE"]
    expires_at = expires_at or int(time.time()) + 86400
    for i in range(count):
        key = {"subject_id": subject_id, "sk": f"MSG#{i:05d}"}
        dynamodb.put_item(TableName=table, Item=to_item({**key, "text": f"message {i}", "expires_at": expires_at}))
        if cipher is not None:
            original = {"subject_id": subject_id, "sk": f"ORIGINAL#{i:05d}"}
            sealed = cipher.encrypt(
                subject_id, f"original {i}", table=table, item_key=original, attribute="original_text"
            )
            dynamodb.put_item(
                TableName=table, Item=to_item({**original, "original_text": sealed, "expires_at": expires_at})
            )


def test_profile_export_decrypts_every_field_and_erase_deletes_once(stores, dynamodb, cipher, subject_id):
    put_profile(dynamodb, cipher, stores, subject_id)
    connector = connector_for(data_map().store("profiles"))

    records = connector.export(subject_id)
    assert len(records) == 1 and {k: records[0][k] for k in PROFILE} == PROFILE
    assert connector.find(subject_id) == 1

    assert connector.erase(subject_id, request_id="req-1") == ErasureOutcome("delete", 1)
    assert connector.find(subject_id) == 0
    assert get(dynamodb, stores["SUBJECTS_TABLE"], {"subject_id": subject_id}) is None
    assert connector.erase(subject_id, request_id="req-1") == ErasureOutcome("delete", 0)


def test_conversation_export_skips_expired_items_and_decrypts_originals(stores, dynamodb, cipher, subject_id):
    put_messages(dynamodb, stores, subject_id, 3, cipher=cipher)
    put_messages(dynamodb, stores, f"{subject_id}_expired", 0)
    expired = {"subject_id": subject_id, "sk": "MSG#old", "text": "stale", "expires_at": int(time.time()) - 60}
    dynamodb.put_item(TableName=stores["CONVERSATIONS_TABLE"], Item=to_item(expired))
    connector = connector_for(data_map().store("conversations"))

    records = connector.export(subject_id)

    assert sorted(r["sk"] for r in records) == [f"{p}#{i:05d}" for p in ("MSG", "ORIGINAL") for i in range(3)]
    originals = {r["sk"]: r["original_text"] for r in records if r["sk"].startswith("ORIGINAL#")}
    assert originals == {f"ORIGINAL#{i:05d}": f"original {i}" for i in range(3)}
    assert connector.find(subject_id) == 7  # the expired item is still present until TTL reaps it


class PartialBatches:
    """Wraps BatchWriteItem: the first ``throttled`` calls write only half and hand the rest back unprocessed."""

    def __init__(self, client, throttled: int) -> None:
        self.real, self.throttled, self.sizes = client.batch_write_item, throttled, []

    def __call__(self, **kwargs: Any) -> dict[str, Any]:
        ((table, requests),) = kwargs["RequestItems"].items()
        self.sizes.append(len(requests))
        if self.throttled <= 0 or len(requests) < 2:
            return self.real(**kwargs)
        self.throttled -= 1
        half = len(requests) // 2
        self.real(RequestItems={table: requests[:half]})
        return {"UnprocessedItems": {table: requests[half:]}}


def test_erase_deletes_in_batches_of_25_and_retries_unprocessed_items(stores, dynamodb, subject_id, monkeypatch):
    put_messages(dynamodb, stores, subject_id, 60)
    neighbour = f"{subject_id}x"
    put_messages(dynamodb, stores, neighbour, 2)
    client = aws.client("dynamodb")
    batches = PartialBatches(client, throttled=2)
    monkeypatch.setattr(client, "batch_write_item", batches)
    connector = connector_for(data_map().store("conversations"))
    connector.sleep = lambda _seconds: None

    outcome = connector.erase(subject_id, request_id="req-2")

    assert outcome == ErasureOutcome("delete", 60)
    assert max(batches.sizes) == 25
    assert len(batches.sizes) == 3 + 2  # three batches (25, 25, 10) and two retries of unprocessed halves
    assert connector.find(subject_id) == 0
    assert connector.find(neighbour) == 2  # another subject's partition is untouched
    assert connector.erase(subject_id, request_id="req-2") == ErasureOutcome("delete", 0)


def test_batch_that_never_drains_fails_loudly_instead_of_counting_done(stores, dynamodb, subject_id, monkeypatch):
    put_messages(dynamodb, stores, subject_id, 3)
    connector = connector_for(data_map().store("conversations"))
    connector.sleep = lambda _seconds: None
    with monkeypatch.context() as patch:
        patch.setattr(aws.client("dynamodb"), "batch_write_item", lambda **kw: {"UnprocessedItems": kw["RequestItems"]})
        with pytest.raises(StoreUnavailable):
            connector.erase(subject_id, request_id="req-3")
    assert connector.find(subject_id) == 3


def test_rectify_reencrypts_changed_fields_with_their_binding(stores, dynamodb, cipher, subject_id):
    put_profile(dynamodb, cipher, stores, subject_id)
    connector = connector_for(data_map().store("profiles"))

    changed = connector.rectify(subject_id, {"name": "Ana S. Lima", "address": "Rua B, 2", "text": "not mine"})

    assert changed == 1
    stored = get(dynamodb, stores["SUBJECTS_TABLE"], {"subject_id": subject_id})
    assert "Ana S. Lima" not in str(stored) and "text" not in stored
    binding = {"table": stores["SUBJECTS_TABLE"], "item_key": {"subject_id": subject_id}}
    assert cipher.decrypt(subject_id, stored["name"], attribute="name", **binding) == "Ana S. Lima"
    assert cipher.decrypt(subject_id, stored["address"], attribute="address", **binding) == "Rua B, 2"
    assert connector.export(subject_id)[0]["email"] == PROFILE["email"]


def test_rectify_of_an_absent_profile_creates_nothing(stores, dynamodb, subject_id):
    connector = connector_for(data_map().store("profiles"))
    assert connector.rectify(subject_id, {"name": "Nobody"}) == 0
    assert get(dynamodb, stores["SUBJECTS_TABLE"], {"subject_id": subject_id}) is None


def verified_subject(email: str) -> str:
    subject_id, created = subjects.find_or_create(blind_index(normalise(email)), "email")
    assert created
    return subject_id


def test_changed_email_moves_the_blind_index_to_the_same_subject(stores, dynamodb, cipher):
    old, new = "old-" + _unique() + "@example.com", "New-" + _unique() + "@Example.com"
    subject_id = verified_subject(old)
    phone = "+34612345678"
    # The phone row stays: only rows of the changed kind move.
    put_profile(dynamodb, cipher, stores, subject_id, {"email": old, "phone": phone})
    dynamodb.put_item(
        TableName=stores["IDENTIFIERS_TABLE"],
        Item=to_item({"blind_index": blind_index(normalise(phone)), "subject_id": subject_id, "kind": "phone"}),
    )
    connector = connector_for(data_map().store("profiles"))

    assert connector.rectify(subject_id, {"email": new}) == 1

    assert subjects.find(blind_index(normalise(new))) == subject_id
    assert subjects.find(blind_index(normalise(old))) is None
    assert subjects.find(blind_index(normalise(phone))) == subject_id
    assert connector.export(subject_id)[0]["email"] == new.lower()
    assert connector.rectify(subject_id, {"email": new}) == 1  # rerun: idempotent
    assert subjects.find(blind_index(normalise(new))) == subject_id


def test_email_of_another_subject_is_a_conflict_and_changes_nothing(stores, dynamodb, cipher):
    mine, theirs = f"mine-{_unique()}@example.com", f"theirs-{_unique()}@example.com"
    subject_id, other = verified_subject(mine), verified_subject(theirs)
    put_profile(dynamodb, cipher, stores, subject_id, {"email": mine})
    connector = connector_for(data_map().store("profiles"))

    with pytest.raises(Conflict):
        connector.rectify(subject_id, {"email": theirs, "name": "Ana"})

    assert subjects.find(blind_index(normalise(theirs))) == other
    assert subjects.find(blind_index(normalise(mine))) == subject_id
    assert connector.export(subject_id)[0]["email"] == mine
    assert "name" not in connector.export(subject_id)[0]


def test_identifier_rows_are_found_through_the_index_and_deleted(stores, subject_id):
    for kind, value in (("email", f"{_unique()}@example.com"), ("phone", "+14155552671")):
        aws.client("dynamodb").put_item(
            TableName=stores["IDENTIFIERS_TABLE"],
            Item=to_item({"blind_index": f"{kind}-{subject_id}-{value}", "subject_id": subject_id, "kind": kind}),
        )
    connector = connector_for(data_map().store("identifiers"))
    assert connector.find(subject_id) == 2
    assert len(connector.export(subject_id)) == 2
    assert connector.erase(subject_id, request_id="r") == ErasureOutcome("delete", 2)
    assert connector.find(subject_id) == 0


def test_keyring_shred_leaves_no_key_and_is_idempotent(stores, dynamodb, cipher, subject_id):
    put_profile(dynamodb, cipher, stores, subject_id, {"name": "Ana"})
    connector = connector_for(data_map().store("keyring"))
    assert connector.find(subject_id) == 1
    assert connector.export(subject_id) and "wrapped_key" not in connector.export(subject_id)[0]

    assert connector.erase(subject_id, request_id="r") == ErasureOutcome("shred", 1)

    assert connector.find(subject_id) == 0
    sealed = get(dynamodb, stores["SUBJECTS_TABLE"], {"subject_id": subject_id})["name"]
    with pytest.raises(KeyShredded):
        cipher.decrypt(
            subject_id, sealed, table=stores["SUBJECTS_TABLE"], item_key={"subject_id": subject_id}, attribute="name"
        )
    assert connector.erase(subject_id, request_id="r") == ErasureOutcome("shred", 0)


def test_hash_chained_logs_are_retained_intact_and_exported(stores, subject_id, calls):
    actor = audit.Actor(id=subject_id, role="subject", source_ip="198.51.100.7")
    consent.record_consent(
        subject_id, "marketing", granted=True, policy_version="2026-01", channel="portal", locale="en", actor=actor
    )
    ledger = connector_for(data_map().store("consent_ledger"))
    log = connector_for(data_map().store("audit_log"))
    calls.clear()

    assert ledger.erase(subject_id, request_id="r") == ErasureOutcome("retain", 0)
    assert log.erase(subject_id, request_id="r") == ErasureOutcome("retain", 0)
    assert ledger.find(subject_id) == 0 and log.find(subject_id) == 0
    assert sum(calls.values()) == 0  # retain touches nothing

    assert consent.verify_ledger(subject_id).ok and audit.verify(subject_id).ok
    assert any(r.get("sk", "").startswith("EVENT#") for r in ledger.export(subject_id))
    assert [r["action"] for r in log.export(subject_id) if "action" in r] == ["consent.granted"]


def test_pseudonymize_replaces_personal_fields_and_keeps_the_record(stores, dynamodb, subject_id):
    crm = Store(
        name="crm",
        kind="dynamodb",
        table_env="CONVERSATIONS_TABLE",
        partition_key="subject_id",
        sort_key="sk",
        sort_prefix="CRM#",
        fields={"customer_name": FieldSpec(category="name"), "note": FieldSpec(category="conversation")},
        erasure=Erasure(strategy="pseudonymize", legal_basis="Invoices, tax law", period_days=1825),
    )
    table = stores["CONVERSATIONS_TABLE"]
    for i in range(3):
        item = {"subject_id": subject_id, "sk": f"CRM#{i}", "customer_name": "Ana", "note": "x", "total": 10 + i}
        dynamodb.put_item(TableName=table, Item=to_item(item))
    put_messages(dynamodb, stores, subject_id, 1)  # outside the store's sort prefix
    connector = connector_for(crm)
    assert connector.find(subject_id) == 3

    assert connector.erase(subject_id, request_id="r") == ErasureOutcome("pseudonymize", 3)

    kept = get(dynamodb, table, {"subject_id": subject_id, "sk": "CRM#1"})
    assert kept["total"] == 11 and "Ana" not in str(kept)
    assert kept["customer_name"].startswith(dynamo_connector.PSEUDONYM)
    assert connector.find(subject_id) == 0
    assert connector.erase(subject_id, request_id="r") == ErasureOutcome("pseudonymize", 0)
    assert get(dynamodb, table, {"subject_id": subject_id, "sk": "MSG#00000"})["text"] == "message 0"


def test_no_connector_scans_or_queries_beyond_the_subject(stores, dynamodb, cipher, subject_id, calls):
    put_profile(dynamodb, cipher, stores, subject_id)
    put_messages(dynamodb, stores, subject_id, 2, cipher=cipher)
    calls.clear()
    for store in data_map().stores.values():
        if store.kind != "dynamodb" or store.table_env not in stores:
            continue
        connector = connector_for(store)
        connector.find(subject_id)
        connector.export(subject_id)
        connector.erase(subject_id, request_id="r")
    assert "Scan" not in calls
    for name, params in calls.params:
        if name == "Query":
            assert subject_id in str(params["ExpressionAttributeValues"])


def _unique() -> str:
    import uuid

    return uuid.uuid4().hex[:10]


def test_requests_are_exported_through_the_subject_index_and_retained(stores, dynamodb, subject_id):
    if "REQUESTS_TABLE" not in stores:
        pytest.skip("the template has no requests table yet")
    for n in range(2):
        item = {"request_id": f"req_{subject_id}_{n}", "subject_id": subject_id, "created_at": f"2026-01-0{n + 1}"}
        dynamodb.put_item(TableName=stores["REQUESTS_TABLE"], Item=to_item({**item, "status": "completed"}))
    connector = connector_for(data_map().store("requests"))
    assert sorted(r["request_id"] for r in connector.export(subject_id)) == [f"req_{subject_id}_{n}" for n in range(2)]
    assert connector.erase(subject_id, request_id="r") == ErasureOutcome("retain", 0)
    assert len(connector.export(subject_id)) == 2
