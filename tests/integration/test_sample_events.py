"""Every function answers its sample events from events/ (without a valid token where one is needed)."""

import json
import time
import uuid

import pytest

from tests.conftest import EVENTS, import_handler, load_event
from tests.integration.channels.conftest import graph  # noqa: F401 - fixture

pytestmark = pytest.mark.integration

# Each sample event, the function (logical id, folder) that receives it, and the answer it gets.
HTTP_SAMPLES = {
    "api_health.json": ("ApiFunction", "api", 200),
    "api_purposes.json": ("ApiFunction", "api", 200),
    "api_start_verification.json": ("ApiFunction", "api", 202),
    "api_confirm_verification.json": ("ApiFunction", "api", 404),  # a sample id that does not exist
    "api_put_consent.json": ("ApiFunction", "api", 401),  # the sample's token is a placeholder
    "admin_find_subject.json": ("AdminFunction", "admin", 401),
    "admin_read_audit.json": ("AdminFunction", "admin", 401),
    "admin_view_subject.json": ("AdminFunction", "admin", 401),
    "admin_put_profile.json": ("AdminFunction", "admin", 401),
    "admin_reveal.json": ("AdminFunction", "admin", 401),
    "admin_list_alerts.json": ("AdminFunction", "admin", 401),
    "admin_clear_alert.json": ("AdminFunction", "admin", 401),
    "admin_list_reveals.json": ("AdminFunction", "admin", 401),
    "admin_record_incident.json": ("AdminFunction", "admin", 401),
    "admin_read_incident.json": ("AdminFunction", "admin", 401),
    "admin_approve_incident.json": ("AdminFunction", "admin", 401),
    "requests_create.json": ("ApiFunction", "api", 401),
    "requests_list.json": ("ApiFunction", "api", 401),
    "requests_get.json": ("ApiFunction", "api", 401),
    "requests_admin_list.json": ("AdminFunction", "admin", 401),
    # Signed with the local app secret the embedded AWS seeds into ChannelSecret.
    "channels_whatsapp_handshake.json": ("ChannelsFunction", "channels", 200),
    "channels_whatsapp_text.json": ("ChannelsFunction", "channels", 200),
    "channels_whatsapp_media.json": ("ChannelsFunction", "channels", 200),
    "channels_whatsapp_interactive.json": ("ChannelsFunction", "channels", 200),
    "channels_whatsapp_statuses.json": ("ChannelsFunction", "channels", 200),
    "channels_whatsapp_multi_entry.json": ("ChannelsFunction", "channels", 200),
    "channels_instagram_messages.json": ("ChannelsFunction", "channels", 200),
}
OTHER_SAMPLES = {
    "channels_worker_sqs.json": ("ChannelWorkerFunction", "channel_worker"),
    "key_rotation.json": ("KeyRotationFunction", "key_rotation"),
    "requests_worker_sqs.json": ("RequestsWorkerFunction", "requests_worker"),
    "retention_cascade_ttl.json": ("RetentionCascadeFunction", "retention_cascade"),
    "retention_cascade_profile.json": ("RetentionCascadeFunction", "retention_cascade"),
    "retention_sweep.json": ("RetentionSweepFunction", "retention_sweep"),
    "audit_verify.json": ("AuditVerifyFunction", "audit_verify"),
    "incident_worker_sqs.json": ("IncidentWorkerFunction", "incident_worker"),
}


def test_every_sample_event_is_covered():
    assert {p.name for p in EVENTS.glob("*.json")} == set(HTTP_SAMPLES) | set(OTHER_SAMPLES)


@pytest.mark.parametrize("name", sorted(HTTP_SAMPLES))
def test_http_sample_event_gets_the_expected_answer(name, use_function, lambda_context):
    logical_id, folder, status = HTTP_SAMPLES[name]
    use_function(logical_id)
    result = import_handler(folder).handler(load_event(name), lambda_context)
    assert result["statusCode"] == status, result.get("body")
    if result["headers"].get("Content-Type", "").endswith("json"):
        json.loads(result["body"])


def test_channel_worker_sample_batch_fails_only_its_poison_record(use_function, lambda_context, graph, monkeypatch):  # noqa: F811
    use_function("ChannelWorkerFunction")
    monkeypatch.setenv("GRAPH_API_BASE_URL", graph.url)
    event = load_event("channels_worker_sqs.json")
    poison = [r["messageId"] for r in event["Records"] if not r["body"].rstrip().endswith("}")]
    assert len(poison) == 1
    result = import_handler("channel_worker").handler(event, lambda_context)
    assert result == {"batchItemFailures": [{"itemIdentifier": poison[0]}]}
    assert graph.calls, "the 'delete my data' message is answered in the chat"


def test_key_rotation_sample_event_rotates_an_old_key(use_function, lambda_context, monkeypatch):
    use_function("KeyRotationFunction")
    monkeypatch.setenv("KEY_MAX_AGE_DAYS", "0.00001")  # about a second: every key is old
    monkeypatch.setenv("KEY_ROTATION_STOP_MARGIN_MS", "1000")  # the test context has 10 s left
    from habeas.keys import default_keyring, reset

    reset()
    subject_id = f"sub_rotation{uuid.uuid4().hex[:8]}"
    first = default_keyring().current_key(subject_id)
    time.sleep(1.2)
    result = import_handler("key_rotation").handler(load_event("key_rotation.json"), lambda_context)
    assert result["keys_created"] >= 1 and not result["stopped_early"], result
    reset()
    assert default_keyring().current_key(subject_id).version == first.version + 1


def test_retention_cascade_sample_batch_is_handled_record_by_record(use_function, lambda_context, embedded_aws):
    use_function("RetentionCascadeFunction")
    event = load_event("retention_cascade_ttl.json")
    table = embedded_aws.function_env("RetentionCascadeFunction")["CONVERSATIONS_TABLE"]
    for record in event["Records"]:  # the sample names the table as deployed; point it at this stack's
        record["eventSourceARN"] = f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}/stream/sample"
    result = import_handler("retention_cascade").handler(event, lambda_context)
    assert result == {"batchItemFailures": []}
    from habeas import audit

    assert any(e["action"] == "retention.expired" for e in audit.entries("sub_sample0001"))


def test_retention_cascade_profile_sample_reanchors_and_retires(use_function, lambda_context, embedded_aws):
    use_function("RetentionCascadeFunction")
    event = load_event("retention_cascade_profile.json")
    table = embedded_aws.function_env("RetentionCascadeFunction")["SUBJECTS_TABLE"]
    for record in event["Records"]:
        record["eventSourceARN"] = f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}/stream/sample"
    result = import_handler("retention_cascade").handler(event, lambda_context)
    assert result == {"batchItemFailures": []}
    from habeas import audit

    [expired] = [e for e in audit.entries("sub_sample0003") if e["action"] == "retention.expired"]
    assert expired["detail"]["store"] == "profiles" and expired["detail"]["category"] == "profile"
    assert "ciphertext" not in str(expired)


def test_retention_sweep_sample_event_runs_a_sweep(use_function, lambda_context, monkeypatch):
    use_function("RetentionSweepFunction")
    monkeypatch.setenv("RETENTION_SWEEP_STOP_MARGIN_MS", "1000")  # the test context has 10 s left
    result = import_handler("retention_sweep").handler(load_event("retention_sweep.json"), lambda_context)
    assert result["status"] in ("completed", "busy"), result


def test_incident_worker_sample_drops_an_unknown_incident_and_fails_only_the_poison_record(
    use_function, lambda_context
):
    use_function("IncidentWorkerFunction")
    event = load_event("incident_worker_sqs.json")
    result = import_handler("incident_worker").handler(event, lambda_context)
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}


def test_audit_verify_sample_event_checks_the_audit_chains(use_function, lambda_context):
    use_function("AuditVerifyFunction")
    result = import_handler("audit_verify").handler(load_event("audit_verify.json"), lambda_context)
    assert result["chains"] >= result["verified"] >= 0 and not result["stopped_early"], result


def test_requests_worker_sample_batch_fails_only_its_poison_record(use_function, lambda_context):
    use_function("RequestsWorkerFunction")
    event = load_event("requests_worker_sqs.json")
    poison = [r["messageId"] for r in event["Records"] if not r["body"].rstrip().endswith("}")]
    assert len(poison) == 1
    # The well-formed record names a request that does not exist: dropped, not retried.
    result = import_handler("requests_worker").handler(event, lambda_context)
    assert result == {"batchItemFailures": [{"itemIdentifier": poison[0]}]}
