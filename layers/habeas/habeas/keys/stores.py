"""Where a subject's encrypted fields live, so rotation can move them to a new key version.

``FieldStore`` is the small protocol rotation needs; ``DynamoFieldStore`` implements it for a table
whose items are keyed by subject id (with an optional sort key) and hold named encrypted attributes.
The data map supplies the list of stores; until then ``stores_from_json`` reads them from the
``ENCRYPTED_FIELD_STORES`` setting.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from botocore.exceptions import ClientError

from habeas import aws
from habeas.config import ConfigurationError
from habeas.dynamo import cancelled_by_condition, from_item, to_item


@dataclass(frozen=True)
class EncryptedItem:
    """One stored item of a subject: its key and the ciphertexts of its encrypted attributes."""

    table: str
    item_key: Mapping[str, Any]
    fields: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class FieldStore(Protocol):
    """A place holding encrypted fields of subjects."""

    table: str

    def iter_encrypted(self, subject_id: str, *, page_size: int = 100) -> Iterator[EncryptedItem]:
        """Every item of the subject that holds at least one encrypted attribute."""
        ...

    def replace(self, item: EncryptedItem, new_fields: Mapping[str, str]) -> bool:
        """Write ``new_fields`` only if each still holds the ciphertext in ``item``; False if it changed."""
        ...


class DynamoFieldStore:
    """A DynamoDB table keyed by ``subject_key`` (and optionally ``sort_key``) with encrypted attributes."""

    def __init__(
        self,
        table: str,
        *,
        encrypted_attributes: Sequence[str],
        subject_key: str = "subject_id",
        sort_key: str | None = None,
        dynamodb: Any = None,
    ) -> None:
        """``table`` is the table name, which is also the table named in each ciphertext's associated data."""
        if not encrypted_attributes:
            raise ValueError("a field store needs at least one encrypted attribute")
        self.table = table
        self.encrypted_attributes = tuple(encrypted_attributes)
        self.subject_key = subject_key
        self.sort_key = sort_key
        self._dynamodb = dynamodb

    @property
    def key_attributes(self) -> tuple[str, ...]:
        """The attributes of the item key, in the order the associated data uses."""
        return (self.subject_key, self.sort_key) if self.sort_key else (self.subject_key,)

    @property
    def dynamodb(self) -> Any:
        return self._dynamodb or aws.client("dynamodb")

    def iter_encrypted(self, subject_id: str, *, page_size: int = 100) -> Iterator[EncryptedItem]:
        """Query the subject's items page by page (consistent reads), projecting keys and encrypted attributes."""
        names = {f"#a{i}": name for i, name in enumerate(self.key_attributes + self.encrypted_attributes)}
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#a0 = :s",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": to_item({":s": subject_id}),
            "ProjectionExpression": ", ".join(names),
            "ConsistentRead": True,
            "Limit": page_size,
        }
        while True:
            page = self.dynamodb.query(**kwargs)
            for raw in page["Items"]:
                item = from_item(raw)
                fields = {a: item[a] for a in self.encrypted_attributes if isinstance(item.get(a), str)}
                if fields:
                    yield EncryptedItem(self.table, {k: item[k] for k in self.key_attributes}, fields)
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def replace(self, item: EncryptedItem, new_fields: Mapping[str, str]) -> bool:
        """Conditional UpdateItem: a writer that changed a field meanwhile wins, and we report False."""
        if not new_fields:
            return True
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        sets, conditions = [], []
        for i, (attribute, ciphertext) in enumerate(new_fields.items()):
            names[f"#f{i}"] = attribute
            values[f":new{i}"] = ciphertext
            values[f":old{i}"] = item.fields[attribute]
            sets.append(f"#f{i} = :new{i}")
            conditions.append(f"#f{i} = :old{i}")
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key=to_item(dict(item.item_key)),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression=" AND ".join(conditions),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_item(values),
            )
        except ClientError as error:
            if cancelled_by_condition(error):
                return False
            raise
        return True


def stores_from_json(text: str | None) -> list[FieldStore]:
    """Field stores from JSON ``[{"table": ..., "encrypted_attributes": [...], "sort_key": ...}, ...]``.

    ``None`` is a ConfigurationError: rotating without knowing where fields live would retire keys
    still in use. ``[]`` is accepted and means this deployment stores no encrypted fields yet.
    """
    if text is None:
        raise ConfigurationError("missing setting ENCRYPTED_FIELD_STORES")
    try:
        entries = json.loads(text)
        return [
            DynamoFieldStore(
                entry["table"],
                encrypted_attributes=entry["encrypted_attributes"],
                subject_key=entry.get("subject_key", "subject_id"),
                sort_key=entry.get("sort_key"),
            )
            for entry in entries
        ]
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigurationError(f"invalid setting ENCRYPTED_FIELD_STORES: {type(error).__name__}") from error
