"""The audit log: who did what to whose data, when and from where. Append-only and hash-chained.

Entries hold subject ids, field names and hashes, never plaintext personal data. Each subject's
entries form one chain (``subject#<id>``); entries that concern no subject go to the actor's chain.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from habeas import clock, retention
from habeas.chain import ChainedLog, ChainReport

STORE = "audit_log"  # the data map store: its retention_category sets each entry's expiry
_LOG = ChainedLog(
    table_setting="audit_table",
    pk="chain",
    sk="seq",
    event_sk=lambda seq: seq,
    head_sk=0,
    event_range=lambda: ("#sk > :zero", {":zero": 0}),
    store=STORE,
)


@dataclass(frozen=True)
class Actor:
    """Who acts: a subject on their own data, a member of staff, a channel or the system."""

    id: str
    role: str  # subject | agent | supervisor | dpo | system | channel
    source_ip: str | None = None
    request_id: str | None = None


@dataclass(frozen=True)
class AuditEvent:
    """One thing that happened to personal data."""

    action: str
    subject_id: str | None
    fields: Sequence[str] = field(default_factory=tuple)
    purpose: str | None = None
    outcome: str = "ok"
    detail: dict[str, Any] = field(default_factory=dict)


def chain_of(subject_id: str | None, actor: Actor) -> str:
    """The chain an entry belongs to."""
    return f"subject#{subject_id}" if subject_id else f"actor#{actor.id}"


def record(actor: Actor, event: AuditEvent) -> dict[str, Any]:
    """Append one entry to the audit log and return it as stored."""
    entry = {
        "event_id": str(uuid.uuid4()),
        "at": clock.rfc3339(clock.now()),
        "actor": actor.id,
        "role": actor.role,
        "action": event.action,
        "subject_id": event.subject_id,
        "fields": list(event.fields),
        "purpose": event.purpose,
        "outcome": event.outcome,
        "source_ip": actor.source_ip,
        "request_id": actor.request_id,
        "detail": event.detail or None,
    }
    entry = {key: value for key, value in entry.items() if value is not None}
    return _LOG.append(chain_of(event.subject_id, actor), entry)


def entries(subject_id: str, *, limit: int | None = None, newest_first: bool = True) -> Iterator[dict[str, Any]]:
    """A subject's audit entries (those past retention, awaiting TTL, left out)."""
    return (
        entry
        for entry in _LOG.events(f"subject#{subject_id}", newest_first=newest_first, limit=limit)
        if not retention.is_expired(entry)
    )


def verify(subject_id: str) -> ChainReport:
    """Check the hash chain of a subject's audit entries."""
    return _LOG.verify(f"subject#{subject_id}")


# ---------------------------------------------------------------- staff access log (issue 7)


def record_staff_access(actor: Actor, event: AuditEvent) -> dict[str, Any]:
    """Record a staff access on the subject's chain and mirror it on the actor's chain.

    The mirror (``detail.subject_seq`` points back) lets ``GET /v1/admin/audit?actor=`` read one
    partition instead of scanning every subject's chain. Returns the subject-chain entry.
    """
    stored = record(actor, event)
    if event.subject_id:
        mirror = {**stored, "detail": {**(stored.get("detail") or {}), "subject_seq": stored["seq"]}}
        links = ("seq", "prev_hash", "prev_at", "hash")  # its own chain links and stamps it anew
        stamps = (retention.TTL_ATTRIBUTE, retention.POLICY_ATTRIBUTE, retention.ANCHOR_ATTRIBUTE)
        for key in (*links, *stamps):
            mirror.pop(key, None)
        mirror["event_id"] = str(uuid.uuid4())
        _LOG.append(f"actor#{actor.id}", mirror)
    return stored


def chain_name(*, subject_id: str | None = None, actor_id: str | None = None) -> str:
    """The chain to read for a subject (preferred) or a staff actor."""
    if subject_id:
        return f"subject#{subject_id}"
    if actor_id:
        return f"actor#{actor_id}"
    raise ValueError("a subject id or an actor id is needed")


def search(
    chain: str,
    *,
    actor_id: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = 100,
    before_seq: int | None = None,
) -> tuple[list[dict[str, Any]], int | None]:
    """One chain's entries, newest first, filtered by actor and RFC 3339 time; one query per page.

    Returns the entries and the seq to continue before (None when the chain or the window is done).
    Entries are in time order along the chain, so reading stops at the first entry older than ``since``.
    """
    from habeas.dynamo import from_item as _plain
    from habeas.dynamo import to_item as _typed

    upper = before_seq if before_seq is not None else 2**62
    kwargs: dict[str, Any] = {
        "TableName": _LOG._table_name(),
        "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :one AND :upper",
        "ExpressionAttributeNames": {"#pk": "chain", "#sk": "seq"},
        "ExpressionAttributeValues": _typed({":pk": chain, ":one": 1, ":upper": upper - 1}),
        "ScanIndexForward": False,
        "ConsistentRead": True,
        "Limit": max(limit * 2, 25),
    }
    found: list[dict[str, Any]] = []
    while True:
        page = aws_query(kwargs)
        for raw in page.get("Items", []):
            entry = _plain(raw)
            at = str(entry.get("at", ""))
            if (since and at < since) or retention.is_expired(entry):
                return found, None  # older entries are older still (and expire first)
            if (until and at > until) or (actor_id and entry.get("actor") != actor_id):
                continue
            found.append(entry)
            if len(found) >= limit:
                seq = int(entry["seq"])
                return found, (seq if seq > 1 else None)
        if "LastEvaluatedKey" not in page:
            return found, None
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def aws_query(kwargs: dict[str, Any]) -> dict[str, Any]:
    """One DynamoDB query page on the audit table."""
    from habeas import aws

    return aws.client("dynamodb").query(**kwargs)


def entries_intact(entries: Sequence[dict[str, Any]]) -> bool:
    """Each entry's hash matches its content and predecessor hash, and neighbours link up.

    A cheap check of one page (no other reads): what a long actor chain's reader gets on every page,
    while the whole chain is verified by the scheduled job and the command line.
    """
    from habeas.chain import _hashed_part, link_hash

    by_seq = {int(e["seq"]): e for e in entries if "seq" in e}
    for seq, entry in by_seq.items():
        if link_hash(str(entry.get("prev_hash", "")), _hashed_part(entry)) != entry.get("hash"):
            return False
        earlier = by_seq.get(seq - 1)
        if earlier is not None and earlier.get("hash") != entry.get("prev_hash"):
            return False
    return True


def verify_chain(chain: str) -> ChainReport:
    """Check the hash chain of any audit chain (``subject#<id>`` or ``actor#<id>``)."""
    return _LOG.verify(chain)


def past_retention(moment: int) -> bool:
    """True if an entry recorded at ``moment`` (epoch seconds) is past the audit log's retention period."""
    return _LOG.past_retention(moment, int(clock.now().timestamp()))


def head(chain: str) -> tuple[int, str]:
    """The last sequence number and hash of an audit chain."""
    return _LOG.head(chain)


def chain_heads(page_size: int = 200) -> Iterator[dict[str, Any]]:
    """Every chain's head item (seq 0): for the scheduled verification only, never a request path."""
    from habeas import aws
    from habeas.dynamo import from_item as _plain
    from habeas.dynamo import to_item as _typed

    kwargs: dict[str, Any] = {
        "TableName": _LOG._table_name(),
        "FilterExpression": "#sk = :zero",
        "ProjectionExpression": "#pk, head_seq, head_hash",
        "ExpressionAttributeNames": {"#pk": "chain", "#sk": "seq"},
        "ExpressionAttributeValues": _typed({":zero": 0}),
        "Limit": page_size,
    }
    while True:
        page = aws.client("dynamodb").scan(**kwargs)
        for raw in page.get("Items", []):
            yield _plain(raw)
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m habeas.audit verify [--subject ID | --actor ID]``: check hash chains; exit 1 on a break.

    Reads AUDIT_TABLE (and AWS credentials / AWS_ENDPOINT_URL) from the environment. Without an id,
    every chain of the table is checked (pages through the chain heads).
    """
    import argparse
    import json
    import sys

    parser = argparse.ArgumentParser(prog="python -m habeas.audit", description="Habeas audit log tools")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("verify", help="verify hash chains (exit status 1 if any is broken)")
    who = check.add_mutually_exclusive_group()
    who.add_argument("--subject", help="only this subject's chain")
    who.add_argument("--actor", help="only this staff actor's chain")
    args = parser.parse_args(argv)
    if args.subject or args.actor:
        chains = [chain_name(subject_id=args.subject, actor_id=args.actor)]
    else:
        chains = [str(h["chain"]) for h in chain_heads()]
    broken = 0
    for chain in chains:
        report = verify_chain(chain)
        broken += not report.ok
        line = {"chain": chain, "ok": report.ok, "events": report.events}
        if not report.ok:
            line.update(broken_at=report.broken_at, reason=report.reason)
        print(json.dumps(line), file=sys.stdout)
    print(json.dumps({"chains": len(chains), "broken": broken}), file=sys.stdout)
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
