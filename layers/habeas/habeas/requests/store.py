"""The requests table: one item per data-subject request, its per-store progress and its history.

Every state change is a conditional update, so concurrent workers cannot lose an update, a duplicate
delivery of a store that is already ``done`` changes nothing, and exactly one writer completes (or
fails) a request. Items hold ids, types, statuses, counts and times: no personal data.

Item shape::

    {request_id, subject_id, type, regulation, status, status_reason?, created_at, due_at,
     completed_at?, remaining, finalize_attempts?, expires_at,
     stores: {<store>: {status, attempts?, strategy?, count?, done_at?, error?}},
     history: [{at, event, store?}], export?: {key, files}, certificate?: {...}}
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from habeas import aws, clock
from habeas.config import get_settings
from habeas.dynamo import cancelled_by_condition, from_item, to_item

STATUSES = ("received", "in_progress", "completed", "failed", "rejected")
TERMINAL = frozenset({"completed", "failed", "rejected"})
BY_SUBJECT = "by_subject"
BY_STATUS = "by_status"


def _table() -> str:
    return get_settings().require("requests_table")


def _client() -> Any:
    return aws.client("dynamodb")


def _event(event: str, store: str | None = None, **extra: Any) -> dict[str, Any]:
    entry = {"at": clock.rfc3339(clock.now()), "event": event, "store": store, **extra}
    return {key: value for key, value in entry.items() if value is not None}


class RequestStore:
    """DynamoDB adapter of the requests table."""

    def put_new(self, item: dict[str, Any]) -> None:
        """Write a new request; never overwrites one."""
        _client().put_item(
            TableName=_table(), Item=to_item(item), ConditionExpression="attribute_not_exists(request_id)"
        )

    def get(self, request_id: str) -> dict[str, Any] | None:
        """A request by id (strongly consistent), or None."""
        item = _client().get_item(TableName=_table(), Key=to_item({"request_id": request_id}), ConsistentRead=True)
        return from_item(item["Item"]) if "Item" in item else None

    def _update(self, request_id: str, **kwargs: Any) -> dict[str, Any] | None:
        """One conditional update; the new item, or None if its condition did not hold."""
        try:
            response = _client().update_item(
                TableName=_table(), Key=to_item({"request_id": request_id}), ReturnValues="ALL_NEW", **kwargs
            )
        except ClientError as error:
            if cancelled_by_condition(error):
                return None
            raise
        return from_item(response["Attributes"])

    def transition(
        self, request_id: str, *, from_status: str, to_status: str, event: str, reason: str | None = None
    ) -> dict[str, Any] | None:
        """Move the request from one status to another (None if it was not in ``from_status``)."""
        sets = ["#status = :to", "history = list_append(history, :h)"]
        values: dict[str, Any] = {":to": to_status, ":from": from_status, ":h": [_event(event)]}
        if reason is not None:
            sets.append("status_reason = :reason")
            values[":reason"] = reason
        return self._update(
            request_id,
            UpdateExpression="SET " + ", ".join(sets),
            ConditionExpression="#status = :from",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=to_item(values),
        )

    def begin_attempt(self, request_id: str, store: str) -> dict[str, Any] | None:
        """Count one more attempt at a pending store of an open request; the new item, or None."""
        return self._update(
            request_id,
            # ADD works on top-level attributes only; a nested counter is SET with if_not_exists.
            UpdateExpression="SET stores.#s.attempts = if_not_exists(stores.#s.attempts, :zero) + :one",
            ConditionExpression="#status = :open AND stores.#s.#st = :pending",
            ExpressionAttributeNames={"#s": store, "#st": "status", "#status": "status"},
            ExpressionAttributeValues=to_item({":zero": 0, ":one": 1, ":open": "in_progress", ":pending": "pending"}),
        )

    def store_done(
        self,
        request_id: str,
        store: str,
        *,
        strategy: str | None,
        count: int,
        counted: bool = True,
        outcome: str = "done",
    ) -> dict[str, Any] | None:
        """Mark a pending store done (or ``not_applicable``) and count it off ``remaining``; None if not pending."""
        now = clock.rfc3339(clock.now())
        sets = [
            "stores.#s.#st = :done",
            "stores.#s.#count = :count",
            "stores.#s.done_at = :now",
            "history = list_append(history, :h)",
        ]
        values: dict[str, Any] = {
            ":done": outcome,
            ":pending": "pending",
            ":count": count,
            ":now": now,
            ":h": [_event("store_done" if outcome == "done" else f"store_{outcome}", store)],
        }
        if strategy is not None:
            sets.append("stores.#s.strategy = :strategy")
            values[":strategy"] = strategy
        expression = "SET " + ", ".join(sets)
        if counted:
            expression += " ADD remaining :minus_one"
            values[":minus_one"] = -1
        return self._update(
            request_id,
            UpdateExpression=expression,
            ConditionExpression="#status = :open AND stores.#s.#st = :pending",
            ExpressionAttributeNames={"#s": store, "#st": "status", "#count": "count", "#status": "status"},
            ExpressionAttributeValues=to_item({**values, ":open": "in_progress"}),
        )

    def fail(self, request_id: str, *, reason: str, store: str | None = None) -> dict[str, Any] | None:
        """Fail an open request (and the store that caused it); None if it was no longer open."""
        now = clock.rfc3339(clock.now())
        sets = [
            "#status = :failed",
            "status_reason = :reason",
            "failed_at = :now",
            "history = list_append(history, :h)",
        ]
        names = {"#status": "status"}
        values: dict[str, Any] = {
            ":failed": "failed",
            ":reason": reason,
            ":now": now,
            ":open": "in_progress",
            ":received": "received",  # filed, but its dispatch failed
            ":h": [_event("failed", store, reason=reason)],
        }
        condition = "#status IN (:open, :received)"
        if store is not None:
            sets += ["stores.#s.#st = :failed", "stores.#s.#error = :reason"]
            names.update({"#s": store, "#st": "status", "#error": "error"})
        return self._update(
            request_id,
            UpdateExpression="SET " + ", ".join(sets) + " REMOVE finalize_attempts",
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=to_item(values),
        )

    def count_finalize_attempt(self, request_id: str) -> dict[str, Any] | None:
        """Count one attempt at completing a request whose stores are all done; None if not applicable."""
        return self._update(
            request_id,
            UpdateExpression="ADD finalize_attempts :one",
            ConditionExpression="#status = :open AND remaining = :zero",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=to_item({":one": 1, ":open": "in_progress", ":zero": 0}),
        )

    def set_reason(self, request_id: str, reason: str | None, event: str) -> dict[str, Any] | None:
        """Set (or clear) why an open request waits, e.g. ``legal_hold``; None if it was not open."""
        if reason is None:
            update = "REMOVE status_reason SET history = list_append(history, :h)"
            values: dict[str, Any] = {":open": "in_progress", ":h": [_event(event)]}
            condition = "#status = :open"
        else:
            update = "SET status_reason = :reason, history = list_append(history, :h)"
            values = {":open": "in_progress", ":reason": reason, ":h": [_event(event)]}
            # Record the wait once, not on every redelivery.
            condition = "#status = :open AND (attribute_not_exists(status_reason) OR status_reason <> :reason)"
        return self._update(
            request_id,
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=to_item(values),
        )

    def complete(self, request_id: str, extra: dict[str, Any]) -> dict[str, Any] | None:
        """Complete an open request whose stores are all done, exactly once; None if another did."""
        now = clock.rfc3339(clock.now())
        values: dict[str, Any] = {
            ":completed": "completed",
            ":now": now,
            ":open": "in_progress",
            ":zero": 0,
            ":h": [_event("completed")],
        }
        sets = ["#status = :completed", "completed_at = :now", "history = list_append(history, :h)"]
        names = {"#status": "status"}
        for index, (name, value) in enumerate(extra.items()):
            names[f"#x{index}"] = name
            values[f":x{index}"] = value
            sets.append(f"#x{index} = :x{index}")
        return self._update(
            request_id,
            UpdateExpression="SET " + ", ".join(sets) + " REMOVE status_reason",
            ConditionExpression="#status = :open AND remaining = :zero",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=to_item(values),
        )

    def forget_export(self, request_id: str, *, erased_by: str) -> dict[str, Any] | None:
        """Drop the link to an export that an erasure deleted (the request itself stays)."""
        return self._update(
            request_id,
            UpdateExpression="REMOVE #export SET export_erased_by = :by",
            ConditionExpression="attribute_exists(#export)",
            ExpressionAttributeNames={"#export": "export"},
            ExpressionAttributeValues=to_item({":by": erased_by}),
        )

    def for_subject(self, subject_id: str, *, limit: int = 100) -> list[dict[str, Any]]:
        """A subject's requests, newest first (one query on the by_subject index)."""
        return list(self._query(BY_SUBJECT, "subject_id = :key", {":key": subject_id}, limit=limit, newest_first=True))

    def by_status(self, status: str, *, limit: int = 100) -> list[dict[str, Any]]:
        """Requests in one status, newest first (one query on the by_status index)."""
        return list(
            self._query(BY_STATUS, "#status = :key", {":key": status}, limit=limit, newest_first=True, status=True)
        )

    def _query(
        self,
        index: str,
        condition: str,
        values: dict[str, Any],
        *,
        limit: int,
        newest_first: bool,
        status: bool = False,
    ) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": _table(),
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": to_item(values),
            "ScanIndexForward": not newest_first,
            "Limit": min(limit, 1000),
        }
        if status:
            kwargs["ExpressionAttributeNames"] = {"#status": "status"}
        found = 0
        while True:
            page = _client().query(**kwargs)
            for item in page.get("Items", []):
                yield from_item(item)
                found += 1
                if found >= limit:
                    return
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
