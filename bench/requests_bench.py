"""Data-subject request cost benchmark on moto: access and erasure of one subject must cost the same
number of AWS calls whether the stores hold 1,000 or 50,000 records of other subjects.

One subject holds 200 records across the data map's stores (profile, identifiers, conversations with
encrypted originals, consent events, audit entries, keyring, export object versions). For each size the
bench runs every connector's ``export`` (access) and then every ``erase`` followed by the verification
pass (every ``find``), counting AWS calls with botocore event hooks on the library's clients. It prints
the calls ratio between the two sizes (goal <= 1.05) and the erasure calls against the floor:
ceil(records/25) batch writes per table (one DeleteObjects per 1,000 object versions), one key deletion
and one verification read per erasable store (goal <= 1.5x).

Run with ``python -m bench`` (every bench) or ``python -m bench.requests_bench``. moto runs in this
process (``mock_aws``), so times exclude network latency; call counts are what AWS would be sent.
"""

from __future__ import annotations

import collections
import math
import os
import time
from pathlib import Path
from typing import Any

from habeas_local.testing import create_table_like

ROOT = Path(__file__).resolve().parents[1]
SIZES = (1_000, 50_000)
OTHER_RECORDS_PER_SUBJECT = 10  # profile, identifier, 6 messages, consent event, key record
TABLES = {  # environment variable -> template logical id
    "SUBJECTS_TABLE": "SubjectsTable",
    "IDENTIFIERS_TABLE": "IdentifiersTable",
    "CONVERSATIONS_TABLE": "ConversationsTable",
    "CONSENTS_TABLE": "ConsentsTable",
    "AUDIT_TABLE": "AuditTable",
    "KEYRING_TABLE": "KeyringTable",
    "REQUESTS_TABLE": "RequestsTable",
}
# The subject's 200 records.
MESSAGES, ORIGINALS, CONSENT_EVENTS, AUDIT_ENTRIES, EXPORT_KEYS, EXPORT_VERSIONS = 100, 50, 10, 20, 8, 2


class Calls(collections.Counter):
    """AWS operations sent by the library's clients, and the time spent per operation (and GSI)."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: collections.Counter[str] = collections.Counter()
        self._current: tuple[str, float] | None = None

    def hook(self, model: Any, params: dict[str, Any], **_kwargs: Any) -> None:
        name = f"{model.service_model.service_name}:{model.name}"
        self[name] += 1
        label = f"{name} on index {params['IndexName']}" if params.get("IndexName") else name
        self._current = (label, time.perf_counter())

    def done(self, **_kwargs: Any) -> None:
        if self._current:
            label, started = self._current
            self.seconds[label] += time.perf_counter() - started
            self._current = None

    def clear(self) -> None:
        super().clear()
        self.seconds.clear()

    @property
    def total(self) -> int:
        return sum(self.values())


def _create_resources(dynamodb: Any, s3: Any) -> dict[str, str]:
    env = {}
    for variable, logical_id in TABLES.items():
        env[variable] = create_table_like(dynamodb, logical_id, f"bench-{logical_id}", ROOT / "template.yaml")
    s3.create_bucket(Bucket="bench-exports")
    s3.put_bucket_versioning(Bucket="bench-exports", VersioningConfiguration={"Status": "Enabled"})
    env["EXPORTS_BUCKET"] = "bench-exports"
    return env


def _batch_put(dynamodb: Any, table: str, items: list[dict[str, Any]]) -> None:
    from habeas.dynamo import to_item

    for start in range(0, len(items), 25):
        requests = [{"PutRequest": {"Item": to_item(item)}} for item in items[start : start + 25]]
        while requests:
            response = dynamodb.batch_write_item(RequestItems={table: requests})
            requests = response.get("UnprocessedItems", {}).get(table, [])


def _seed_others(dynamodb: Any, env: dict[str, str], first: int, count: int) -> int:
    """``count`` other subjects with OTHER_RECORDS_PER_SUBJECT records each; returns records written."""
    rows: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for n in range(first, first + count):
        subject_id = f"sub_other_{n:06d}"
        rows["SUBJECTS_TABLE"].append({"subject_id": subject_id, "created_at": "2026-01-01T00:00:00.000Z", "name": "x"})
        rows["IDENTIFIERS_TABLE"].append({"blind_index": f"{n:064x}", "subject_id": subject_id, "kind": "email"})
        for i in range(6):
            rows["CONVERSATIONS_TABLE"].append({"subject_id": subject_id, "sk": f"MSG#{i:05d}", "text": "hello"})
        rows["CONSENTS_TABLE"].append({"subject_id": subject_id, "sk": "EVENT#0000000001", "purpose": "marketing"})
        rows["KEYRING_TABLE"].append(
            {"subject_id": subject_id, "version": 1, "wrapped_key": b"k" * 32, "state": "active"}
        )
    for variable, items in rows.items():
        _batch_put(dynamodb, env[variable], items)
    return sum(len(items) for items in rows.values())


def _seed_subject(dynamodb: Any, s3: Any, env: dict[str, str], subject_id: str) -> int:
    """The measured subject's 200 records, encrypted where the data map says so; returns the count."""
    from habeas.identifiers import blind_index, normalise
    from habeas.keys import FieldCipher, default_keyring

    cipher = FieldCipher(default_keyring())  # creates the subject's key: the keyring's 1 record
    profile_key = {"subject_id": subject_id}
    profile = {**profile_key, "created_at": "2026-01-01T00:00:00.000Z"}
    for field, value in {
        "name": "Ana",
        "email": "ana@example.com",
        "phone": "+34612345678",
        "address": "Rua A",
    }.items():
        profile[field] = cipher.encrypt(
            subject_id, value, table=env["SUBJECTS_TABLE"], item_key=profile_key, attribute=field
        )
    _batch_put(dynamodb, env["SUBJECTS_TABLE"], [profile])
    key = b"bench blind-index key, 32 bytes!"
    identifiers = [
        {"blind_index": blind_index(normalise(raw), key), "subject_id": subject_id, "kind": kind}
        for raw, kind in (("ana@example.com", "email"), ("+34612345678", "phone"))
    ]
    _batch_put(dynamodb, env["IDENTIFIERS_TABLE"], identifiers)
    expires = int(time.time()) + 86400
    conversations = [
        {"subject_id": subject_id, "sk": f"MSG#{i:05d}", "text": f"message {i}", "expires_at": expires}
        for i in range(MESSAGES)
    ]
    for i in range(ORIGINALS):
        item_key = {"subject_id": subject_id, "sk": f"ORIGINAL#{i:05d}"}
        sealed = cipher.encrypt(
            subject_id, f"original {i}", table=env["CONVERSATIONS_TABLE"], item_key=item_key, attribute="original_text"
        )
        conversations.append({**item_key, "original_text": sealed, "expires_at": expires})
    _batch_put(dynamodb, env["CONVERSATIONS_TABLE"], conversations)
    consents = [
        {"subject_id": subject_id, "sk": f"EVENT#{i:010d}", "purpose": "marketing", "granted": i % 2 == 0}
        for i in range(1, CONSENT_EVENTS + 1)
    ]
    _batch_put(dynamodb, env["CONSENTS_TABLE"], consents)
    audit = [
        {"chain": f"subject#{subject_id}", "seq": i, "action": "profile.viewed"} for i in range(1, AUDIT_ENTRIES + 1)
    ]
    _batch_put(dynamodb, env["AUDIT_TABLE"], audit)
    for k in range(EXPORT_KEYS):
        for v in range(EXPORT_VERSIONS):
            s3.put_object(
                Bucket=env["EXPORTS_BUCKET"],
                Key=f"exports/{subject_id}/export-{k}.json",
                Body=b'{"version": %d}' % v,
                ContentType="application/json",
            )
    return 1 + len(identifiers) + len(conversations) + len(consents) + len(audit) + 1 + EXPORT_KEYS * EXPORT_VERSIONS


def _floor() -> int:
    """Erasure floor: batch writes per table, S3 deletes, one key deletion, one verification read per store."""
    batch_writes = math.ceil(1 / 25) + math.ceil(2 / 25) + math.ceil((MESSAGES + ORIGINALS) / 25)
    s3_deletes = math.ceil(EXPORT_KEYS * EXPORT_VERSIONS / 1000)
    key_deletion = 1
    verification_reads = 5  # profiles, identifiers, conversations, keyring, exports
    return batch_writes + s3_deletes + key_deletion + verification_reads


def _measure(subject_id: str, calls: Calls) -> dict[str, Any]:
    from habeas.connectors import connector_for
    from habeas.datamap import data_map

    connectors = [c for c in (connector_for(s) for s in data_map().stores.values()) if c.applicable()]
    connectors = [c for c in connectors if (c.store.table_env or c.store.bucket_env or "") in os.environ]
    calls.clear()
    started = time.perf_counter()
    exported = sum(len(c.export(subject_id)) for c in connectors)
    access = (calls.total, time.perf_counter() - started, exported)
    calls.clear()
    started = time.perf_counter()
    erased = {c.store.name: c.erase(subject_id, request_id=f"bench-{subject_id}").count for c in connectors}
    left = {c.store.name: c.find(subject_id) for c in connectors}
    erasure = (calls.total, time.perf_counter() - started, dict(calls), dict(calls.seconds))
    if any(left.values()):
        raise AssertionError(f"verification pass still finds records: {left}")
    return {"access": access, "erasure": erasure, "erased": erased}


def main() -> None:
    """Seed both sizes in one run, measure access and erasure of one subject at each, print the ratios."""
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # noqa: S105 - moto
        AWS_DEFAULT_REGION=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        POWERTOOLS_TRACE_DISABLED="true",
        HABEAS_DEPLOYMENT="habeas-bench",
    )
    for variable in ("AWS_ENDPOINT_URL", "DATA_MAP_PATH", "SUPPORT_DESK_ENDPOINT"):
        os.environ.pop(variable, None)

    import boto3
    from moto import mock_aws

    from habeas import aws, config, datamap, keys

    print("data-subject requests bench (moto in-process; one run)")
    with mock_aws():
        aws.reset()
        keys.reset()
        config.get_settings.cache_clear()
        datamap.data_map.cache_clear()
        dynamodb, s3 = boto3.client("dynamodb"), boto3.client("s3")
        env = _create_resources(dynamodb, s3)
        env["KMS_KEY_ARN"] = boto3.client("kms").create_key(Description="bench")["KeyMetadata"]["Arn"]
        os.environ.update(env)
        calls = Calls()
        for service in ("dynamodb", "s3", "kms"):
            aws.client(service).meta.events.register(f"provide-client-params.{service}.*", calls.hook)
            aws.client(service).meta.events.register(f"after-call.{service}.*", calls.done)

        results, others = {}, 0
        for size in SIZES:
            started = time.perf_counter()
            subjects_needed = size // OTHER_RECORDS_PER_SUBJECT - others // OTHER_RECORDS_PER_SUBJECT
            others += _seed_others(dynamodb, env, others // OTHER_RECORDS_PER_SUBJECT, subjects_needed)
            subject_id = f"sub_measured_{size}"
            own = _seed_subject(dynamodb, s3, env, subject_id)
            seeding = time.perf_counter() - started
            results[size] = _measure(subject_id, calls)
            access, erasure = results[size]["access"], results[size]["erasure"]
            print(
                f"  {others:>6,} other records (seeded in {seeding:.1f}s), subject with {own} records:"
                f" access {access[0]} calls / {access[1] * 1000:.0f} ms ({access[2]} records exported),"
                f" erasure+verification {erasure[0]} calls / {erasure[1] * 1000:.0f} ms"
            )
        small, large = results[SIZES[0]], results[SIZES[-1]]
        access_ratio = large["access"][0] / small["access"][0]
        erasure_ratio = large["erasure"][0] / small["erasure"][0]
        floor = _floor()
        print(
            f"  calls ratio {SIZES[-1]:,} vs {SIZES[0]:,}: access {access_ratio:.2f}, erasure {erasure_ratio:.2f}"
            f" (goal <= 1.05); time ratio: access {large['access'][1] / small['access'][1]:.2f},"
            f" erasure {large['erasure'][1] / small['erasure'][1]:.2f}"
        )
        print(
            f"  erasure calls vs floor: {large['erasure'][0]} / {floor} = {large['erasure'][0] / floor:.2f}x"
            f" (goal <= 1.5x; floor = ceil(records/25) batch writes per table + 1 DeleteObjects"
            f" + 1 key deletion + 5 verification reads)"
        )
        print(f"  erasure calls by operation: {dict(sorted(large['erasure'][2].items()))}")
        print(f"  erased per store: {large['erased']}")
        slowest = sorted(large["erasure"][3].items(), key=lambda kv: -kv[1])[:2]
        print(
            "  time grows with the tables on moto only: moto's Query walks every item of a table (base table"
            " and GSI alike), DynamoDB reads just the subject's partition. Slowest erasure operations: "
            + ", ".join(f"{label} {seconds * 1000:.0f} ms" for label, seconds in slowest)
        )


if __name__ == "__main__":
    main()
