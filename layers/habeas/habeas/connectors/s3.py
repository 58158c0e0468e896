"""S3 connector: one subject's prefix, every object version; nothing outside the prefix is listed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from habeas import aws, clock
from habeas.connectors.base import Connector, ErasureOutcome, StoreUnavailable

DELETE_BATCH = 1000  # DeleteObjects' limit
DELETE_ATTEMPTS = 6
EXPORT_MAX_BYTES = 1024 * 1024  # larger objects are listed in the export without their content


class S3Connector(Connector):
    """find / export / erase over ``bucket/prefix`` of one subject; rectification is not field-level here."""

    @property
    def bucket(self) -> str:
        """The bucket name, from the store's ``bucket_env``."""
        return self.store.env_value("bucket_env")

    def _versions(self, subject_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """("version" | "marker", entry) for every object version and delete marker under the prefix."""
        paginator = aws.client("s3").get_paginator("list_object_versions")
        prefix = self.store.prefix_for(subject_id)
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for entry in page.get("Versions", []):
                yield "version", entry
            for entry in page.get("DeleteMarkers", []):
                yield "marker", entry

    def find(self, subject_id: str) -> int:
        """Object versions (current or not) left under the subject's prefix."""
        if self.store.erasure.strategy == "retain":
            return 0
        return sum(1 for kind, _ in self._versions(subject_id) if kind == "version")

    def export(self, subject_id: str) -> list[dict[str, Any]]:
        """Current objects under the prefix: key, size, time and, for JSON or text up to 1 MiB, the content."""
        client = aws.client("s3")
        now = clock.now()
        records = []
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.store.prefix_for(subject_id)):
            for entry in page.get("Contents", []):
                record: dict[str, Any] = {
                    "key": entry["Key"],
                    "size": entry["Size"],
                    "last_modified": clock.rfc3339(entry["LastModified"]),
                }
                if entry["Size"] <= EXPORT_MAX_BYTES:
                    obj = client.get_object(Bucket=self.bucket, Key=entry["Key"])
                    expires = obj.get("Expires")
                    if expires is not None and hasattr(expires, "tzinfo") and expires <= now:
                        continue
                    record["content_type"] = obj.get("ContentType")
                    record.update(_content(obj["Body"].read()))
                records.append(record)
        return records

    def rectify(self, subject_id: str, changes: dict[str, str], *, request_id: str | None = None) -> int:
        """Objects are documents, not fields: nothing to rectify in place."""
        return 0

    def erase(self, subject_id: str, *, request_id: str) -> ErasureOutcome:
        """Delete every version and delete marker under the prefix, up to 1000 per call."""
        strategy = self.store.erasure.strategy
        if strategy != "delete":
            return ErasureOutcome(strategy, 0)
        deleted = 0
        batch: list[dict[str, str]] = []
        versions = 0
        for kind, entry in self._versions(subject_id):
            batch.append({"Key": entry["Key"], "VersionId": entry["VersionId"]})
            versions += kind == "version"
            if len(batch) == DELETE_BATCH:
                self._delete(batch)
                deleted, versions, batch = deleted + versions, 0, []
        if batch:
            self._delete(batch)
            deleted += versions
        return ErasureOutcome("delete", deleted)

    def _delete(self, objects: list[dict[str, str]]) -> None:
        client = aws.client("s3")
        pending = objects
        for attempt in range(DELETE_ATTEMPTS):
            if attempt:
                self.backoff(attempt - 1)
            response = client.delete_objects(Bucket=self.bucket, Delete={"Objects": pending, "Quiet": True})
            failed = {(e.get("Key"), e.get("VersionId")) for e in response.get("Errors", [])}
            pending = [o for o in pending if (o["Key"], o["VersionId"]) in failed]
            if not pending:
                return
        raise StoreUnavailable(f"store {self.store.name}: {len(pending)} object versions could not be deleted")


def _content(body: bytes) -> dict[str, Any]:
    """JSON content parsed, UTF-8 text as is; binary content is left out (key and size say what it was)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return {}
    try:
        return {"content": json.loads(text)}
    except ValueError:
        return {"content": text}
