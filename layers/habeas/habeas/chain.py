"""Append-only, hash-chained logs on DynamoDB: the consent ledger and the audit log.

Each partition (one subject's ledger, one audit stream) is a chain. Event ``n`` stores
``hash = SHA-256(prev_hash || canonical JSON of the event)`` and ``prev_hash`` of event ``n-1``; a head
item holds the last sequence number and hash. Appends are one transaction that advances the head
only if nobody else did (optimistic concurrency) and puts the event only if its slot is empty, so
concurrent writers can never fork or overwrite the chain. Editing, deleting or reordering any event
breaks a link that ``verify`` reports.

Retention: every item of a chain carries the retention stamp of the chain's category (``expires_at``
and the policy it came from, outside the hashed part, so a policy change can re-stamp it), computed at
the append, so the head lives exactly as long as the newest event. Each event also hashes ``prev_at``,
the time its predecessor was appended. ``verify`` never trusts the (unhashed) expiry: a gap is accepted
only where ``prev_at`` proves the missing events older than the retention period, and a chain whose
head has expired (or is gone) is accepted as past retention only if every event left proves, by its
own hashed time, that it is past the period too. Deleting any younger event is still a break.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from habeas import aws, clock, retention
from habeas.dynamo import from_item, lost_a_race, to_item
from habeas.errors import Conflict

GENESIS = "0" * 64
ANSWER_RESERVE = 3.0  # seconds an HTTP invocation keeps, after a lost race, to answer (and write what follows)


def canonical(record: dict[str, Any]) -> bytes:
    """Stable serialisation of an event (sorted keys, no whitespace, UTF-8)."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def link_hash(prev_hash: str, record: dict[str, Any]) -> str:
    """The hash that chains ``record`` (including its seq) to ``prev_hash``."""
    return hashlib.sha256(prev_hash.encode() + b"|" + canonical(record)).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    """Result of checking one chain."""

    ok: bool
    events: int
    broken_at: int | None = None
    reason: str | None = None
    # When the newest event checked happened (epoch seconds, from its hashed time), if it says.
    newest_at: int | None = None


@dataclass
class ChainedLog:
    """One DynamoDB table holding hash chains, one per partition key value.

    ``event_sk(seq)`` gives an event's sort key and ``head_sk`` the head item's; ``event_prefix`` (for
    string sort keys) selects the events of a partition in a query.
    """

    table_setting: str
    pk: str
    sk: str
    event_sk: Callable[[int], Any]
    head_sk: Any
    event_range: Callable[[], tuple[str, dict[str, Any]]]
    # The data map store the chain is (its retention_category's policy applies; see the module doc),
    # and the hashed RFC 3339 field that says when each event happened.
    store: str | None = None
    time_field: str = "at"

    def _table_name(self) -> str:
        from habeas.config import get_settings

        return get_settings().require(self.table_setting)

    def head_item(self, partition: str) -> dict[str, Any]:
        """The chain's head item ({} when the chain is empty)."""
        response = aws.client("dynamodb").get_item(
            TableName=self._table_name(),
            Key=to_item({self.pk: partition, self.sk: self.head_sk}),
            ConsistentRead=True,
        )
        return from_item(response.get("Item", {}))

    def head(self, partition: str) -> tuple[int, str]:
        """The last sequence number and hash of a chain (0 and the genesis hash when empty)."""
        item = self.head_item(partition)
        return int(item.get("head_seq", 0)), str(item.get("head_hash", GENESIS))

    def append(
        self,
        partition: str,
        record: dict[str, Any],
        *,
        extra_puts: list[dict[str, Any]] | None = None,
        patience: float = 5.0,
    ) -> dict[str, Any]:
        """Append ``record`` to the chain of ``partition``; returns the stored event.

        ``extra_puts`` are further plain items written in the same transaction (e.g. a current-state
        view), so the view can never disagree with the chain. The event, the head and the extra items
        all get the retention stamp of this append.

        Writers of one chain race on its head: each losing writer reads the new head and tries again
        after a jittered, capped backoff, for ``patience`` seconds (every round has one winner, so
        ``n`` concurrent writers need about ``n`` rounds), then gives up with ``Conflict``. Inside an HTTP
        invocation it also stops ``ANSWER_RESERVE`` seconds before the invocation would time out.
        """
        table = self._table_name()
        left = clock.invocation_time_left()  # on a route, keep enough of the invocation to answer 409
        deadline = time.monotonic() + (patience if left is None else min(patience, left - ANSWER_RESERVE))
        attempt = 0
        while True:
            head = self.head_item(partition)
            if head:
                seq, prev_hash = int(head.get("head_seq", 0)), str(head.get("head_hash", GENESIS))
                previous = self._event(partition, seq) if seq else None
            elif attempt == 0:  # a new chain (most likely): its first event
                previous, seq, prev_hash = None, 0, GENESIS
            else:  # its first event's slot was taken: a head that expired before its last events; go on after them
                previous = next(self.events(partition, newest_first=True, limit=1), None)
                seq, prev_hash = (int(previous["seq"]), str(previous["hash"])) if previous else (0, GENESIS)
            stamp = self._stamp(int(clock.now().timestamp()))
            event = {**record, "seq": seq + 1, "prev_hash": prev_hash}
            previous_at = self._time_of(previous) if previous and previous.get("hash") == prev_hash else None
            if previous_at is not None:
                event["prev_at"] = previous_at  # from the predecessor's own hashed time, never the head's
            event["hash"] = link_hash(prev_hash, _hashed_part(event))
            head_condition = "#seq = :expected" if head else "attribute_not_exists(#seq)"
            head_values = {":next": seq + 1, ":hash": event["hash"]}
            if head:
                head_values[":expected"] = seq
            head_names = {"#seq": "head_seq", "#hash": "head_hash"}
            head_sets = ["#seq = :next", "#hash = :hash"]
            for position, (name, value) in enumerate(sorted(stamp.items())):
                head_names[f"#r{position}"] = name
                head_values[f":r{position}"] = value
                head_sets.append(f"#r{position} = :r{position}")
            items = [
                {
                    "Update": {
                        "TableName": table,
                        "Key": to_item({self.pk: partition, self.sk: self.head_sk}),
                        "UpdateExpression": "SET " + ", ".join(head_sets),
                        "ConditionExpression": head_condition,
                        "ExpressionAttributeNames": head_names,
                        "ExpressionAttributeValues": to_item(head_values),
                    }
                },
                {
                    "Put": {
                        "TableName": table,
                        "Item": to_item({**event, **stamp, self.pk: partition, self.sk: self.event_sk(seq + 1)}),
                        "ConditionExpression": "attribute_not_exists(#pk)",
                        "ExpressionAttributeNames": {"#pk": self.pk},
                    }
                },
            ]
            items += [{"Put": {"TableName": table, "Item": to_item({**extra, **stamp})}} for extra in extra_puts or []]
            try:
                aws.client("dynamodb").transact_write_items(TransactItems=items)
                return {**event, **stamp}
            except ClientError as error:
                if not lost_a_race(error):
                    raise
            left = deadline - time.monotonic()
            if left <= 0:
                raise Conflict("too many concurrent writes to the same log; retry")
            pause = random.uniform(0, 0.01 * 2 ** min(attempt, 4))  # noqa: S311 - jitter, not crypto
            time.sleep(min(pause, left))
            attempt += 1

    def _event(self, partition: str, seq: int) -> dict[str, Any] | None:
        response = aws.client("dynamodb").get_item(
            TableName=self._table_name(),
            Key=to_item({self.pk: partition, self.sk: self.event_sk(seq)}),
            ConsistentRead=True,
        )
        return from_item(response["Item"]) if response.get("Item") else None

    def _time_of(self, event: dict[str, Any]) -> int | None:
        """When an event happened, from its hashed time field (epoch seconds), if it says."""
        moment = event.get(self.time_field)
        try:
            return retention.epoch(str(moment)) if moment else None
        except ValueError:
            return None

    def _category(self) -> str | None:
        from habeas.datamap import data_map

        return data_map().store(self.store).retention_category if self.store else None

    def _stamp(self, appended_at: int) -> dict[str, Any]:
        return retention.store_stamp(self.store, appended_at) if self.store else {}

    def events(self, partition: str, *, newest_first: bool = False, limit: int | None = None) -> Iterator[dict]:
        """The events of a chain in sequence order (head item excluded), paginated."""
        condition, values = self.event_range()
        kwargs: dict[str, Any] = {
            "TableName": self._table_name(),
            "KeyConditionExpression": f"#pk = :pk AND {condition}",
            "ExpressionAttributeNames": {"#pk": self.pk, "#sk": self.sk},
            "ExpressionAttributeValues": to_item({":pk": partition, **values}),
            "ScanIndexForward": not newest_first,
            "ConsistentRead": True,
        }
        returned = 0
        while True:
            page = aws.client("dynamodb").query(**kwargs)
            for raw in page.get("Items", []):
                yield from_item(raw)
                returned += 1
                if limit is not None and returned >= limit:
                    return
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def verify(self, partition: str) -> ChainReport:
        """Recompute every link of a chain up to its head; report the first broken one.

        The head is read first, so an event appended while the chain is being read (its seq is past
        that head, and the head has moved to cover it) is left for the next check instead of reading
        as a broken chain; a trailing event that no head covers is a break. What retention removed is
        accepted only on hashed evidence (see the module doc).
        """
        now = int(clock.now().timestamp())
        head = self.head_item(partition)
        if not head or retention.is_expired(head, now):
            return self._verify_retired(partition, now)
        head_seq, head_hash = int(head.get("head_seq", 0)), str(head.get("head_hash", GENESIS))
        expected_prev, expected_seq, count = GENESIS, 1, 0
        previous_at: int | None = None
        for event in self.events(partition):
            seq = int(event.get("seq", -1))
            if seq > expected_seq and self._predecessors_past_retention(event, now):
                expected_prev, expected_seq, previous_at = str(event.get("prev_hash")), seq, None
            if seq > head_seq and seq == expected_seq:
                # Appended since the head was read (event and head move in one transaction), or an
                # event that no head covers: only the former moves the head past it.
                if self.head(partition)[0] >= seq:
                    break
                return ChainReport(False, count, seq, "event not covered by the chain head")
            if seq != expected_seq:
                return ChainReport(False, count, expected_seq, "missing or reordered event")
            if event.get("prev_hash") != expected_prev:
                return ChainReport(False, count, seq, "link to previous event broken")
            if link_hash(expected_prev, _hashed_part(event)) != event.get("hash"):
                return ChainReport(False, count, seq, "event content altered")
            if previous_at is not None and event.get("prev_at") not in (None, previous_at):
                return ChainReport(False, count, seq, "link to previous event broken")
            expected_prev, expected_seq, count = event["hash"], seq + 1, count + 1
            previous_at = self._time_of(event)
        if head_seq != expected_seq - 1 or head_hash != expected_prev:
            return ChainReport(False, count, expected_seq, "events after the last one were removed or head altered")
        return ChainReport(True, count, newest_at=previous_at)

    def _verify_retired(self, partition: str, now: int) -> ChainReport:
        """A chain without a live head: empty, or past retention as a whole (TTL deletes lazily).

        Every event left must be intact and prove by its own hashed time that it is past the period
        (for a chain kept from last activity, its time is a lower bound of that activity); else the
        head was removed or its expiry forged, and that is a break.
        """
        count = 0
        for event in self.events(partition):
            seq = int(event.get("seq", -1))
            if link_hash(str(event.get("prev_hash")), _hashed_part(event)) != event.get("hash"):
                return ChainReport(False, count, seq, "event content altered")
            if not self.past_retention(self._time_of(event), now):
                head = self.head_item(partition)
                if head and not retention.is_expired(head, now):  # an append started a new head meanwhile
                    return self.verify(partition)
                return ChainReport(False, count, seq, "chain head missing or expired before its events")
            count += 1
        return ChainReport(True, 0, reason="expired" if count else None)

    def _retention_seconds(self) -> tuple[int, str] | None:
        category = self._category()
        policy = retention.policy(category) if category else None
        return (retention.seconds_of(policy), policy.anchor) if policy is not None else None

    def past_retention(self, moment: int | None, now: int) -> bool:
        """True if something that happened at ``moment`` (epoch seconds) is past the retention period."""
        found = self._retention_seconds()
        if found is None or moment is None:
            return False
        if found[1] == "last_activity":
            moment = retention.activity_day(moment)  # that activity's anchor is the start of its day
        return moment + found[0] <= now

    def _predecessors_past_retention(self, event: dict[str, Any], now: int) -> bool:
        """True if the events before ``event`` are provably past the chain's retention period.

        ``prev_at`` (hashed, so not forgeable without breaking this event) is when the event before
        it was appended; every earlier one is older still. Only policies counted from creation can
        expire a chain's oldest events while it goes on.
        """
        found = self._retention_seconds()
        prev_at = event.get("prev_at")
        if not isinstance(prev_at, int) or isinstance(prev_at, bool):
            return False  # absent (an older event) or not what an append writes
        return found is not None and found[1] == "created" and self.past_retention(prev_at, now)


def _hashed_part(event: dict[str, Any]) -> dict[str, Any]:
    """Everything but the hash itself, storage keys and the retention stamp (re-stamped by policy)."""
    return {k: v for k, v in event.items() if k not in _UNHASHED}


_UNHASHED = frozenset(("hash", "sk", "chain", "expires_at", "retention_policy", "retention_anchor", "held_expires_at"))
