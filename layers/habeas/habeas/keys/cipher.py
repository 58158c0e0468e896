"""Field encryption: AES-256-GCM under the subject's data key, bound to where the value lives.

Ciphertext format (ASCII, safe in any DynamoDB string attribute)::

    hbk1.<key version>.<nonce, base64url>.<ciphertext and 16-byte tag, base64url>

``hbk1`` names the format, so a later format can coexist; the key version says which keyring version
decrypts it. The associated data binds the value to its format, subject, table, item key, attribute
and key version: a ciphertext copied to another record, attribute or subject fails authentication.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from habeas.keys.errors import DecryptionFailed, MalformedCiphertext
from habeas.keys.keyring import Keyring

FORMAT = "hbk1"
NONCE_BYTES = 12  # 96-bit random nonce per value: safe for far more values than one subject key will see
_PATTERN = re.compile(r"^hbk1\.([1-9][0-9]{0,9})\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{22,})$")

ItemKey = str | Mapping[str, Any]


def is_ciphertext(value: Any) -> bool:
    """True if ``value`` looks like a Habeas field ciphertext (format check only, no decryption)."""
    return isinstance(value, str) and _PATTERN.match(value) is not None


def key_version_of(ciphertext: str) -> int:
    """The keyring version a ciphertext was made under; MalformedCiphertext if it is not one."""
    return _parse(ciphertext)[0]


def associated_data(subject_id: str, *, table: str, item_key: ItemKey, attribute: str, version: int) -> bytes:
    """The AES-GCM associated data: canonical JSON, so no two locations share an encoding."""
    key = item_key if isinstance(item_key, str) else {k: str(v) for k, v in sorted(item_key.items())}
    return json.dumps([FORMAT, subject_id, table, key, attribute, version], separators=(",", ":")).encode()


class FieldCipher:
    """Encrypts and decrypts personal fields of one subject with the subject's keyring key."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    def encrypt(self, subject_id: str, value: str, *, table: str, item_key: ItemKey, attribute: str) -> str:
        """Encrypt ``value`` under the subject's current key, bound to table/item/attribute."""
        if not isinstance(value, str):
            raise TypeError(f"attribute {attribute}: only str values are encrypted, got {type(value).__name__}")
        data_key = self.keyring.current_key(subject_id)
        return self._seal(data_key.plaintext, data_key.version, subject_id, value, table, item_key, attribute)

    def encrypt_with_version(
        self, subject_id: str, value: str, *, version: int, table: str, item_key: ItemKey, attribute: str
    ) -> str:
        """Encrypt under a given key version (rotation uses it to target the version it just created)."""
        data_key = self.keyring.key(subject_id, version)
        return self._seal(data_key.plaintext, version, subject_id, value, table, item_key, attribute)

    def decrypt(self, subject_id: str, ciphertext: str, *, table: str, item_key: ItemKey, attribute: str) -> str:
        """Decrypt with the key version named in the ciphertext.

        Raises KeyShredded (subject erased), DecryptionFailed (moved, altered or another subject's),
        MalformedCiphertext (not a ciphertext: a plaintext value is never passed through).
        """
        version, nonce, sealed = _parse(ciphertext)
        data_key = self.keyring.key(subject_id, version)
        aad = associated_data(subject_id, table=table, item_key=item_key, attribute=attribute, version=version)
        try:
            return AESGCM(data_key.plaintext).decrypt(nonce, sealed, aad).decode("utf-8")
        except InvalidTag:
            raise DecryptionFailed(
                f"attribute {attribute} of table {table}: ciphertext does not belong here or was altered"
            ) from None

    def encrypt_item(
        self,
        subject_id: str,
        item: Mapping[str, Any],
        *,
        table: str,
        key_attributes: Iterable[str],
        encrypted_attributes: Iterable[str],
    ) -> dict[str, Any]:
        """A copy of ``item`` with each present, non-None encrypted attribute encrypted in place."""
        item_key = {name: item[name] for name in key_attributes}
        sealed = dict(item)
        for attribute in encrypted_attributes:
            if sealed.get(attribute) is not None:
                sealed[attribute] = self.encrypt(
                    subject_id, sealed[attribute], table=table, item_key=item_key, attribute=attribute
                )
        return sealed

    def decrypt_item(
        self,
        subject_id: str,
        item: Mapping[str, Any],
        *,
        table: str,
        key_attributes: Iterable[str],
        encrypted_attributes: Iterable[str],
    ) -> dict[str, Any]:
        """A copy of ``item`` with each present encrypted attribute decrypted; any failure raises."""
        item_key = {name: item[name] for name in key_attributes}
        opened = dict(item)
        for attribute in encrypted_attributes:
            if opened.get(attribute) is not None:
                opened[attribute] = self.decrypt(
                    subject_id, opened[attribute], table=table, item_key=item_key, attribute=attribute
                )
        return opened

    @staticmethod
    def _seal(
        key: bytes, version: int, subject_id: str, value: str, table: str, item_key: ItemKey, attribute: str
    ) -> str:
        nonce = os.urandom(NONCE_BYTES)
        aad = associated_data(subject_id, table=table, item_key=item_key, attribute=attribute, version=version)
        sealed = AESGCM(key).encrypt(nonce, value.encode("utf-8"), aad)
        return f"{FORMAT}.{version}.{_b64(nonce)}.{_b64(sealed)}"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _parse(ciphertext: Any) -> tuple[int, bytes, bytes]:
    match = _PATTERN.match(ciphertext) if isinstance(ciphertext, str) else None
    if match is None:
        # Deliberately no hint of the value: it may be plaintext personal data written by mistake.
        raise MalformedCiphertext("value is not a Habeas field ciphertext")
    try:
        nonce, sealed = _unb64(match.group(2)), _unb64(match.group(3))
    except (binascii.Error, ValueError):
        raise MalformedCiphertext("value is not a Habeas field ciphertext") from None
    if len(nonce) != NONCE_BYTES or len(sealed) < 16:
        raise MalformedCiphertext("value is not a Habeas field ciphertext")
    return int(match.group(1)), nonce, sealed
