"""Per-subject envelope encryption: keyring, field cipher, rotation and crypto-shredding.

Typical use::

    from habeas.keys import FieldCipher, default_keyring

    cipher = FieldCipher(default_keyring())
    sealed = cipher.encrypt(subject_id, "Ada Lovelace", table=name, item_key={"subject_id": subject_id},
                            attribute="full_name")
"""

from habeas.keys.cache import DataKey, KeyCache
from habeas.keys.cipher import FieldCipher, is_ciphertext, key_version_of
from habeas.keys.errors import (
    DecryptionFailed,
    KeysError,
    KeyServiceUnavailable,
    KeyShredded,
    KeyUnavailable,
    KeyVersionNotFound,
    MalformedCiphertext,
    WrappedKeyInvalid,
)
from habeas.keys.keyring import KeyRecord, Keyring, default_keyring
from habeas.keys.rotation import RotationReport, Rotator, SubjectRotation, due_subjects, run_scheduled_rotation
from habeas.keys.settings import get_key_settings
from habeas.keys.stores import DynamoFieldStore, EncryptedItem, FieldStore, stores_from_json


def shred(subject_id: str) -> int:
    """Crypto-shred a subject with the container's keyring (see ``Keyring.shred``)."""
    return default_keyring().shred(subject_id)


def reset() -> None:
    """Forget the container's keyring and settings (tests that change the environment call this)."""
    default_keyring.cache_clear()
    get_key_settings.cache_clear()


__all__ = [
    "DataKey",
    "DecryptionFailed",
    "DynamoFieldStore",
    "EncryptedItem",
    "FieldCipher",
    "FieldStore",
    "KeyCache",
    "KeyRecord",
    "KeyServiceUnavailable",
    "KeyShredded",
    "KeyUnavailable",
    "KeyVersionNotFound",
    "Keyring",
    "KeysError",
    "MalformedCiphertext",
    "RotationReport",
    "Rotator",
    "SubjectRotation",
    "WrappedKeyInvalid",
    "due_subjects",
    "get_key_settings",
    "is_ciphertext",
    "key_version_of",
    "reset",
    "run_scheduled_rotation",
    "shred",
    "stores_from_json",
]
