import json
import re
from pathlib import Path

import pytest
from cfnlint.decode import decode_str

from habeas.apps import ADMIN_ROUTERS, API_ROUTERS, build
from habeas.openapi import document
from habeas.routes.channels import CHANNEL_ROUTERS

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def _template():
    template, errors = decode_str((ROOT / "template.yaml").read_text())
    assert not errors
    return template


def _template_routes(function_id):
    events = _template()["Resources"][function_id]["Properties"]["Events"]
    return {
        (e["Properties"]["Method"].upper(), e["Properties"]["Path"]) for e in events.values() if e["Type"] == "HttpApi"
    }


def _code_routes(*mounts):
    paths = build(*mounts).get_openapi_schema().paths
    return {
        (method.upper(), path)
        for path, item in paths.items()
        for method in ("get", "put", "post", "delete")
        if getattr(item, method) is not None
    }


def test_committed_openapi_document_matches_the_code():
    committed = json.loads((ROOT / "openapi.json").read_text())
    assert committed == document(), "run `make openapi` and commit openapi.json"


@pytest.mark.parametrize(
    ("function_id", "mounts"),
    [("ApiFunction", API_ROUTERS), ("AdminFunction", ADMIN_ROUTERS), ("ChannelsFunction", CHANNEL_ROUTERS)],
)
def test_every_template_route_is_served_by_its_function_and_nothing_else(function_id, mounts):
    assert _template_routes(function_id) == _code_routes(mounts)


def test_staff_routes_sit_behind_the_jwt_authorizer():
    events = _template()["Resources"]["AdminFunction"]["Properties"]["Events"]
    assert all(e["Properties"].get("Auth", {}).get("Authorizer") == "StaffJwt" for e in events.values())


def test_tables_have_pitr_kms_encryption_and_ttl():
    resources = _template()["Resources"]
    tables = {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::DynamoDB::Table"}
    assert len(tables) >= 7
    for name, props in tables.items():
        assert props["BillingMode"] == "PAY_PER_REQUEST", name
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, name
        assert props["SSESpecification"]["SSEType"] == "KMS", name
        assert props["TimeToLiveSpecification"]["Enabled"] is True, name


def test_kms_key_rotates_and_byok_replaces_it():
    template = _template()
    key = template["Resources"]["DataKey"]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["Condition"] == "CreateDataKey"
    assert template["Conditions"]["CreateDataKey"] == {"Fn::Equals": [{"Ref": "KmsKeyArn"}, ""]}


def test_no_function_policy_allows_every_action_on_data():
    for name, resource in _template()["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy.get("Statement", []):
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert not any(a == "*" or re.fullmatch(r"[a-z0-9-]+:\*", a) for a in actions), (name, actions)


def test_powertools_settings_are_globals():
    variables = _template()["Globals"]["Function"]["Environment"]["Variables"]
    assert {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"} <= set(variables)
