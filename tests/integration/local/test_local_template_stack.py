"""The embedded AWS built from the real template.yaml: what it creates and how functions see it."""

import json
from pathlib import Path

import jwt
import pytest

from habeas_local.testing import embedded_aws_from_template

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def stack():
    # Its own stack name: moto's state is process-wide and tests/conftest.py's stack is "habeas".
    with embedded_aws_from_template(ROOT / "template.yaml", stack_name="habeas-stacktest") as aws_env:
        yield aws_env


def _template_resources(kind):
    from habeas_local.template import load_yaml

    return [k for k, r in load_yaml(ROOT / "template.yaml")["Resources"].items() if r["Type"] == kind]


def test_every_table_of_the_template_exists_with_its_time_to_live_applied(stack):
    dynamodb = stack.client("dynamodb")
    tables = _template_resources("AWS::DynamoDB::Table")
    assert tables
    for logical_id in tables:
        name = stack.ref(logical_id)
        assert dynamodb.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE"
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert ttl["TimeToLiveStatus"] == "ENABLED", logical_id
        assert ttl["AttributeName"] in ("expires_at", "expiration")


def test_buckets_get_the_versioning_their_template_asks_for(stack):
    from habeas_local.template import load_yaml

    resources = load_yaml(ROOT / "template.yaml")["Resources"]
    versioned = [
        logical_id
        for logical_id in _template_resources("AWS::S3::Bucket")
        if (resources[logical_id].get("Properties") or {}).get("VersioningConfiguration", {}).get("Status") == "Enabled"
    ]
    assert versioned, "the template versions at least the exports bucket"
    for logical_id in versioned:
        assert stack.client("s3").get_bucket_versioning(Bucket=stack.ref(logical_id)).get("Status") == "Enabled"


def test_the_data_key_exists_with_rotation_and_its_alias(stack):
    kms = stack.client("kms")
    key_id = stack.ref("DataKey")
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
    assert aliases["alias/habeas-stacktest-data"] == key_id


def test_secrets_exist_under_the_data_key_and_the_channel_secret_is_seeded(stack):
    secrets = stack.client("secretsmanager")
    for logical_id in _template_resources("AWS::SecretsManager::Secret"):
        described = secrets.describe_secret(SecretId=stack.ref(logical_id))
        assert described["KmsKeyId"] == stack.ref("DataKey"), logical_id
    signing = secrets.get_secret_value(SecretId=stack.ref("TokenSigningSecret"))["SecretString"]
    assert len(signing) == 64 and signing.isalnum()
    channel = json.loads(secrets.get_secret_value(SecretId=stack.ref("ChannelSecret"))["SecretString"])
    assert channel["verify_token"] == "local-verify-token"
    assert channel["app_secret"] == "local-app-secret"
    assert "whatsapp_phone_number_id" in channel  # the rest of SecretStringTemplate is kept


def test_the_staff_user_pool_has_its_client_and_groups(stack):
    cognito = stack.client("cognito-idp")
    pool_id = stack.ref("StaffUserPool")
    assert cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]["Name"] == "habeas-stacktest-staff"
    client = cognito.describe_user_pool_client(UserPoolId=pool_id, ClientId=stack.ref("StaffUserPoolClient"))
    assert client["UserPoolClient"]["ClientName"] == "habeas-console"
    groups = {g["GroupName"] for g in cognito.list_groups(UserPoolId=pool_id)["Groups"]}
    assert groups == {"agent", "supervisor", "dpo"}


def test_the_inbound_queue_redrives_to_its_dead_letter_queue(stack):
    sqs = stack.client("sqs")
    url = sqs.get_queue_url(QueueName=stack.get_att("InboundMessagesQueue", "QueueName"))["QueueUrl"]
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]["RedrivePolicy"])
    assert policy["deadLetterTargetArn"] == stack.get_att("InboundMessagesDLQ", "Arn")


def test_function_environments_resolve_to_the_created_resources(stack):
    for logical_id in stack.template.functions:
        env = stack.function_env(logical_id)
        assert all(isinstance(v, str) and "${" not in v for v in env.values()), env
    api = stack.function_env("ApiFunction")
    assert api["SUBJECTS_TABLE"] == stack.ref("SubjectsTable")
    assert api["CHANNEL_SECRET_ARN"].startswith("arn:aws:secretsmanager:")
    assert api["HABEAS_DEPLOYMENT"] == "habeas-stacktest"
    assert api["POWERTOOLS_SERVICE_NAME"] == "habeas"  # from Globals
    admin = stack.function_env("AdminFunction")
    assert admin["STAFF_TOKEN_ISSUER"] == f"https://cognito-idp.us-east-1.amazonaws.com/{stack.ref('StaffUserPool')}"
    assert admin["STAFF_TOKEN_AUDIENCE"] == stack.ref("StaffUserPoolClient")


def test_the_sender_address_is_verified_for_ses(stack):
    ses = stack.client("ses")
    sender = stack.function_env("ApiFunction")["SENDER_EMAIL"]
    ses.send_email(
        Source=sender,
        Destination={"ToAddresses": ["someone@example.org"]},
        Message={"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}},
    )


def test_a_staff_token_verifies_against_the_pool_jwks_that_functions_fetch(stack, monkeypatch):
    from habeas.tokens import staff_jwks_url

    admin = stack.function_env("AdminFunction")
    monkeypatch.setenv("AWS_ENDPOINT_URL", stack.moto_url)
    url = staff_jwks_url(admin["STAFF_TOKEN_ISSUER"])
    assert (
        url
        == f"{stack.moto_url}/{stack.ref('StaffUserPool')}/.well-known/jwks.json"
        == stack.jwks_url(admin["STAFF_TOKEN_ISSUER"])
    )
    token = stack.staff_token("agent-7", ["agent"])
    key = jwt.PyJWKClient(url).get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token, key.key, algorithms=["RS256"], audience=admin["STAFF_TOKEN_AUDIENCE"], issuer=admin["STAFF_TOKEN_ISSUER"]
    )
    assert claims["cognito:groups"] == ["agent"] and claims["token_use"] == "id"
    assert jwt.get_unverified_header(token)["kid"]
    with pytest.raises(jwt.ExpiredSignatureError):
        expired = stack.staff_token("agent-7", ["agent"], expired=True)
        jwt.decode(expired, key.key, algorithms=["RS256"], audience=admin["STAFF_TOKEN_AUDIENCE"])


def test_parameters_are_overridable_and_conditions_follow_them():
    with embedded_aws_from_template(
        ROOT / "template.yaml",
        stack_name="habeas-byok",
        params={"KmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/byok", "DefaultRegulation": "lgpd"},
    ) as byok:
        assert "DataKey" not in byok.physical_ids
        assert byok.function_env("ApiFunction")["DEFAULT_REGULATION"] == "lgpd"
        described = byok.client("secretsmanager").describe_secret(SecretId=byok.ref("ChannelSecret"))
        assert described["KmsKeyId"] == "arn:aws:kms:us-east-1:123456789012:key/byok"
