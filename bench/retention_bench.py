"""Retention sweep benchmark on moto: AWS calls of one day's sweep with 100 items expiring among 10,000
and among 100,000 stored. The sweep reads only what expires (the ``by_retention`` index range
``expires_at <= now`` of each policy, and S3 due markers of the days that came due), so the two call
counts should be equal: the ratio must stay at or below 1.1.

Run with ``python -m bench`` (every bench) or ``python -m bench.retention_bench``. Items are seeded
straight into moto's backend (not through the API) so that 100,000 of them take seconds; the sweep
itself goes through boto3 like in Lambda, and every call it makes is counted.
"""

from __future__ import annotations

import collections
import os
import time
from pathlib import Path
from typing import Any

from habeas_local.testing import create_table_like

ROOT = Path(__file__).resolve().parents[1]
DAY = 86400
EXPIRING = 100
S3_EXPIRING = 10  # of the 100: date-partitioned S3 objects; the rest are conversation items
LIMIT_RATIO = 1.1


def _seed(stored: int, now: int, suffix: str) -> tuple[str, str]:
    """``stored`` conversation items (EXPIRING - S3_EXPIRING of them expired) and S3 objects with due markers."""
    import boto3
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends
    from moto.s3.models import s3_backends

    table, bucket = f"conversations-{suffix}", f"attachments-{suffix}"
    dynamodb = boto3.client("dynamodb")
    create_table_like(dynamodb, "ConversationsTable", table, ROOT / "template.yaml")
    boto3.client("s3").create_bucket(Bucket=bucket)
    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][os.environ["AWS_DEFAULT_REGION"]]
    policy = 90 * DAY
    expiring_items = EXPIRING - S3_EXPIRING
    for n in range(stored):
        # The expiring ones expired within the last day; the others expire over the coming year.
        expires_at = now - 1 - (n * 37 % DAY) if n < expiring_items else now + DAY + (n * 7919) % (365 * DAY)
        backend.put_item(
            table,
            {
                "subject_id": {"S": f"sub_{n % 5000:05d}"},
                "sk": {"S": f"MSG#2026-01-01T00:00:00.000Z#whatsapp#wamid.{n:07d}"},
                "text": {"S": "hola, te escribo por mi pedido [card]"},
                "expires_at": {"N": str(expires_at)},
                "retention_policy": {"S": f"conversation#{policy}"},
                "retention_anchor": {"N": str(expires_at - policy)},
            },
        )
    s3 = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
    today = time.strftime("%Y-%m-%d", time.gmtime(now))
    # S3 objects: one in ten stored items has an attachment with its own due day.
    for n in range(stored // 10):
        key = f"attachments/sub_{n % 5000:05d}/export-{n}/file.pdf"
        s3.put_object(bucket, key, b"%PDF")
        day = today if n < S3_EXPIRING else time.strftime("%Y-%m-%d", time.gmtime(now + DAY * (1 + n % 300)))
        s3.put_object(bucket, f"retention/due/{day}/export/{key}", b"")
    return table, bucket


def _sweep_calls(stored: int, now: int) -> tuple[collections.Counter[str], float, dict[str, Any]]:
    import boto3

    from habeas import aws, config, datamap
    from habeas.observability import metrics
    from habeas.retention import sweep

    metrics.add_metric = lambda **_: None  # type: ignore[method-assign]  # no EMF lines in the bench output

    suffix = f"{stored}"
    table, bucket = _seed(stored, now, suffix)
    dynamodb = boto3.client("dynamodb")
    for logical_id, name in (
        ("AuditTable", f"audit-{suffix}"),
        ("HoldsTable", f"holds-{suffix}"),
        ("RetentionTable", f"retention-{suffix}"),
    ):
        create_table_like(dynamodb, logical_id, name, ROOT / "template.yaml")
    os.environ.update(
        # The store this bench seeds (the benches before it leave other stores' table names behind).
        RETENTION_SWEEP_STORES='["conversations"]',
        CONVERSATIONS_TABLE=table,
        ATTACHMENTS_BUCKET=bucket,
        AUDIT_TABLE=f"audit-{suffix}",
        HOLDS_TABLE=f"holds-{suffix}",
        RETENTION_TABLE=f"retention-{suffix}",
    )
    config.get_settings.cache_clear()
    datamap.data_map.cache_clear()
    aws.reset()
    # The last run swept through yesterday: this is one day's run.
    aws.client("dynamodb").put_item(
        TableName=f"retention-{suffix}",
        Item={
            "pk": {"S": "cursor"},
            "sk": {"S": "s3-due"},
            "through": {"S": time.strftime("%Y-%m-%d", time.gmtime(now - DAY))},
        },
    )
    calls: collections.Counter[str] = collections.Counter()
    for service in ("dynamodb", "s3"):
        aws.client(service).meta.events.register(
            f"before-call.{service}.*", lambda model, _s=service, **_: calls.update([f"{_s}:{model.name}"])
        )
    started = time.perf_counter()
    report = sweep.run()
    return calls, time.perf_counter() - started, report


def main() -> None:
    """Print the sweep's AWS calls at 10,000 and 100,000 stored items and their ratio (one run)."""
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_LOG_LEVEL="WARNING",
        POWERTOOLS_METRICS_NAMESPACE="Habeas",
        POWERTOOLS_SERVICE_NAME="habeas",
        HABEAS_DEPLOYMENT="habeas-bench",
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    from moto import mock_aws

    print(f"retention bench (moto; one run): one day's sweep, {EXPIRING} items expiring")
    now = int(time.time())
    results = {}
    with mock_aws():
        for stored in (10_000, 100_000):
            seeded = time.perf_counter()
            calls, seconds, report = _sweep_calls(stored, now)
            deleted = sum(report.get("deleted", {}).values())
            assert report["status"] == "completed" and deleted == EXPIRING, report
            results[stored] = sum(calls.values())
            print(
                f"  {stored:>7,} stored: {results[stored]:>5} AWS calls, {deleted} deleted, sweep {seconds:.1f} s "
                f"(seed+sweep {time.perf_counter() - seeded:.1f} s); per kind: "
                + ", ".join(f"{name} {count}" for name, count in sorted(calls.items()))
            )
    ratio = results[100_000] / results[10_000]
    verdict = "ok" if ratio <= LIMIT_RATIO else "FAIL"
    print(f"  calls at 100,000 / calls at 10,000 = {ratio:.3f} (limit {LIMIT_RATIO}): {verdict}")
    if ratio > LIMIT_RATIO:
        raise SystemExit(f"retention sweep cost grows with what is stored (ratio {ratio:.3f})")


if __name__ == "__main__":
    main()
