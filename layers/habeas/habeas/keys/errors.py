"""Errors of per-subject envelope encryption.

None of them ever carries a key, a plaintext or a ciphertext: only subject ids, versions, attribute
names and KMS error codes, so they are safe to log and to show.
"""

from __future__ import annotations

from habeas.errors import HabeasError


class KeysError(HabeasError):
    """Base of every keys error. Encryption never falls back to plaintext when one is raised."""

    status, title, slug = 500, "Encryption error", "encryption-error"


class KeyShredded(KeysError):
    """The subject's keys were destroyed (crypto-shredding): their data can never be read again."""

    status, title, slug = 410, "Subject data erased", "subject-erased"


class KeyVersionNotFound(KeysError):
    """The ciphertext names a key version the subject's keyring does not hold (and was not shredded)."""


class KeyUnavailable(KeysError):
    """The KMS key is missing, disabled, pending deletion or not usable by this function."""

    status, title, slug = 503, "Encryption key unavailable", "key-unavailable"

    def __init__(self, detail: str | None = None, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.code = code


class KeyServiceUnavailable(KeysError):
    """KMS kept failing transiently (throttling, timeouts) after botocore's retries; try again later."""

    status, title, slug = 503, "Encryption service unavailable", "key-service-unavailable"


class WrappedKeyInvalid(KeysError):
    """KMS refused to unwrap a stored data key: wrong encryption context, wrong KMS key or altered blob."""


class DecryptionFailed(KeysError):
    """A field ciphertext failed authentication: altered, or moved to another record, attribute or subject."""


class MalformedCiphertext(DecryptionFailed):
    """The value is not a Habeas field ciphertext of a known format (it is never returned as plaintext)."""


class RotationIncomplete(KeysError):
    """Rotation could not move every field of a subject in this run; the next run resumes it."""
