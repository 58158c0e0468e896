"""Subject profiles: the personal fields of the ``profiles`` store, validated by the data map, encrypted.

The subject's item in SUBJECTS_TABLE holds ``{subject_id, created_at, ..., <field>: <ciphertext>,
profile_updated_at}``; each field is a FieldCipher ciphertext bound to ``table=<SUBJECTS_TABLE>,
item_key={"subject_id": ...}, attribute=<field>``. When an identifier field (email, phone) changes,
the blind index follows: the new identifier finds the subject, the old one no longer does, and an
identifier that already finds another subject is refused (409).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from habeas import aws, clock, identifiers, retention
from habeas.config import get_settings
from habeas.connectors import identifiers as blind_indexes
from habeas.datamap import Store, data_map
from habeas.dynamo import cancelled_by_condition, from_item, to_item
from habeas.errors import Conflict, NotFound, Unprocessable
from habeas.keys import FieldCipher, KeyShredded, default_keyring

STORE = "profiles"
_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_DOCUMENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ./-]{1,62}[A-Za-z0-9]$")


@dataclass(frozen=True)
class ProfileChange:
    """What ``put_profile`` did: the fields written or cleared and the identifier kinds re-indexed."""

    subject_id: str
    fields: list[str]
    identifiers_moved: list[str]
    profile_updated_at: str


def _store() -> Store:
    return data_map().store(STORE)


def _table() -> str:
    return get_settings().require("subjects_table")


def _cipher() -> FieldCipher:
    return FieldCipher(default_keyring())


def subject_item(subject_id: str) -> dict[str, Any] | None:
    """The subject's raw item (ciphertexts as stored); None if there is no such subject or it expired."""
    response = aws.client("dynamodb").get_item(
        TableName=_table(), Key=to_item({"subject_id": subject_id}), ConsistentRead=True
    )
    item = from_item(response["Item"]) if response.get("Item") else None
    return item if item and not retention.is_expired(item) else None


def decrypt_profile(subject_id: str, item: dict[str, Any]) -> dict[str, str]:
    """The profile fields of a subject item in clear; empty if the subject's keys were shredded."""
    store, table, cipher = _store(), _table(), _cipher()
    profile: dict[str, str] = {}
    try:
        for name, spec in store.fields.items():
            value = item.get(name)
            if value is None:
                continue
            if spec.encrypted:
                value = cipher.decrypt(
                    subject_id, str(value), table=table, item_key={"subject_id": subject_id}, attribute=name
                )
            profile[name] = str(value)
    except KeyShredded:
        return {}  # erased: nothing of the profile is readable any more
    return profile


def get_profile(subject_id: str) -> dict[str, str]:
    """The subject's profile in clear (only the fields present); NotFound for an unknown subject."""
    item = subject_item(subject_id)
    if item is None:
        raise NotFound("no such subject")
    return decrypt_profile(subject_id, item)


def validate(changes: dict[str, Any]) -> dict[str, str | None]:
    """Changes checked against the data map's profile fields and normalised; None clears a field.

    Unknown fields, wrong types and bad values are Unprocessable; messages name fields, never values.
    """
    if not changes:
        raise Unprocessable("the profile change names no field")
    store = _store()
    unknown = sorted(name for name in changes if name not in store.fields)
    if unknown:
        named = [name for name in unknown if _FIELD_NAME.match(name)]
        raise Unprocessable(f"fields the data map does not name in the profile: {', '.join(named) or '(invalid)'}")
    normalised: dict[str, str | None] = {}
    for name, value in changes.items():
        if value is None:
            normalised[name] = None
            continue
        value = store.fields[name].normalise(value, name=name)
        if name == "document_id" and not _DOCUMENT_ID.match(value):
            raise Unprocessable("document_id: 3 to 64 letters, digits, spaces, dots, slashes or dashes")
        normalised[name] = value
    return normalised


def put_profile(subject_id: str, changes: dict[str, Any]) -> ProfileChange:
    """Validate, encrypt and store profile changes (merge: fields not named stay as they are).

    NotFound for an unknown subject; Unprocessable for a field or value the data map rejects;
    Conflict if a new email or phone already finds another subject (checked before any write).
    A changed email or phone moves the blind index (``habeas.connectors.identifiers``): the new
    identifier is claimed first, the subject's old ones of that kind are released after the write.
    """
    normalised = validate(changes)
    store, table = _store(), _table()
    cleared_identifiers = [n for n, v in normalised.items() if v is None and store.fields[n].identifier]
    if cleared_identifiers:
        raise Unprocessable(f"{', '.join(sorted(cleared_identifiers))}: an identifier can be replaced, not cleared")
    item = subject_item(subject_id)
    if item is None:
        raise NotFound("no such subject")
    current = decrypt_profile(subject_id, item)
    moved = [
        identifiers.Identifier(spec.identifier, str(normalised[name]))
        for name, spec in store.fields.items()
        if spec.identifier and normalised.get(name) is not None and normalised[name] != current.get(name)
    ]
    for identifier in moved:  # a taken identifier rejects the whole change before anything is written
        blind_indexes.ensure_available(subject_id, identifier)
    now = clock.rfc3339(clock.now())
    names = {"#updated": "profile_updated_at"}
    values: dict[str, Any] = {":now": now}
    sets, removes = ["#updated = :now"], []
    try:
        for position, (name, value) in enumerate(sorted(normalised.items())):
            names[f"#f{position}"] = name
            if value is None:
                removes.append(f"#f{position}")
                continue
            if store.fields[name].encrypted:
                value = _cipher().encrypt(
                    subject_id, value, table=table, item_key={"subject_id": subject_id}, attribute=name
                )
            values[f":v{position}"] = value
            sets.append(f"#f{position} = :v{position}")
    except KeyShredded:
        raise Conflict("the subject was erased; the profile cannot be written") from None
    for identifier in moved:
        blind_indexes.claim(subject_id, identifier)
    try:
        aws.client("dynamodb").update_item(
            TableName=table,
            Key=to_item({"subject_id": subject_id}),
            UpdateExpression="SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else ""),
            ConditionExpression="attribute_exists(subject_id)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=to_item(values),
        )
    except ClientError as error:
        if cancelled_by_condition(error):
            raise NotFound("no such subject") from None
        raise
    for identifier in moved:
        blind_indexes.release_others(subject_id, identifier)
    return ProfileChange(subject_id, sorted(normalised), sorted(i.kind for i in moved), now)
