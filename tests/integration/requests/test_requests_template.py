"""The template's promises for requests: private, encrypted, short-lived exports; a signing key; a DLQ;
partial batch failures; no scans and no wildcard data actions for the functions that touch requests."""

from pathlib import Path

import pytest
from cfnlint.decode import decode_str

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def resources():
    template, errors = decode_str((ROOT / "template.yaml").read_text())
    assert not errors
    return template["Resources"]


def test_exports_are_kms_encrypted_versioned_private_tls_only_and_deleted_after_seven_days(resources):
    bucket = resources["ExportsBucket"]["Properties"]
    [encryption] = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(bucket["PublicAccessBlockConfiguration"].values()) and len(bucket["PublicAccessBlockConfiguration"]) == 4
    [rule] = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled" and rule["Prefix"] == "exports/" and rule["ExpirationInDays"] == 7
    [statement] = resources["ExportsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_the_exports_lifecycle_is_the_data_map_export_policy(resources):
    from habeas.datamap import data_map

    policy = data_map().category("export").retention
    assert policy is not None and policy.anchor == "created"
    [rule] = resources["ExportsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == policy.days  # change one, change the other


def test_certificates_are_signed_by_an_asymmetric_p256_key(resources):
    key = resources["CertificateSigningKey"]["Properties"]
    assert (key["KeySpec"], key["KeyUsage"]) == ("ECC_NIST_P256", "SIGN_VERIFY")


def test_the_worker_reports_partial_failures_and_its_queue_parks_poison_messages_encrypted(resources):
    queue = resources["RequestsQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["RequestsDLQ", "Arn"]}
    assert "KmsMasterKeyId" in queue and "KmsMasterKeyId" in resources["RequestsDLQ"]["Properties"]
    worker = resources["RequestsWorkerFunction"]["Properties"]
    [event] = worker["Events"].values()
    assert event["Type"] == "SQS" and event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert queue["VisibilityTimeout"] >= worker["Timeout"]


@pytest.mark.parametrize("function", ["RequestsWorkerFunction", "ApiFunction", "AdminFunction"])
def test_request_functions_never_scan(resources, function):
    for policy in resources[function]["Properties"]["Policies"]:
        for statement in policy["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert "dynamodb:Scan" not in actions, statement.get("Sid")
