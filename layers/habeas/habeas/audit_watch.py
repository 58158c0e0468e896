"""The scheduled audit verification: re-check the hash chains that changed since the last run.

Each run pages through the chain heads (the seq-0 item of each chain, a scheduled job's read, never a
request path) and compares each with its checkpoint in AlertsTable (``AUDITVERIFY`` / ``<chain>``).
A chain is verified in full when its head moved since the checkpoint, when its last full check is
older than ``reverify_hours`` (so an edit to an old entry of a quiet chain is still caught within a
day), or on ``full=True``. A broken chain raises a ``audit_chain_broken`` alert once per head state.

A checkpoint whose chain has no head any more is verified too. The checkpoint remembers when the
chain's newest entry was recorded (hashed in that entry; epoch seconds), so a chain that vanished, head, entries and
all, before that entry was past the retention period is a break; one that retention expired whole
passes (``ChainedLog.verify`` demands hashed proof of whatever is left) and its checkpoint is dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from habeas import alerts, audit, aws, clock
from habeas.chain import ChainReport
from habeas.dynamo import from_item, to_item
from habeas.observability import logger, metrics

CHECKPOINTS = "AUDITVERIFY"


@dataclass
class VerifyReport:
    """What one run did."""

    chains: int = 0
    verified: int = 0
    broken: list[str] = field(default_factory=list)
    stopped_early: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "chains": self.chains,
            "verified": self.verified,
            "broken": len(self.broken),
            "stopped_early": self.stopped_early,
        }


def _checkpoints() -> dict[str, dict[str, Any]]:
    kwargs: dict[str, Any] = {
        "TableName": alerts._table(),
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": to_item({":pk": CHECKPOINTS}),
    }
    found: dict[str, dict[str, Any]] = {}
    while True:
        page = aws.client("dynamodb").query(**kwargs)
        for raw in page.get("Items", []):
            item = from_item(raw)
            found[str(item["sk"])] = item
        if "LastEvaluatedKey" not in page:
            return found
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _save(chain: str, head_seq: int, head_hash: str, ok: bool, now: str, newest_at: int | None) -> None:
    item = {"pk": CHECKPOINTS, "sk": chain, "head_seq": head_seq, "head_hash": head_hash, "ok": ok, "verified_at": now}
    if newest_at:
        item["newest_at"] = newest_at
    aws.client("dynamodb").put_item(TableName=alerts._table(), Item=to_item(item))


def _check(
    chain: str, head_seq: int, head_hash: str, seen: dict[str, Any] | None, *, untouched: bool, report: VerifyReport
) -> bool:
    """Verify one chain, alert once per head state if it is broken, move its checkpoint; True if intact."""
    result = audit.verify_chain(chain)
    newest_at = result.newest_at if head_seq else (seen or {}).get("newest_at")
    if result.ok and not head_seq and newest_at is not None and not audit.past_retention(int(newest_at)):
        result = ChainReport(False, 0, 1, "chain deleted before its retention period")
    report.verified += 1
    if not result.ok:
        report.broken.append(chain)
        already_reported = untouched and seen is not None and seen.get("ok") is False
        if not already_reported:
            alerts.raise_alert(
                "audit_chain_broken",
                "system",
                "system",
                subject_id=chain.removeprefix("subject#") if chain.startswith("subject#") else None,
                detail={"chain": chain, "broken_at": result.broken_at, "reason": result.reason},
            )
        logger.error("audit chain broken", extra={"chain": chain, "broken_at": result.broken_at})
    _save(chain, head_seq, head_hash, result.ok, clock.rfc3339(clock.now()), newest_at)
    return result.ok


def verify_touched(
    *,
    full: bool = False,
    reverify_hours: int = 24,
    remaining_ms: Callable[[], int] | None = None,
    stop_margin_ms: int = 20_000,
) -> VerifyReport:
    """Verify every chain changed since its checkpoint (or due for its periodic full check)."""
    report = VerifyReport()
    checkpoints = _checkpoints()
    stale_before = clock.rfc3339(clock.now() - timedelta(hours=reverify_hours))
    with_heads: set[str] = set()
    for head in audit.chain_heads():
        report.chains += 1
        chain, head_seq, head_hash = str(head["chain"]), int(head.get("head_seq", 0)), str(head.get("head_hash", ""))
        with_heads.add(chain)
        seen = checkpoints.get(chain)
        untouched = seen is not None and seen.get("head_seq") == head_seq and seen.get("head_hash") == head_hash
        if untouched and not full and str(seen.get("verified_at", "")) >= stale_before:
            continue
        if remaining_ms is not None and remaining_ms() < stop_margin_ms:
            report.stopped_early = True  # the next run picks up the rest: their checkpoints did not move
            break
        _check(chain, head_seq, head_hash, seen, untouched=untouched, report=report)
    for chain, seen in checkpoints.items():
        if chain in with_heads or report.stopped_early:
            continue
        if remaining_ms is not None and remaining_ms() < stop_margin_ms:
            report.stopped_early = True
            break
        if _check(chain, 0, "", seen, untouched=seen.get("head_seq") == 0, report=report):
            aws.client("dynamodb").delete_item(TableName=alerts._table(), Key=to_item({"pk": CHECKPOINTS, "sk": chain}))
    metrics.add_metric(name="AuditChainsVerified", unit="Count", value=report.verified)
    metrics.add_metric(name="AuditChainsBroken", unit="Count", value=len(report.broken))
    return report
