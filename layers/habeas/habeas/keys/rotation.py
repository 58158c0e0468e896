"""Key rotation: give subjects with an old key a new version and move their fields onto it.

Per subject, every run does the same idempotent steps, so a run killed anywhere is finished by the next:

1. if the current key is older than ``max_age`` (or wrapped under a KMS key other than the configured
   one, after a BYOK switch), create the next version (race-safe);
2. once the newest version is older than ``retire_after`` (the key cache max age, so no warm container
   still encrypts new values under an older version), re-encrypt every field still under an older
   version, page by page, each item with a conditional write;
3. only if no field is left on an older version, retire the older versions.

Decryption always uses the version in the ciphertext, and retired versions still decrypt, so nothing
becomes unreadable at any point.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from habeas import clock
from habeas.dynamo import from_item, to_item
from habeas.keys.cipher import FieldCipher, key_version_of
from habeas.keys.errors import KeyShredded, MalformedCiphertext
from habeas.keys.keyring import ACTIVE, KeyRecord, Keyring, default_keyring
from habeas.keys.settings import get_key_settings
from habeas.keys.stores import FieldStore, stores_from_json
from habeas.observability import logger, metrics


@dataclass
class SubjectRotation:
    """What one rotation step did for one subject."""

    subject_id: str
    new_version: int | None = None
    created: bool = False
    items_moved: int = 0
    items_changed_meanwhile: int = 0
    retired_versions: list[int] = field(default_factory=list)
    waiting_for_caches: bool = False
    shredded: bool = False

    @property
    def complete(self) -> bool:
        """True when the subject has a single active version (nothing left for a later run)."""
        return self.shredded or (not self.waiting_for_caches and self.items_changed_meanwhile == 0)


@dataclass
class RotationReport:
    """What a scheduled run did (counts only: no personal data)."""

    subjects_seen: int = 0
    subjects_complete: int = 0
    subjects_pending: int = 0
    keys_created: int = 0
    items_moved: int = 0
    versions_retired: int = 0
    stopped_early: bool = False

    def add(self, step: SubjectRotation) -> None:
        self.subjects_seen += 1
        self.subjects_complete += step.complete
        self.subjects_pending += not step.complete
        self.keys_created += step.created
        self.items_moved += step.items_moved
        self.versions_retired += len(step.retired_versions)


class Rotator:
    """Rotates subjects' keys across the given field stores."""

    def __init__(
        self,
        keyring: Keyring,
        stores: Sequence[FieldStore],
        *,
        max_age: timedelta,
        retire_after: timedelta | None = None,
        batch_size: int = 100,
        wrapping_key_arn: str | None = None,
    ) -> None:
        """``retire_after`` defaults to the keyring cache max age; ``wrapping_key_arn`` (the resolved ARN
        of the configured KMS key) makes keys wrapped under any other KMS key due too."""
        self.keyring = keyring
        self.cipher = FieldCipher(keyring)
        self.stores = list(stores)
        self.max_age = max_age
        self.retire_after = (
            retire_after if retire_after is not None else timedelta(seconds=keyring.cache.max_age_seconds)
        )
        self.batch_size = batch_size
        self.wrapping_key_arn = wrapping_key_arn

    def is_due(self, record: KeyRecord, now: datetime) -> bool:
        """True if a current key should be replaced: too old, or wrapped under another KMS key."""
        too_old = record.created_at <= clock.rfc3339(now - self.max_age)
        moved_key = bool(self.wrapping_key_arn) and record.kms_key_arn != self.wrapping_key_arn
        return too_old or moved_key

    def rotate_subject(self, subject_id: str) -> SubjectRotation:
        """Run the rotation steps for one subject (idempotent; a no-op when nothing is due)."""
        step = SubjectRotation(subject_id)
        try:
            records = self.keyring.records(subject_id)
            active = [r for r in records if r.state == ACTIVE and r.version > 0]
            if not active:
                return step
            current = active[-1]
            now = self.keyring.now()
            if self.is_due(current, now):
                new_key = self.keyring.create_next_version(subject_id, after=current.version)
                step.created = new_key.version > current.version
                records = self.keyring.records(subject_id)
                active = [r for r in records if r.state == ACTIVE and r.version > 0]
                current = active[-1]
            step.new_version = current.version
            older = {r.version for r in active if r.version < current.version}
            if not older:
                return step
            if clock.rfc3339(now - self.retire_after) < current.created_at:
                # Warm containers may still hold an older version as "current" and write under it.
                step.waiting_for_caches = True
                return step
            self._move_fields(step, current.version)
            if step.items_changed_meanwhile == 0:
                for version in sorted(older):
                    self.keyring.retire(subject_id, version)
                    step.retired_versions.append(version)
        except KeyShredded:
            # Erased while we worked: its fields are unreadable by design, nothing to rotate.
            step.shredded = True
        return step

    def _move_fields(self, step: SubjectRotation, new_version: int) -> None:
        for store in self.stores:
            for item in store.iter_encrypted(step.subject_id, page_size=self.batch_size):
                moved = {
                    attribute: self._reencrypt(
                        step.subject_id, store.table, item.item_key, attribute, ciphertext, new_version
                    )
                    for attribute, ciphertext in item.fields.items()
                    if _version_or_none(ciphertext) not in (None, new_version)
                }
                if not moved:
                    continue
                if store.replace(item, moved):
                    step.items_moved += 1
                else:
                    # Rewritten meanwhile; keep the old versions active and let the next run look again.
                    step.items_changed_meanwhile += 1

    def _reencrypt(
        self, subject_id: str, table: str, item_key: Any, attribute: str, ciphertext: str, new_version: int
    ) -> str:
        location = {"table": table, "item_key": item_key, "attribute": attribute}
        value = self.cipher.decrypt(subject_id, ciphertext, **location)
        return self.cipher.encrypt_with_version(subject_id, value, version=new_version, **location)

    def rotate(self, subject_ids: Iterable[str], *, should_stop: Callable[[], bool] = lambda: False) -> RotationReport:
        """Rotate each subject in turn until ``should_stop()`` (e.g. the Lambda deadline is near)."""
        report = RotationReport()
        for subject_id in subject_ids:
            if should_stop():
                report.stopped_early = True
                break
            report.add(self.rotate_subject(subject_id))
        return report


def _version_or_none(ciphertext: str) -> int | None:
    try:
        return key_version_of(ciphertext)
    except MalformedCiphertext:
        # Not ours to touch: rotation never encrypts or rewrites a value it cannot authenticate.
        return None


def due_subjects(
    keyring: Keyring, *, max_age: timedelta, wrapping_key_arn: str | None = None, page_size: int = 100
) -> Iterator[str]:
    """Subjects that may have rotation work, read from the keyring table page by page.

    A Scan is acceptable here: this is a scheduled batch job reading a small-item table, and the
    filter picks exactly the active versions that are old (a due current key, or the older version of
    a rotation still under way) or wrapped under another KMS key. The state lives in the data, so a run
    cut short by its deadline is resumed by the next one without a stored cursor.
    """
    cutoff = clock.rfc3339(keyring.now() - max_age)
    condition = "#state = :active AND (created_at <= :cutoff"
    values: dict[str, Any] = {":active": ACTIVE, ":cutoff": cutoff}
    if wrapping_key_arn:
        condition += " OR kms_key_arn <> :arn"
        values[":arn"] = wrapping_key_arn
    kwargs: dict[str, Any] = {
        "TableName": keyring.table_name,
        "FilterExpression": condition + ")",
        "ProjectionExpression": "subject_id",
        "ExpressionAttributeNames": {"#state": "state"},
        "ExpressionAttributeValues": to_item(values),
        "Limit": page_size,
    }
    seen: set[str] = set()
    while True:
        page = keyring.dynamodb.scan(**kwargs)
        for raw in page["Items"]:
            subject_id = from_item(raw)["subject_id"]
            if subject_id not in seen:
                seen.add(subject_id)
                yield subject_id
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _data_map_field_stores() -> str:
    """Every encrypted field the data map declares (tables named by the function's environment)."""
    from habeas.datamap import data_map

    return json.dumps(data_map().encrypted_field_stores())


def run_scheduled_rotation(remaining_ms: Callable[[], int] | None = None) -> dict[str, Any]:
    """The scheduled job: rotate due subjects of this deployment until the Lambda deadline is near.

    The fields to move are the data map's encrypted fields (ENCRYPTED_FIELD_STORES overrides them).
    Settings: KEYRING_TABLE, KMS_KEY_ARN, HABEAS_DEPLOYMENT, the data map's table variables, KEY_MAX_AGE_DAYS,
    KEY_CACHE_MAX_AGE_SECONDS, KEY_ROTATION_BATCH_SIZE, KEY_ROTATION_STOP_MARGIN_MS. Returns the report as a dict.
    """
    settings = get_key_settings()
    keyring = default_keyring()
    stores = stores_from_json(settings.encrypted_field_stores or _data_map_field_stores())
    max_age = timedelta(days=settings.key_max_age_days)
    wrapping_key_arn = keyring.wrapping_key_arn()
    rotator = Rotator(
        keyring, stores, max_age=max_age, batch_size=settings.key_rotation_batch_size, wrapping_key_arn=wrapping_key_arn
    )
    margin_ms = settings.key_rotation_stop_margin_ms
    should_stop = (lambda: remaining_ms() < margin_ms) if remaining_ms else (lambda: False)
    report = rotator.rotate(
        due_subjects(
            keyring, max_age=max_age, wrapping_key_arn=wrapping_key_arn, page_size=settings.key_rotation_batch_size
        ),
        should_stop=should_stop,
    )
    summary = asdict(report)
    logger.info("key rotation run", extra={"rotation": summary})
    metrics.add_metric(name="KeysRotated", unit=MetricUnit.Count, value=report.keys_created)
    metrics.add_metric(name="FieldsReencrypted", unit=MetricUnit.Count, value=report.items_moved)
    metrics.add_metric(name="SubjectsRotationPending", unit=MetricUnit.Count, value=report.subjects_pending)
    return summary
