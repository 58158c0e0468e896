"""DynamoDB connector: one subject's items by partition key (or a GSI on the subject id), never a scan."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from habeas import aws, clock
from habeas.connectors import identifiers as blind_indexes
from habeas.connectors.base import Connector, ErasureOutcome, StoreUnavailable, json_safe
from habeas.datamap import EXPIRES_AT, FieldSpec
from habeas.dynamo import cancelled_by_condition, from_item, to_item
from habeas.identifiers import Identifier

BATCH = 25  # BatchWriteItem's limit
BATCH_ATTEMPTS = 8  # unprocessed items are retried this many times, with backoff, before giving up
PSEUDONYM = "pseudonym:"


class DynamoConnector(Connector):
    """find / export / rectify / erase over the items of one subject in one table."""

    @property
    def table(self) -> str:
        """The physical table name, from the store's ``table_env``."""
        return self.store.env_value("table_env")

    # ------------------------------------------------------------------ reading

    def _query(
        self, subject_id: str, *, keys_only: bool = False, extra: dict[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every page of the subject's items (raw attribute values), paginated."""
        store = self.store
        names = {"#pk": str(store.partition_key)}
        values: dict[str, Any] = {":pk": store.partition_for(subject_id)}
        condition = "#pk = :pk"
        if store.sort_prefix is not None:
            names["#sk"] = str(store.sort_key)
            values[":sk_prefix"] = store.sort_prefix
            condition += " AND begins_with(#sk, :sk_prefix)"
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": to_item(values),
        }
        if store.index:
            kwargs["IndexName"] = store.index  # GSIs do not offer consistent reads
        else:
            kwargs["ConsistentRead"] = True
        if keys_only:
            for position, attribute in enumerate(store.primary_key):
                names[f"#k{position}"] = attribute
            kwargs["ProjectionExpression"] = ", ".join(f"#k{i}" for i in range(len(store.primary_key)))
        if extra:
            kwargs.update(extra)
            kwargs["ExpressionAttributeNames"] = {**names, **extra.get("ExpressionAttributeNames", {})}
        client = aws.client("dynamodb")
        while True:
            page = client.query(**kwargs)
            yield page
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _items(self, subject_id: str) -> Iterator[dict[str, Any]]:
        for page in self._query(subject_id):
            for raw in page.get("Items", []):
                yield from_item(raw)

    def _key_of(self, item: dict[str, Any]) -> dict[str, Any]:
        return {name: item[name] for name in self.store.primary_key}

    # ------------------------------------------------------------------ find

    def find(self, subject_id: str) -> int:
        """Erasable items left: all of them for delete, keyed ones for shred, unmasked ones for pseudonymize."""
        strategy = self.store.erasure.strategy
        if strategy == "retain":
            return 0
        if strategy == "pseudonymize":
            return sum(1 for item in self._items(subject_id) if self._personal_fields_left(item))
        extra: dict[str, Any] = {"Select": "COUNT"}
        fields = list(self.store.fields)
        if strategy == "shred" and fields:
            # Key material left (the shred tombstone holds none).
            extra["FilterExpression"] = " OR ".join(f"attribute_exists(#f{i})" for i in range(len(fields)))
            extra["ExpressionAttributeNames"] = {f"#f{i}": name for i, name in enumerate(fields)}
        return sum(int(page.get("Count", 0)) for page in self._query(subject_id, extra=extra))

    # ------------------------------------------------------------------ export

    def export(self, subject_id: str) -> list[dict[str, Any]]:
        """The subject's items, encrypted fields decrypted, expired items and non-exported fields left out."""
        now = int(clock.now().timestamp())
        hidden = [name for name, spec in self.store.fields.items() if not spec.exported]
        records = []
        for item in self._items(subject_id):
            expires = item.get(EXPIRES_AT)
            if isinstance(expires, int | float) and expires <= now:
                continue  # expired, waiting for TTL: no longer the subject's data to hand out
            opened = self._decrypt(subject_id, item)
            for name in hidden:
                opened.pop(name, None)
            records.append(json_safe(opened))
        return records

    def _decrypt(self, subject_id: str, item: dict[str, Any]) -> dict[str, Any]:
        encrypted = [name for name in self.store.encrypted_fields if item.get(name) is not None]
        if not encrypted:
            return item
        return _cipher().decrypt_item(
            subject_id, item, table=self.table, key_attributes=self.store.primary_key, encrypted_attributes=encrypted
        )

    # ------------------------------------------------------------------ rectify

    def rectify(self, subject_id: str, changes: dict[str, str], *, request_id: str | None = None) -> int:
        """Write the changed fields of this store, re-encrypted where declared; moves changed identifiers.

        A store with one item per subject (its key is the subject) gets the fields set even if they
        were absent (completing data is rectification too); other stores change items that hold them.
        """
        mine = {
            name: spec.normalise(changes[name], name=name)
            for name, spec in self.store.fields.items()
            if spec.rectifiable and name in changes
        }
        if not mine:
            return 0
        moved = [
            Identifier(spec.identifier, mine[name])
            for name, spec in self.store.fields.items()
            if spec.identifier and name in mine
        ]
        for identifier in moved:  # before any write: a taken identifier rejects the whole change
            blind_indexes.claim(subject_id, identifier)
        changed = 0
        if self._one_item_per_subject():
            key = {str(self.store.partition_key): self.store.partition_for(subject_id)}
            changed += self._update(subject_id, key, mine)
        else:
            for item in self._items(subject_id):
                present = {name: value for name, value in mine.items() if name in item}
                if present:
                    changed += self._update(subject_id, self._key_of(item), present)
        for identifier in moved:
            blind_indexes.release_others(subject_id, identifier)
        return changed

    def _one_item_per_subject(self) -> bool:
        store = self.store
        return not store.index and store.primary_key == (store.partition_key,)

    def _update(self, subject_id: str, key: dict[str, Any], values: dict[str, str]) -> int:
        sealed = {
            name: self._seal(subject_id, key, name, value, self.store.fields[name]) for name, value in values.items()
        }
        names = {f"#f{i}": name for i, name in enumerate(sealed)}
        names["#pk"] = str(self.store.partition_key)
        try:
            aws.client("dynamodb").update_item(
                TableName=self.table,
                Key=to_item(key),
                UpdateExpression="SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(sealed))),
                ConditionExpression="attribute_exists(#pk)",  # never create a record for the subject
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_item({f":v{i}": value for i, value in enumerate(sealed.values())}),
            )
        except ClientError as error:
            if cancelled_by_condition(error):
                return 0
            raise
        return 1

    def _seal(self, subject_id: str, key: dict[str, Any], name: str, value: str, spec: FieldSpec) -> str:
        if not spec.encrypted:
            return value
        return _cipher().encrypt(subject_id, value, table=self.table, item_key=key, attribute=name)

    # ------------------------------------------------------------------ erase

    def erase(self, subject_id: str, *, request_id: str) -> ErasureOutcome:
        """Apply the store's strategy: delete (batched), shred (keys), pseudonymize, or retain."""
        strategy = self.store.erasure.strategy
        if strategy == "retain":
            return ErasureOutcome("retain", 0)
        if strategy == "shred":
            from habeas import keys

            return ErasureOutcome("shred", keys.shred(subject_id))
        if strategy == "pseudonymize":
            return ErasureOutcome("pseudonymize", self._pseudonymize(subject_id))
        if self._one_item_per_subject():
            # The key is the subject: one conditional-free delete, its old image says whether it existed.
            response = aws.client("dynamodb").delete_item(
                TableName=self.table,
                Key=to_item({str(self.store.partition_key): self.store.partition_for(subject_id)}),
                ReturnValues="ALL_OLD",
            )
            return ErasureOutcome("delete", 1 if response.get("Attributes") else 0)
        deleted = 0
        pending: list[dict[str, Any]] = []
        for page in self._query(subject_id, keys_only=True):
            for raw in page.get("Items", []):
                pending.append({"DeleteRequest": {"Key": {k: raw[k] for k in self.store.primary_key}}})
                if len(pending) == BATCH:
                    deleted += self._write_batch(pending)
                    pending = []
        if pending:
            deleted += self._write_batch(pending)
        return ErasureOutcome("delete", deleted)

    def _write_batch(self, requests: list[dict[str, Any]]) -> int:
        """One BatchWriteItem of up to 25 requests, retrying unprocessed items with exponential backoff."""
        client = aws.client("dynamodb")
        unprocessed: list[dict[str, Any]] = requests
        for attempt in range(BATCH_ATTEMPTS):
            if attempt:
                self.backoff(attempt - 1)
            try:
                response = client.batch_write_item(RequestItems={self.table: unprocessed})
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                if code not in (
                    "ProvisionedThroughputExceededException",
                    "ThrottlingException",
                    "RequestLimitExceeded",
                ):
                    raise
                continue
            unprocessed = response.get("UnprocessedItems", {}).get(self.table, [])
            if not unprocessed:
                return len(requests)
        raise StoreUnavailable(
            f"store {self.store.name}: {len(unprocessed)} writes still unprocessed after {BATCH_ATTEMPTS} attempts"
        )

    # ------------------------------------------------------------------ pseudonymize

    def _personal_fields_left(self, item: dict[str, Any]) -> list[str]:
        return [
            name
            for name in self.store.fields
            if name in item and name not in self.store.primary_key and not _is_pseudonym(item[name])
        ]

    def _pseudonymize(self, subject_id: str) -> int:
        """Replace each personal field with a keyed hash of (store, field, subject); keeps the record."""
        from habeas.secrets import secret_bytes

        key = secret_bytes("blind_index_secret_arn")
        changed = 0
        for item in self._items(subject_id):
            fields = self._personal_fields_left(item)
            if not fields:
                continue
            names = {f"#f{i}": name for i, name in enumerate(fields)}
            names["#pk"] = str(self.store.partition_key)
            values = {f":v{i}": pseudonym(key, self.store.name, name, subject_id) for i, name in enumerate(fields)}
            try:
                aws.client("dynamodb").update_item(
                    TableName=self.table,
                    Key=to_item(self._key_of(item)),
                    UpdateExpression="SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(fields))),
                    ConditionExpression="attribute_exists(#pk)",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=to_item(values),
                )
                changed += 1
            except ClientError as error:
                if not cancelled_by_condition(error):
                    raise
        return changed


def pseudonym(key: bytes, store: str, field: str, subject_id: str) -> str:
    """The placeholder that replaces a pseudonymized field: stable per subject, reveals nothing."""
    digest = hmac.new(key, f"{store}:{field}:{subject_id}".encode(), hashlib.sha256).hexdigest()
    return f"{PSEUDONYM}{digest[:32]}"


def _is_pseudonym(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PSEUDONYM)


def _cipher() -> Any:
    from habeas.keys import FieldCipher, default_keyring

    return FieldCipher(default_keyring())
