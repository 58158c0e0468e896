"""Asymmetric KMS keys of the template (moto's CloudFormation would make them symmetric) are created
through the KMS API with the template's KeySpec, KeyUsage and Description, and Ref/GetAtt resolve to them."""

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from habeas_local.template import load_yaml

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def test_the_certificate_key_is_an_ecc_signing_key_as_the_template_declares(embedded_aws):
    declared = load_yaml(ROOT / "template.yaml")["Resources"]["CertificateSigningKey"]["Properties"]
    kms = embedded_aws.client("kms")
    key_id = embedded_aws.ref("CertificateSigningKey")
    metadata = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert metadata["KeySpec"] == declared["KeySpec"] == "ECC_NIST_P256"
    assert metadata["KeyUsage"] == declared["KeyUsage"] == "SIGN_VERIFY"
    assert metadata["Description"] == declared["Description"]
    # !GetAtt CertificateSigningKey.Arn in a function's environment names that same key.
    assert embedded_aws.function_env("RequestsWorkerFunction")["CERTIFICATE_KEY_ARN"] == metadata["Arn"]
    assert embedded_aws.get_att("CertificateSigningKey", "Arn") == metadata["Arn"]


def test_a_signature_from_the_certificate_key_verifies_offline_with_its_public_key(embedded_aws):
    kms = embedded_aws.client("kms")
    key_id = embedded_aws.ref("CertificateSigningKey")
    signature = kms.sign(KeyId=key_id, Message=b"erased", MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256")
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])
    public.verify(signature["Signature"], b"erased", ec.ECDSA(hashes.SHA256()))  # raises if it does not verify


def test_symmetric_keys_still_come_from_the_stack(embedded_aws):
    kms = embedded_aws.client("kms")
    metadata = kms.describe_key(KeyId=embedded_aws.ref("DataKey"))["KeyMetadata"]
    assert metadata["KeySpec"] == "SYMMETRIC_DEFAULT" and metadata["KeyUsage"] == "ENCRYPT_DECRYPT"
    stack = embedded_aws.client("cloudformation").list_stack_resources(StackName=embedded_aws.stack_name)
    in_stack = {r["LogicalResourceId"] for r in stack["StackResourceSummaries"]}
    assert "DataKey" in in_stack and "CertificateSigningKey" not in in_stack
