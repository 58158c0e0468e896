"""Access and portability exports in the exports bucket (SSE-KMS; the bucket's lifecycle deletes them).

Layout under ``exports/{subject_id}/{request_id}/``: ``parts/{store}.json`` (one store's records, written
by the worker that handled that store), ``export.json`` (the contract's document, assembled when every
store is done) and, for portability, ``{store}.csv``. Links are presigned GETs issued afresh each time.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from habeas import aws, clock
from habeas.config import get_settings


def prefix(subject_id: str, request_id: str) -> str:
    """Where one request's files live (inside the subject's own prefix)."""
    return f"exports/{subject_id}/{request_id}/"


def _put(key: str, body: bytes, content_type: str) -> None:
    settings = get_settings()
    extra: dict[str, Any] = {"ServerSideEncryption": "aws:kms"}
    if settings.kms_key_arn:
        extra["SSEKMSKeyId"] = settings.kms_key_arn
    aws.client("s3").put_object(
        Bucket=settings.require("exports_bucket"), Key=key, Body=body, ContentType=content_type, **extra
    )


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")


def write_part(subject_id: str, request_id: str, store: str, records: list[dict[str, Any]]) -> None:
    """One store's exported records, kept until the document is assembled."""
    _put(f"{prefix(subject_id, request_id)}parts/{store}.json", _json({"records": records}), "application/json")


def read_part(subject_id: str, request_id: str, store: str) -> list[dict[str, Any]]:
    """The records a worker exported from one store."""
    body = (
        aws.client("s3")
        .get_object(
            Bucket=get_settings().require("exports_bucket"), Key=f"{prefix(subject_id, request_id)}parts/{store}.json"
        )["Body"]
        .read()
    )
    return list(json.loads(body)["records"])


def document(request: dict[str, Any], stores: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The contract's export document, plus the request's own history."""
    return {
        "subject_id": request["subject_id"],
        "generated_at": clock.rfc3339(clock.now()),
        "regulation": request["regulation"],
        "stores": {name: {"records": records} for name, records in stores.items()},
        "request": {
            "request_id": request["request_id"],
            "type": request["type"],
            "created_at": request["created_at"],
            "due_at": request["due_at"],
            "history": request.get("history") or [],
        },
    }


def to_csv(records: list[dict[str, Any]]) -> bytes:
    """Records as CSV: one column per attribute (union, sorted), nested values as JSON."""
    columns = sorted({column for record in records for column in record})
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for record in records:
        writer.writerow(
            {
                column: json.dumps(value, ensure_ascii=False, default=str)
                if isinstance(value, dict | list)
                else ("" if value is None else value)
                for column, value in record.items()
            }
        )
    return out.getvalue().encode("utf-8")


def write(request: dict[str, Any], stores: dict[str, list[dict[str, Any]]], *, csv_files: bool) -> dict[str, Any]:
    """Write the document (and a CSV per store for portability); what to link from the request."""
    base = prefix(request["subject_id"], request["request_id"])
    _put(f"{base}export.json", _json(document(request, stores)), "application/json")
    files: dict[str, str] = {}
    if csv_files:
        for name, records in stores.items():
            files[name] = f"{base}{name}.csv"
            _put(files[name], to_csv(records), "text/csv; charset=utf-8")
    return {"key": f"{base}export.json", "files": files}


def presigned_url(key: str) -> str:
    """A GET URL for one export file, valid for EXPORT_URL_TTL_SECONDS (15 minutes)."""
    settings = get_settings()
    return str(
        aws.client("s3").generate_presigned_url(
            "get_object",
            Params={"Bucket": settings.require("exports_bucket"), "Key": key},
            ExpiresIn=settings.export_url_ttl_seconds,
        )
    )
