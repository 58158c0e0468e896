"""The keyring: one KMS-wrapped 256-bit data key per subject and version, in the keyring table.

Table layout (template ``KeyringTable``: pk ``subject_id`` S, sk ``version`` N):

* versions 1, 2, ...: ``wrapped_key`` (B, the KMS ciphertext blob), ``created_at`` (RFC 3339),
  ``state`` (``active`` | ``retired``), ``kms_key_arn`` (the key that wrapped it);
* version 0: the shredding tombstone (``state = shredded``), written before the versions are deleted
  and never removed, so a ciphertext restored from an old copy fails with ``KeyShredded`` and no new
  key can be created for an erased subject.

The newest ``active`` version is the current one (new values are encrypted under it); older active
versions exist only while a rotation is moving fields off them; retired versions still decrypt.
Works with any symmetric KMS key the function may use (BYOK): nothing assumes the template made it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from habeas import aws, clock
from habeas.dynamo import cancelled_by_condition, from_item, to_item
from habeas.keys.cache import DataKey, KeyCache
from habeas.keys.errors import (
    KeyServiceUnavailable,
    KeyShredded,
    KeyUnavailable,
    KeyVersionNotFound,
    WrappedKeyInvalid,
)
from habeas.keys.settings import get_key_settings

ACTIVE = "active"
RETIRED = "retired"
SHREDDED = "shredded"
TOMBSTONE_VERSION = 0
_CURRENT = -1  # cache slot of "the subject's current key", next to the per-version slots

# KMS error codes that mean the key itself cannot be used: no retry helps, and we never fall back.
_KEY_UNUSABLE = {
    "NotFoundException": "KMS key not found",
    "DisabledException": "KMS key is disabled",
    "KMSInvalidStateException": "KMS key is not in a usable state (pending deletion or import)",
    "AccessDeniedException": "this function may not use the KMS key",
    "InvalidKeyUsageException": "the KMS key is not a symmetric encryption key",
    "UnsupportedOperationException": "the KMS key does not support this operation",
}
_WRAPPED_KEY_BAD = {"InvalidCiphertextException", "IncorrectKeyException"}


@dataclass(frozen=True)
class KeyRecord:
    """One stored version of a subject's key (wrapped; never the plaintext)."""

    subject_id: str
    version: int
    state: str
    created_at: str
    kms_key_arn: str
    wrapped_key: bytes = b""

    @classmethod
    def from_dynamo(cls, raw: dict[str, Any]) -> KeyRecord:
        item = from_item(raw)
        wrapped = item.get("wrapped_key", b"")
        return cls(
            subject_id=item["subject_id"],
            version=int(item["version"]),
            state=item.get("state", ""),
            created_at=item.get("created_at", ""),
            kms_key_arn=item.get("kms_key_arn", ""),
            wrapped_key=bytes(getattr(wrapped, "value", wrapped)),
        )


class Keyring:
    """Per-subject data keys: created through KMS GenerateDataKey, stored wrapped, cached unwrapped."""

    def __init__(
        self,
        *,
        table_name: str,
        kms_key_id: str,
        deployment: str,
        cache: KeyCache | None = None,
        kms: Any = None,
        dynamodb: Any = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        """``kms_key_id`` is any symmetric key id, ARN or alias ARN (BYOK); clients default to habeas.aws."""
        self.table_name = table_name
        self.kms_key_id = kms_key_id
        self.deployment = deployment
        # Not `cache or ...`: an empty KeyCache has len 0 and is falsy.
        self.cache = cache if cache is not None else KeyCache()
        self._kms = kms
        self._dynamodb = dynamodb
        self._now = now

    @property
    def kms(self) -> Any:
        return self._kms or aws.client("kms")

    @property
    def dynamodb(self) -> Any:
        return self._dynamodb or aws.client("dynamodb")

    def now(self) -> datetime:
        """The keyring's clock (habeas.clock unless a test gave one)."""
        return self._now() if self._now else clock.now()

    def encryption_context(self, subject_id: str) -> dict[str, str]:
        """The KMS encryption context of a subject's wrapped keys: binds each to its subject and deployment."""
        return {"subject_id": subject_id, "deployment": self.deployment}

    # ------------------------------------------------------------------ reading

    def current_key(self, subject_id: str) -> DataKey:
        """The key new values of the subject are encrypted under; creates version 1 on first use."""
        cached = self.cache.get((subject_id, _CURRENT))
        if cached is not None:
            return cached
        records = self.records(subject_id)
        current = _current(records)
        if current is None:
            return self._create_version(subject_id, 1)
        return self._unwrap(current, as_current=True)

    def key(self, subject_id: str, version: int) -> DataKey:
        """The subject's key of ``version`` (active or retired), as named by a ciphertext."""
        cached = self.cache.get((subject_id, version))
        if cached is not None:
            return cached
        records = self.records(subject_id)  # raises KeyShredded if tombstoned
        record = next((r for r in records if r.version == version), None)
        if record is None:
            raise KeyVersionNotFound(f"subject {subject_id} has no key version {version}")
        return self._unwrap(record, as_current=record is _current(records))

    def records(self, subject_id: str) -> list[KeyRecord]:
        """Every stored version of the subject, oldest first; raises KeyShredded if the subject was shredded."""
        records = self._query(subject_id)
        if any(r.version == TOMBSTONE_VERSION for r in records):
            self.cache.evict_subject(subject_id)
            raise KeyShredded(f"keys of subject {subject_id} were shredded")
        return records

    def wrapping_key_arn(self) -> str:
        """The ARN of the configured KMS key, checked usable (enabled, symmetric, encrypt/decrypt).

        One DescribeKey call: a health check that also resolves an alias to the key ARN stored in items.
        """
        metadata = self._call_kms("DescribeKey", KeyId=self.kms_key_id)["KeyMetadata"]
        if metadata.get("KeyState") != "Enabled":
            raise KeyUnavailable(f"KMS key is {metadata.get('KeyState', 'unusable')}", code=metadata.get("KeyState"))
        if metadata.get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT" or metadata.get("KeyUsage") not in (
            None,
            "ENCRYPT_DECRYPT",
        ):
            raise KeyUnavailable("the KMS key is not a symmetric encryption key", code="InvalidKeyUsageException")
        return metadata["Arn"]

    # ------------------------------------------------------------------ writing

    def create_next_version(self, subject_id: str, after: int) -> DataKey:
        """Create version ``after + 1`` (rotation). Race-safe: if another writer made it first, use theirs."""
        return self._create_version(subject_id, after + 1)

    def retire(self, subject_id: str, version: int) -> None:
        """Mark a version retired: it still decrypts, but nothing new is encrypted under it."""
        try:
            self.dynamodb.update_item(
                TableName=self.table_name,
                Key=to_item({"subject_id": subject_id, "version": version}),
                UpdateExpression="SET #state = :retired",
                ConditionExpression="attribute_exists(wrapped_key)",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues=to_item({":retired": RETIRED}),
            )
        except ClientError as error:
            if not cancelled_by_condition(error):
                raise
            # Shredded meanwhile: nothing left to retire.
        self.cache.evict_subject(subject_id)

    def shred(self, subject_id: str) -> int:
        """Crypto-shred a subject: tombstone, delete every wrapped key version, evict the cache.

        Afterwards every ciphertext of the subject, including ones restored from backups, fails with
        KeyShredded. Returns the number of key versions deleted. Idempotent; safe to rerun if killed.
        Other warm containers may still hold the plaintext key for at most the cache max age.
        """
        self.cache.evict_subject(subject_id)
        # Tombstone first: from here on no reader unwraps and no writer creates a key (creation checks it),
        # so a concurrent first-key creation either lands before it (and is deleted below) or fails.
        self.dynamodb.put_item(
            TableName=self.table_name,
            Item=to_item(
                {
                    "subject_id": subject_id,
                    "version": TOMBSTONE_VERSION,
                    "state": SHREDDED,
                    "shredded_at": clock.rfc3339(self.now()),
                }
            ),
        )
        deleted = 0
        for record in self._query(subject_id):
            if record.version == TOMBSTONE_VERSION:
                continue
            self.dynamodb.delete_item(
                TableName=self.table_name, Key=to_item({"subject_id": subject_id, "version": record.version})
            )
            deleted += 1
        self.cache.evict_subject(subject_id)
        return deleted

    # ------------------------------------------------------------------ internals

    def _query(self, subject_id: str) -> list[KeyRecord]:
        records: list[KeyRecord] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "subject_id = :s",
            "ExpressionAttributeValues": to_item({":s": subject_id}),
            "ConsistentRead": True,  # a key created or shredded a moment ago must be seen
        }
        while True:
            page = self.dynamodb.query(**kwargs)
            records += [KeyRecord.from_dynamo(raw) for raw in page["Items"]]
            if "LastEvaluatedKey" not in page:
                return sorted(records, key=lambda r: r.version)
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _create_version(self, subject_id: str, version: int) -> DataKey:
        context = self.encryption_context(subject_id)
        response = self._call_kms(
            "GenerateDataKey", KeyId=self.kms_key_id, KeySpec="AES_256", EncryptionContext=context
        )
        # KMS answers with the key ARN even when given an alias: store that, so unwrapping never
        # depends on an alias that may later point elsewhere.
        kms_key_arn = response["KeyId"]
        data_key = DataKey(subject_id, version, response["Plaintext"], kms_key_arn)
        try:
            self.dynamodb.transact_write_items(
                TransactItems=[
                    {
                        "ConditionCheck": {
                            "TableName": self.table_name,
                            "Key": to_item({"subject_id": subject_id, "version": TOMBSTONE_VERSION}),
                            "ConditionExpression": "attribute_not_exists(subject_id)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.table_name,
                            "Item": to_item(
                                {
                                    "subject_id": subject_id,
                                    "version": version,
                                    "wrapped_key": response["CiphertextBlob"],
                                    "created_at": clock.rfc3339(self.now()),
                                    "state": ACTIVE,
                                    "kms_key_arn": kms_key_arn,
                                }
                            ),
                            "ConditionExpression": "attribute_not_exists(subject_id)",
                        }
                    },
                ]
            )
        except ClientError as error:
            if not cancelled_by_condition(error):
                raise
            # Lost a race (another writer created this version) or the subject was shredded: re-read.
            records = self.records(subject_id)
            current = _current(records)
            if current is None or current.version < version:
                raise KeyVersionNotFound(f"subject {subject_id}: key version {version} vanished") from error
            return self._unwrap(current, as_current=True)
        self.cache.put((subject_id, version), data_key)
        self.cache.put((subject_id, _CURRENT), data_key)
        return data_key

    def _unwrap(self, record: KeyRecord, *, as_current: bool) -> DataKey:
        cached = self.cache.get((record.subject_id, record.version))
        if cached is None:
            response = self._call_kms(
                "Decrypt",
                CiphertextBlob=record.wrapped_key,
                EncryptionContext=self.encryption_context(record.subject_id),
                # Naming the wrapping key makes KMS refuse a blob from any other key, and lets a BYOK
                # deployment unwrap versions made under its previous key while rotation moves them.
                KeyId=record.kms_key_arn or self.kms_key_id,
            )
            cached = DataKey(record.subject_id, record.version, response["Plaintext"], record.kms_key_arn)
            self.cache.put((record.subject_id, record.version), cached)
        if as_current:
            self.cache.put((record.subject_id, _CURRENT), cached)
        return cached

    def _call_kms(self, operation: str, **params: Any) -> dict[str, Any]:
        """One KMS call; botocore's adaptive retries already absorb throttling, so no second retry loop
        here (it would multiply attempts); what is left is turned into a typed error."""
        method = {
            "GenerateDataKey": self.kms.generate_data_key,
            "Decrypt": self.kms.decrypt,
            "DescribeKey": self.kms.describe_key,
        }[operation]
        try:
            return method(**params)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in _KEY_UNUSABLE:
                raise KeyUnavailable(f"{operation}: {_KEY_UNUSABLE[code]}", code=code) from error
            if code in _WRAPPED_KEY_BAD:
                raise WrappedKeyInvalid(
                    f"{operation}: KMS refused the wrapped key (wrong encryption context or KMS key)"
                ) from error
            raise KeyServiceUnavailable(f"{operation}: KMS error {code or 'unknown'}") from error
        except BotoCoreError as error:
            raise KeyServiceUnavailable(f"{operation}: {type(error).__name__}") from error


def _current(records: list[KeyRecord]) -> KeyRecord | None:
    active = [r for r in records if r.state == ACTIVE and r.version > TOMBSTONE_VERSION]
    return max(active, key=lambda r: r.version) if active else None


@functools.cache
def default_keyring() -> Keyring:
    """The container's keyring, from KEYRING_TABLE, KMS_KEY_ARN, HABEAS_DEPLOYMENT and the cache settings."""
    from habeas.config import get_settings

    settings = get_settings()
    key_settings = get_key_settings()
    return Keyring(
        table_name=settings.require("keyring_table"),
        kms_key_id=settings.require("kms_key_arn"),
        deployment=settings.require("deployment"),
        cache=KeyCache(
            max_entries=key_settings.key_cache_max_entries, max_age_seconds=key_settings.key_cache_max_age_seconds
        ),
    )
