"""The audit log: who did what to whose data, when and from where. Append-only and hash-chained.

Entries hold subject ids, field names and hashes, never plaintext personal data. Each subject's
entries form one chain (``subject#<id>``); entries that concern no subject go to the actor's chain.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from habeas import clock
from habeas.chain import ChainedLog, ChainReport

_LOG = ChainedLog(
    table_setting="audit_table",
    pk="chain",
    sk="seq",
    event_sk=lambda seq: seq,
    head_sk=0,
    event_range=lambda: ("#sk > :zero", {":zero": 0}),
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
    """A subject's audit entries."""
    return _LOG.events(f"subject#{subject_id}", newest_first=newest_first, limit=limit)


def verify(subject_id: str) -> ChainReport:
    """Check the hash chain of a subject's audit entries."""
    return _LOG.verify(f"subject#{subject_id}")
