"""S3 connector on the embedded AWS: only the subject's prefix, every object version erased."""

from __future__ import annotations

import json

import boto3
import pytest

from habeas.connectors import ErasureOutcome, connector_for
from habeas.connectors import s3 as s3_connector
from habeas.datamap import data_map

pytestmark = pytest.mark.integration


@pytest.fixture
def s3(stores):
    client = boto3.client("s3")
    bucket = stores["EXPORTS_BUCKET"]
    # moto's CloudFormation ignores the template's VersioningConfiguration; AWS applies it.
    if client.get_bucket_versioning(Bucket=bucket).get("Status") != "Enabled":
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return client


def versions_under(s3, bucket, prefix) -> list[tuple[str, str]]:
    found = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        found += [(v["Key"], v["VersionId"]) for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
    return found


def seed(s3, bucket, subject_id) -> None:
    """Three versions of one export, a text note, and a deleted object (version + delete marker)."""
    for n in range(3):
        s3.put_object(
            Bucket=bucket,
            Key=f"exports/{subject_id}/export.json",
            Body=json.dumps({"n": n}).encode(),
            ContentType="application/json",
        )
    s3.put_object(Bucket=bucket, Key=f"exports/{subject_id}/notes.txt", Body=b"hello", ContentType="text/plain")
    s3.put_object(Bucket=bucket, Key=f"exports/{subject_id}/old.csv", Body=b"a,b")
    s3.delete_object(Bucket=bucket, Key=f"exports/{subject_id}/old.csv")


def test_export_returns_current_objects_content(stores, s3, subject_id):
    bucket = stores["EXPORTS_BUCKET"]
    seed(s3, bucket, subject_id)
    connector = connector_for(data_map().store("exports"))

    records = {r["key"].rsplit("/", 1)[1]: r for r in connector.export(subject_id)}

    assert set(records) == {"export.json", "notes.txt"}
    assert records["export.json"]["content"] == {"n": 2}
    assert records["notes.txt"]["content"] == "hello"


def test_erase_deletes_every_version_and_marker_only_under_the_subject_prefix(
    stores, s3, subject_id, monkeypatch, calls
):
    bucket = stores["EXPORTS_BUCKET"]
    seed(s3, bucket, subject_id)
    neighbour = f"{subject_id}0"  # shares the subject id as a string prefix
    seed(s3, bucket, neighbour)
    monkeypatch.setattr(s3_connector, "DELETE_BATCH", 2)  # several DeleteObjects calls on a small seed
    connector = connector_for(data_map().store("exports"))
    assert connector.find(subject_id) == 5

    outcome = connector.erase(subject_id, request_id="req")

    assert outcome == ErasureOutcome("delete", 5)
    deletes = [params["Delete"]["Objects"] for name, params in calls.params if name == "DeleteObjects"]
    assert [len(objects) for objects in deletes] == [2, 2, 2]  # 5 versions + 1 delete marker
    assert versions_under(s3, bucket, f"exports/{subject_id}/") == []
    assert connector.find(subject_id) == 0
    assert len(versions_under(s3, bucket, f"exports/{neighbour}/")) == 6
    assert connector.erase(subject_id, request_id="req") == ErasureOutcome("delete", 0)


def test_listing_never_leaves_the_subject_prefix(stores, s3, subject_id, calls):
    connector = connector_for(data_map().store("exports"))
    connector.find(subject_id)
    connector.export(subject_id)
    connector.erase(subject_id, request_id="req")
    listings = [params for name, params in calls.params if name.startswith("List")]
    assert listings and all(params["Prefix"] == f"exports/{subject_id}/" for params in listings)
