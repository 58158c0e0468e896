"""The scheduled key rotation moves every encrypted field the data map declares: profiles included."""

from datetime import timedelta

import boto3
import pytest

from tests.conftest import import_handler, load_event
from tests.integration.helpers import verify

pytestmark = pytest.mark.integration


def test_rotation_re_encrypts_profile_fields_under_the_new_key_version(
    call, outbox, embedded_aws, use_function, lambda_context, monkeypatch
):
    subject_id = verify(call, outbox, "rotation.profile@example.com")["subject_id"]
    use_function("AdminFunction")
    from habeas import profiles
    from habeas.keys import key_version_of

    profiles.put_profile(subject_id, {"name": "Ada Lovelace", "address": "12 St James's Square"})
    table = embedded_aws.function_env("AdminFunction")["SUBJECTS_TABLE"]
    dynamodb = boto3.resource("dynamodb", endpoint_url=embedded_aws.moto_url).Table(table)
    before = dynamodb.get_item(Key={"subject_id": subject_id})["Item"]
    assert key_version_of(before["name"]) == 1

    use_function("KeyRotationFunction")
    monkeypatch.setenv("KEY_ROTATION_STOP_MARGIN_MS", "1000")  # the test context says 10 s are left
    from habeas import clock

    # A hundred days on, the key is past its 90 days: the first run makes version 2. Fields move on
    # a later run, once no warm container can still hold version 1 as current (the cache age).
    started = clock.now()
    rotate = import_handler("key_rotation").handler
    monkeypatch.setattr(clock, "now", lambda: started + timedelta(days=100))
    first = rotate(load_event("key_rotation.json"), lambda_context)
    assert first["keys_created"] >= 1 and first["items_moved"] == 0, first
    monkeypatch.setattr(clock, "now", lambda: started + timedelta(days=100, hours=1))
    second = rotate(load_event("key_rotation.json"), lambda_context)
    assert second["items_moved"] >= 1 and second["versions_retired"] >= 1, second

    after = dynamodb.get_item(Key={"subject_id": subject_id})["Item"]
    assert key_version_of(after["name"]) == key_version_of(after["address"]) == 2
    assert after["name"] != before["name"]
    use_function("AdminFunction")
    assert profiles.get_profile(subject_id)["name"] == "Ada Lovelace"
