"""The field cipher and key cache without AWS: an in-memory keyring stands in for KMS and DynamoDB."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from habeas.keys import (
    DataKey,
    DecryptionFailed,
    FieldCipher,
    KeyCache,
    KeyShredded,
    MalformedCiphertext,
    is_ciphertext,
    key_version_of,
)

pytestmark = pytest.mark.unit
WHERE = {"table": "subjects", "item_key": {"subject_id": "sub_a"}, "attribute": "full_name"}


class MemoryKeyring:
    """The two calls FieldCipher makes, over a dict of plaintext keys."""

    def __init__(self):
        self.keys: dict[tuple[str, int], bytes] = {}
        self.current: dict[str, int] = {}
        self.shredded: set[str] = set()

    def rotate(self, subject_id):
        version = self.current.get(subject_id, 0) + 1
        self.keys[(subject_id, version)] = os.urandom(32)
        self.current[subject_id] = version

    def current_key(self, subject_id):
        if subject_id in self.shredded:
            raise KeyShredded("shredded")
        if subject_id not in self.current:
            self.rotate(subject_id)
        return self.key(subject_id, self.current[subject_id])

    def key(self, subject_id, version):
        if subject_id in self.shredded:
            raise KeyShredded("shredded")
        return DataKey(subject_id, version, self.keys[(subject_id, version)])


@pytest.fixture
def cipher():
    return FieldCipher(MemoryKeyring())


def test_value_round_trips_and_the_ciphertext_names_format_and_version(cipher):
    sealed = cipher.encrypt("sub_a", "Ada Lovelace", **WHERE)

    assert sealed.startswith("hbk1.1.") and is_ciphertext(sealed) and key_version_of(sealed) == 1
    assert "Ada" not in sealed
    assert cipher.decrypt("sub_a", sealed, **WHERE) == "Ada Lovelace"


def test_every_encryption_uses_a_fresh_nonce(cipher):
    first, second = (cipher.encrypt("sub_a", "same", **WHERE) for _ in range(2))

    assert first.split(".")[2] != second.split(".")[2] and first != second


@pytest.mark.parametrize(
    "moved",
    [
        {"item_key": {"subject_id": "sub_other"}},
        {"attribute": "email"},
        {"table": "conversations"},
    ],
    ids=["other-item", "other-attribute", "other-table"],
)
def test_ciphertext_moved_to_another_record_or_field_fails(cipher, moved):
    sealed = cipher.encrypt("sub_a", "Ada Lovelace", **WHERE)

    with pytest.raises(DecryptionFailed, match="does not belong here"):
        cipher.decrypt("sub_a", sealed, **{**WHERE, **moved})


def test_ciphertext_read_as_another_subject_fails(cipher):
    sealed = cipher.encrypt("sub_a", "Ada Lovelace", **WHERE)
    cipher.keyring.keys[("sub_b", 1)] = cipher.keyring.keys[("sub_a", 1)]  # even with the very same key

    with pytest.raises(DecryptionFailed):
        cipher.decrypt("sub_b", sealed, **WHERE)


def test_relabelled_key_version_fails_because_the_version_is_authenticated(cipher):
    sealed = cipher.encrypt("sub_a", "Ada Lovelace", **WHERE)
    cipher.keyring.keys[("sub_a", 2)] = cipher.keyring.keys[("sub_a", 1)]

    with pytest.raises(DecryptionFailed):
        cipher.decrypt("sub_a", sealed.replace("hbk1.1.", "hbk1.2.", 1), **WHERE)


def test_decrypt_uses_the_version_in_the_ciphertext_after_rotation(cipher):
    old = cipher.encrypt("sub_a", "before", **WHERE)
    cipher.keyring.rotate("sub_a")
    new = cipher.encrypt("sub_a", "after", **WHERE)

    assert (key_version_of(old), key_version_of(new)) == (1, 2)
    assert cipher.decrypt("sub_a", old, **WHERE) == "before" and cipher.decrypt("sub_a", new, **WHERE) == "after"


@pytest.mark.parametrize(
    "value",
    [
        "Ada Lovelace",
        "",
        "hbk1.1.x.y",
        "hbk2.1.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA",
        "hbk1.0.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA",
        None,
        42,
    ],
)
def test_plaintext_or_garbage_is_never_passed_through(cipher, value):
    with pytest.raises(MalformedCiphertext) as raised:
        cipher.decrypt("sub_a", value, **WHERE)
    assert "Ada" not in str(raised.value)


def test_tampered_ciphertext_fails(cipher):
    sealed = cipher.encrypt("sub_a", "Ada Lovelace", **WHERE)
    last = sealed[-2]
    tampered = sealed[:-2] + ("A" if last != "A" else "B") + sealed[-1]

    with pytest.raises(DecryptionFailed):
        cipher.decrypt("sub_a", tampered, **WHERE)


def test_only_strings_are_encrypted(cipher):
    with pytest.raises(TypeError, match="full_name"):
        cipher.encrypt("sub_a", 1234, **WHERE)


def test_item_helpers_encrypt_only_the_listed_present_attributes(cipher):
    item = {"subject_id": "sub_a", "full_name": "Ada", "email": "ada@example.com", "phone": None, "regulation": "gdpr"}
    spec = {
        "table": "subjects",
        "key_attributes": ["subject_id"],
        "encrypted_attributes": ["full_name", "email", "phone"],
    }

    sealed = cipher.encrypt_item("sub_a", item, **spec)

    assert sealed["subject_id"] == "sub_a" and sealed["regulation"] == "gdpr" and sealed["phone"] is None
    assert is_ciphertext(sealed["full_name"]) and is_ciphertext(sealed["email"])
    assert cipher.decrypt_item("sub_a", sealed, **spec) == item
    swapped = {**sealed, "full_name": sealed["email"], "email": sealed["full_name"]}
    with pytest.raises(DecryptionFailed):
        cipher.decrypt_item("sub_a", swapped, **spec)


def test_shredded_subject_cannot_encrypt_or_decrypt(cipher):
    sealed = cipher.encrypt("sub_a", "Ada", **WHERE)
    cipher.keyring.shredded.add("sub_a")

    with pytest.raises(KeyShredded):
        cipher.decrypt("sub_a", sealed, **WHERE)
    with pytest.raises(KeyShredded):
        cipher.encrypt("sub_a", "Ada", **WHERE)


@given(value=st.text(max_size=300), attribute=st.text(min_size=1, max_size=20))
def test_any_text_round_trips(value, attribute):
    cipher = FieldCipher(MemoryKeyring())
    where = {**WHERE, "attribute": attribute}
    assert cipher.decrypt("sub_a", cipher.encrypt("sub_a", value, **where), **where) == value


# ---------------------------------------------------------------- the key cache


class Ticks:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _key(subject_id, version=1):
    return DataKey(subject_id, version, b"k" * 32)


def test_cache_never_holds_more_than_max_entries_and_drops_the_least_recently_used():
    cache = KeyCache(max_entries=2, max_age_seconds=60, clock=Ticks())
    cache.put(("a", 1), _key("a"))
    cache.put(("b", 1), _key("b"))
    cache.get(("a", 1))  # a is now more recent than b
    cache.put(("c", 1), _key("c"))

    assert len(cache) == 2
    assert cache.get(("b", 1)) is None and cache.get(("a", 1)) and cache.get(("c", 1))


def test_cache_entry_expires_at_max_age_even_when_used():
    ticks = Ticks()
    cache = KeyCache(max_entries=10, max_age_seconds=60, clock=ticks)
    cache.put(("a", 1), _key("a"))

    ticks.now = 59.9
    assert cache.get(("a", 1)) is not None
    ticks.now = 60.0
    assert cache.get(("a", 1)) is None and len(cache) == 0


def test_evicting_a_subject_drops_all_its_versions_and_nobody_elses():
    cache = KeyCache(clock=Ticks())
    for cache_key in [("a", 1), ("a", 2), ("a", -1), ("b", 1)]:
        cache.put(cache_key, _key(cache_key[0], cache_key[1]))

    assert cache.evict_subject("a") == 3
    assert len(cache) == 1 and cache.get(("b", 1))


def test_data_key_repr_never_shows_the_key():
    data_key = DataKey("sub_a", 1, b"\x01secret-key-bytes-0123456789abcd")

    assert "secret" not in repr(data_key) and "secret" not in str(data_key)


@pytest.mark.parametrize("bounds", [{"max_entries": 0}, {"max_age_seconds": 0}])
def test_cache_bounds_must_be_positive(bounds):
    with pytest.raises(ValueError):
        KeyCache(**bounds)
