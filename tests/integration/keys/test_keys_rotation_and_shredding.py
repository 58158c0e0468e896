"""Rotation (killed halfway and resumed, waiting for caches, concurrent writers, the scheduled handler)
and crypto-shredding (including an item restored from an old copy)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from habeas import keys
from habeas.keys import (
    FieldCipher,
    KeyShredded,
    Rotator,
    due_subjects,
    key_version_of,
)
from tests.conftest import import_handler, load_event

pytestmark = pytest.mark.integration
MAX_AGE = timedelta(days=90)
SUBJECTS = ("sub_a", "sub_b")


class KilledAfter:
    """A field store that dies (like a Lambda timing out) after ``n`` successful replaces."""

    def __init__(self, store, n):
        self.store, self.n, self.table = store, n, store.table

    def iter_encrypted(self, subject_id, *, page_size=100):
        return self.store.iter_encrypted(subject_id, page_size=page_size)

    def replace(self, item, new_fields):
        if self.n == 0:
            raise RuntimeError("killed")
        self.n -= 1
        return self.store.replace(item, new_fields)


@pytest.fixture
def messages(keys_env):
    """Five messages per subject, written a day apart from the rotation, under key version 1."""
    cipher = FieldCipher(keys_env.keyring())
    expected = {}
    for subject_id in SUBJECTS:
        for i in range(5):
            keys_env.put_message(cipher, subject_id, f"m{i}", f"body {subject_id} {i}", f"Name {i}")
            expected[(subject_id, f"m{i}")] = {"body": f"body {subject_id} {i}", "sender_name": f"Name {i}"}
    return expected


def _versions_on_disk(keys_env):
    items = keys_env.resource.Table(keys_env.data_table).scan(ConsistentRead=True)["Items"]
    return {(i["subject_id"], i["sk"], a): key_version_of(i[a]) for i in items for a in ("body", "sender_name")}


def _states(keys_env, subject_id):
    return {int(i["version"]): i["state"] for i in keys_env.keyring_items(subject_id)}


def _all_readable(keys_env, expected):
    reader = FieldCipher(keys_env.keyring())  # a cold container
    for (subject_id, sk), fields in expected.items():
        item = keys_env.read_message(reader, subject_id, sk)
        assert {a: item[a] for a in fields} == fields


def test_rotation_killed_halfway_then_rerun_moves_every_field_and_retires_the_old_version(keys_env, messages):
    keys_env.clock.advance(MAX_AGE + timedelta(days=1))

    # WHEN the first run dies after 3 items of sub_a
    killed = Rotator(keys_env.keyring(), [KilledAfter(keys_env.store(), 3)], max_age=MAX_AGE, retire_after=timedelta(0))
    with pytest.raises(RuntimeError, match="killed"):
        killed.rotate(SUBJECTS)

    # THEN everything is still readable, part on v2, and v1 is still active
    on_disk = _versions_on_disk(keys_env)
    assert sorted(on_disk.values()).count(2) == 6 and _states(keys_env, "sub_a") == {1: "active", 2: "active"}
    _all_readable(keys_env, messages)

    # WHEN the next run goes (new container, the real store)
    report = Rotator(keys_env.keyring(), [keys_env.store()], max_age=MAX_AGE, retire_after=timedelta(0)).rotate(
        due_subjects(keys_env.keyring(), max_age=MAX_AGE)
    )

    # THEN every field is on version 2 and version 1 is retired, for both subjects
    assert set(_versions_on_disk(keys_env).values()) == {2}
    assert all(_states(keys_env, s) == {1: "retired", 2: "active"} for s in SUBJECTS)
    assert report.subjects_complete == 2 and report.items_moved == 2 + 5 and report.keys_created == 1
    _all_readable(keys_env, messages)


def test_rotation_is_idempotent_a_rerun_does_nothing(keys_env, messages):
    keys_env.clock.advance(MAX_AGE + timedelta(days=1))
    rotator = Rotator(keys_env.keyring(), [keys_env.store()], max_age=MAX_AGE, retire_after=timedelta(0))
    first = rotator.rotate(SUBJECTS)
    before = _versions_on_disk(keys_env)

    again = rotator.rotate(SUBJECTS)

    assert first.keys_created == 2 and first.items_moved == 10
    assert again.keys_created == 0 and again.items_moved == 0 and again.versions_retired == 0
    assert _versions_on_disk(keys_env) == before
    assert list(due_subjects(keys_env.keyring(), max_age=MAX_AGE)) == []


def test_old_version_stays_active_until_warm_caches_have_expired(keys_env, messages):
    keys_env.clock.advance(MAX_AGE + timedelta(days=1))
    rotator = Rotator(keys_env.keyring(), [keys_env.store()], max_age=MAX_AGE, retire_after=timedelta(seconds=300))

    first = rotator.rotate_subject("sub_a")
    # A warm writer still holding v1 as current writes under it meanwhile.
    stale_writer = FieldCipher(keys_env.keyring())
    stale_writer.keyring.cache.put(("sub_a", -1), stale_writer.keyring.key("sub_a", 1))
    keys_env.put_message(stale_writer, "sub_a", "late", "late body", "Late")

    assert first.created and first.waiting_for_caches and first.items_moved == 0
    assert _states(keys_env, "sub_a") == {1: "active", 2: "active"}

    keys_env.clock.advance(timedelta(seconds=301))
    second = rotator.rotate_subject("sub_a")

    assert second.items_moved == 6 and second.retired_versions == [1]
    assert {v for (s, _, _), v in _versions_on_disk(keys_env).items() if s == "sub_a"} == {2}


def test_field_rewritten_during_rotation_keeps_the_old_version_active_until_a_later_run(keys_env, messages):
    keys_env.clock.advance(MAX_AGE + timedelta(days=1))
    writer = FieldCipher(keys_env.keyring())
    store = keys_env.store()

    class WriterInterleaves:
        table = store.table

        def iter_encrypted(self, subject_id, *, page_size=100):
            return store.iter_encrypted(subject_id, page_size=page_size)

        def replace(self, item, new_fields):
            if item.item_key["sk"] == "m0":  # a writer updates m0 between our read and our write
                keys_env.put_message(writer, "sub_a", "m0", "edited", "Name 0")
            return store.replace(item, new_fields)

    rotator = Rotator(keys_env.keyring(), [WriterInterleaves()], max_age=MAX_AGE, retire_after=timedelta(0))
    step = rotator.rotate_subject("sub_a")

    assert step.items_changed_meanwhile == 1 and step.retired_versions == []
    assert keys_env.read_message(writer, "sub_a", "m0")["body"] == "edited"  # the writer's value won
    assert Rotator(keys_env.keyring(), [store], max_age=MAX_AGE, retire_after=timedelta(0)).rotate_subject(
        "sub_a"
    ).retired_versions == [1]


def test_due_subjects_picks_only_old_or_unfinished_keyrings(keys_env, messages):
    FieldCipher(keys_env.keyring()).encrypt("sub_young", "x", table="t", item_key="k", attribute="a")
    keys_env.clock.advance(MAX_AGE - timedelta(days=1))
    FieldCipher(keys_env.keyring()).encrypt("sub_fresh", "x", table="t", item_key="k", attribute="a")
    keys_env.keyring().shred("sub_b")
    keys_env.clock.advance(timedelta(days=2))

    assert sorted(due_subjects(keys_env.keyring(), max_age=MAX_AGE, page_size=1)) == ["sub_a", "sub_young"]


def test_byok_key_switch_makes_subjects_due_and_moves_them_to_the_new_key(keys_env, messages):
    new_key_arn = keys_env.kms.create_key(Description="new customer key")["KeyMetadata"]["Arn"]
    keyring = keys_env.keyring(kms_key_id=new_key_arn)

    assert sorted(due_subjects(keyring, max_age=MAX_AGE, wrapping_key_arn=new_key_arn)) == list(SUBJECTS)
    Rotator(
        keyring, [keys_env.store()], max_age=MAX_AGE, retire_after=timedelta(0), wrapping_key_arn=new_key_arn
    ).rotate(SUBJECTS)

    assert keys_env.keyring_items("sub_a")[-1]["kms_key_arn"] == new_key_arn
    assert set(_versions_on_disk(keys_env).values()) == {2}
    _all_readable(keys_env, messages)


def test_scheduled_handler_rotates_due_subjects(keys_env, messages, monkeypatch, lambda_context):
    monkeypatch.setenv("KEYRING_TABLE", keys_env.keyring_table)
    monkeypatch.setenv("KMS_KEY_ARN", keys_env.kms_key_arn)
    monkeypatch.setenv("KEY_CACHE_MAX_AGE_SECONDS", "1")
    monkeypatch.setenv("KEY_ROTATION_STOP_MARGIN_MS", "1000")
    monkeypatch.setenv(
        "ENCRYPTED_FIELD_STORES",
        json.dumps([{"table": keys_env.data_table, "sort_key": "sk", "encrypted_attributes": ["body", "sender_name"]}]),
    )
    from habeas import clock, config

    config.get_settings.cache_clear()
    keys.reset()
    monkeypatch.setattr(clock, "now", lambda: keys_env.clock.now() + MAX_AGE + timedelta(days=1))
    handler = import_handler("key_rotation").handler

    first = handler(load_event("key_rotation.json"), lambda_context)
    monkeypatch.setattr(clock, "now", lambda: keys_env.clock.now() + MAX_AGE + timedelta(days=1, seconds=2))
    second = handler(load_event("key_rotation.json"), lambda_context)

    assert first["keys_created"] == 2 and first["subjects_pending"] == 2  # waiting for warm caches
    assert second["items_moved"] == 10 and second["versions_retired"] == 2 and second["subjects_pending"] == 0
    assert set(_versions_on_disk(keys_env).values()) == {2}
    config.get_settings.cache_clear()


def test_scheduled_handler_refuses_to_rotate_without_knowing_the_field_stores(keys_env, monkeypatch, lambda_context):
    monkeypatch.setenv("KEYRING_TABLE", keys_env.keyring_table)
    monkeypatch.setenv("KMS_KEY_ARN", keys_env.kms_key_arn)
    monkeypatch.delenv("ENCRYPTED_FIELD_STORES", raising=False)
    for variable in ("SUBJECTS_TABLE", "CONVERSATIONS_TABLE"):
        monkeypatch.delenv(variable, raising=False)
    from habeas import config

    config.get_settings.cache_clear()
    keys.reset()

    # Neither an explicit list nor the data map's tables: it names what is missing instead of guessing.
    with pytest.raises(config.ConfigurationError, match="missing setting (SUBJECTS|CONVERSATIONS)_TABLE"):
        import_handler("key_rotation").handler(load_event("key_rotation.json"), lambda_context)
    config.get_settings.cache_clear()


# ---------------------------------------------------------------- crypto-shredding


def test_shredded_subject_is_unreadable_even_from_an_old_copy_of_the_item(keys_env, messages):
    table = keys_env.resource.Table(keys_env.data_table)
    old_copy = table.get_item(Key={"subject_id": "sub_a", "sk": "m1"}, ConsistentRead=True)["Item"]
    warm = FieldCipher(keys_env.keyring())
    assert keys_env.read_message(warm, "sub_a", "m1")["body"] == "body sub_a 1"  # warm cache holds the key

    deleted = warm.keyring.shred("sub_a")
    table.put_item(Item=old_copy)  # restored from a backup

    assert deleted == 1
    assert [i["state"] for i in keys_env.keyring_items("sub_a")] == ["shredded"]
    assert not any("wrapped_key" in i for i in keys_env.keyring_items("sub_a"))
    for cipher in (warm, FieldCipher(keys_env.keyring())):  # this container and a cold one
        with pytest.raises(KeyShredded):
            keys_env.read_message(cipher, "sub_a", "m1")
    assert keys_env.read_message(warm, "sub_b", "m1")["body"] == "body sub_b 1"  # others untouched


def test_shredded_subject_gets_no_new_key(keys_env, messages):
    keyring = keys_env.keyring()
    keyring.shred("sub_a")

    with pytest.raises(KeyShredded):
        FieldCipher(keyring).encrypt("sub_a", "new data", table="t", item_key="k", attribute="a")
    assert [i["state"] for i in keys_env.keyring_items("sub_a")] == ["shredded"]


def test_shredding_every_version_after_a_rotation_and_rerunning_is_harmless(keys_env, messages):
    keys_env.clock.advance(MAX_AGE + timedelta(days=1))
    Rotator(keys_env.keyring(), [KilledAfter(keys_env.store(), 2)], max_age=MAX_AGE).rotate_subject("sub_a")
    keyring = keys_env.keyring()

    assert keyring.shred("sub_a") == 2
    assert keyring.shred("sub_a") == 0
    step = Rotator(keyring, [keys_env.store()], max_age=MAX_AGE, retire_after=timedelta(0)).rotate_subject("sub_a")
    assert step.shredded and step.items_moved == 0
    with pytest.raises(KeyShredded):
        keys_env.read_message(FieldCipher(keyring), "sub_a", "m4")


def test_module_level_shred_uses_the_configured_keyring(keys_env, messages, monkeypatch):
    monkeypatch.setenv("KEYRING_TABLE", keys_env.keyring_table)
    monkeypatch.setenv("KMS_KEY_ARN", keys_env.kms_key_arn)
    from habeas import config

    config.get_settings.cache_clear()
    keys.reset()

    assert keys.shred("sub_b") == 1
    with pytest.raises(KeyShredded):
        keys_env.read_message(FieldCipher(keys_env.keyring()), "sub_b", "m0")
    config.get_settings.cache_clear()
