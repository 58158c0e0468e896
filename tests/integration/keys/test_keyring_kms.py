"""The keyring on moto: wrapped storage, encryption context, race-safe creation, cache and KMS call counts, key errors."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from habeas.keys import (
    FieldCipher,
    KeyServiceUnavailable,
    KeyUnavailable,
    WrappedKeyInvalid,
)
from tests.integration.keys.conftest import DEPLOYMENT, emulate_kms_key_state

pytestmark = pytest.mark.integration
WHERE = {"table": "conversations", "item_key": {"subject_id": "sub_a", "sk": "m1"}, "attribute": "body"}


def test_first_key_is_generated_once_and_only_its_wrapped_form_is_stored(keys_env):
    keyring = keys_env.keyring()

    data_key = keyring.current_key("sub_a")

    assert keys_env.calls == {"GenerateDataKey": 1}
    [item] = keys_env.keyring_items("sub_a")
    assert item["version"] == 1 and item["state"] == "active" and item["kms_key_arn"] == keys_env.kms_key_arn
    assert item["created_at"].startswith("2026-01-01T")
    assert len(data_key.plaintext) == 32
    stored = b"".join(bytes(v.value) if hasattr(v, "value") else str(v).encode() for v in item.values())
    assert data_key.plaintext not in stored
    assert "plaintext" not in repr(data_key) and repr(data_key.plaintext) not in repr(data_key)


def test_wrapped_key_is_bound_to_subject_and_deployment_by_the_encryption_context(keys_env):
    keys_env.keyring().current_key("sub_a")
    [item] = keys_env.keyring_items("sub_a")
    blob = bytes(item["wrapped_key"].value)

    right = keys_env.kms.decrypt(
        CiphertextBlob=blob, EncryptionContext={"subject_id": "sub_a", "deployment": DEPLOYMENT}
    )
    assert len(right["Plaintext"]) == 32
    for wrong in ({"subject_id": "sub_b", "deployment": DEPLOYMENT}, {"subject_id": "sub_a", "deployment": "other"}):
        with pytest.raises(ClientError, match="InvalidCiphertextException"):
            keys_env.kms.decrypt(CiphertextBlob=blob, EncryptionContext=wrong)


def test_wrapped_key_copied_to_another_subject_does_not_unwrap(keys_env):
    keys_env.keyring().current_key("sub_a")
    [item] = keys_env.keyring_items("sub_a")
    table = keys_env.resource.Table(keys_env.keyring_table)
    table.put_item(Item={**item, "subject_id": "sub_b"})

    with pytest.raises(WrappedKeyInvalid):
        keys_env.keyring().key("sub_b", 1)


def test_other_deployment_cannot_unwrap_this_deployments_keys(keys_env):
    keys_env.keyring().current_key("sub_a")

    with pytest.raises(WrappedKeyInvalid):
        keys_env.keyring(deployment="another-stack").key("sub_a", 1)


def test_first_key_creation_is_race_safe_the_loser_uses_the_winners_key(keys_env, monkeypatch):
    winner, loser = keys_env.keyring(), keys_env.keyring()
    # GIVEN the loser read the keyring before the winner wrote version 1 (a stale, empty view)
    stale_reads = [[]]
    real_query = loser._query
    monkeypatch.setattr(
        loser, "_query", lambda subject_id: stale_reads.pop() if stale_reads else real_query(subject_id)
    )
    original = winner.current_key("sub_a")

    # WHEN the loser creates "the first key" too
    raced = loser.current_key("sub_a")

    # THEN its conditional put failed and it took the stored key: one version, one plaintext
    assert stale_reads == [] and keys_env.calls == {"GenerateDataKey": 2, "Decrypt": 1}
    assert raced.plaintext == original.plaintext and raced.version == 1
    assert len(keys_env.keyring_items("sub_a")) == 1


def test_a_warm_container_calls_kms_once_per_subject_for_a_thousand_values(keys_env):
    writer = FieldCipher(keys_env.keyring())
    sealed = [writer.encrypt("sub_a", f"message {i}", **WHERE) for i in range(1000)]
    assert keys_env.calls == {"GenerateDataKey": 1}

    reader = FieldCipher(keys_env.keyring())  # another container: cold cache
    keys_env.calls.clear()
    assert [reader.decrypt("sub_a", s, **WHERE) for s in sealed] == [f"message {i}" for i in range(1000)]
    assert keys_env.calls == {"Decrypt": 1}


def test_cache_age_bound_forces_one_new_unwrap_per_period(keys_env):
    from datetime import timedelta

    cipher = FieldCipher(keys_env.keyring(max_age_seconds=60))
    sealed = cipher.encrypt("sub_a", "hello", **WHERE)
    keys_env.calls.clear()

    keys_env.clock.advance(timedelta(seconds=59))
    cipher.decrypt("sub_a", sealed, **WHERE)
    assert keys_env.calls.total == 0
    keys_env.clock.advance(timedelta(seconds=2))
    cipher.decrypt("sub_a", sealed, **WHERE)
    cipher.encrypt("sub_a", "again", **WHERE)
    assert keys_env.calls == {"Decrypt": 1}


def test_cache_size_bound_evicts_least_recently_used_subjects(keys_env):
    # Two slots per subject (its current key and its version 1): room for two subjects.
    cipher = FieldCipher(keys_env.keyring(max_entries=4))
    sealed = {s: cipher.encrypt(s, "hello", **WHERE) for s in ("sub_1", "sub_2", "sub_3")}
    assert len(cipher.keyring.cache) == 4
    keys_env.calls.clear()

    cipher.decrypt("sub_3", sealed["sub_3"], **WHERE)
    cipher.decrypt("sub_2", sealed["sub_2"], **WHERE)
    assert keys_env.calls.total == 0
    cipher.decrypt("sub_1", sealed["sub_1"], **WHERE)
    assert keys_env.calls == {"Decrypt": 1}


def test_disabled_key_raises_key_unavailable_and_never_returns_plaintext(keys_env):
    emulate_kms_key_state(keys_env.kms)
    cipher = FieldCipher(keys_env.keyring())
    sealed = cipher.encrypt("sub_a", "secret", **WHERE)
    keys_env.kms.disable_key(KeyId=keys_env.kms_key_arn.split("/")[-1])

    with pytest.raises(KeyUnavailable, match="disabled") as new_subject:
        cipher.encrypt("sub_new", "secret", **WHERE)
    assert new_subject.value.code == "DisabledException"
    with pytest.raises(KeyUnavailable, match="disabled"):
        FieldCipher(keys_env.keyring()).decrypt("sub_a", sealed, **WHERE)  # cold container
    assert keys_env.keyring_items("sub_new") == []


def test_disabled_key_fails_the_rotation_health_check(keys_env):
    keys_env.kms.disable_key(KeyId=keys_env.kms_key_arn.split("/")[-1])

    with pytest.raises(KeyUnavailable, match="Disabled"):
        keys_env.keyring().wrapping_key_arn()


def test_missing_key_raises_key_unavailable(keys_env):
    missing = keys_env.kms_key_arn.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"

    with pytest.raises(KeyUnavailable, match="not found"):
        FieldCipher(keys_env.keyring(kms_key_id=missing)).encrypt("sub_a", "secret", **WHERE)


def test_kms_throttling_left_after_botocore_retries_is_a_typed_transient_error(keys_env):
    def throttle(**_kwargs):
        error = {"Error": {"Code": "ThrottlingException", "Message": "slow down"}, "ResponseMetadata": {}}
        from types import SimpleNamespace

        return SimpleNamespace(status_code=400, headers={}, content=b""), error

    keys_env.kms.meta.events.register("before-call.kms.GenerateDataKey", throttle)

    with pytest.raises(KeyServiceUnavailable, match="ThrottlingException"):
        FieldCipher(keys_env.keyring()).encrypt("sub_a", "secret", **WHERE)
    assert keys_env.keyring_items("sub_a") == []


def test_byok_alias_works_and_items_record_the_key_arn(keys_env):
    other = keys_env.kms.create_key(Description="customer key, not from the template")["KeyMetadata"]
    keys_env.kms.create_alias(AliasName="alias/customer-owned", TargetKeyId=other["KeyId"])
    alias_arn = other["Arn"].rsplit(":", 1)[0] + ":alias/customer-owned"
    cipher = FieldCipher(keys_env.keyring(kms_key_id=alias_arn))

    sealed = cipher.encrypt("sub_a", "hello", **WHERE)

    assert keys_env.keyring_items("sub_a")[0]["kms_key_arn"] == other["Arn"]
    assert FieldCipher(keys_env.keyring(kms_key_id=alias_arn)).decrypt("sub_a", sealed, **WHERE) == "hello"
    assert keys_env.keyring(kms_key_id=alias_arn).wrapping_key_arn() == other["Arn"]
