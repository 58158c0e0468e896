"""The intrinsic-function resolver of the local runtime (no AWS: resources come from callbacks)."""

import pytest

from habeas_local.intrinsics import IntrinsicError, Resolver

pytestmark = pytest.mark.unit

RESOURCES = {"Table": "stack-Table-ABC", "Queue": "https://sqs.us-east-1.amazonaws.com/123456789012/q"}
ATTRIBUTES = {("Table", "Arn"): "arn:aws:dynamodb:us-east-1:123456789012:table/stack-Table-ABC"}


def _ref(logical_id):
    if logical_id not in RESOURCES:
        raise IntrinsicError(f"no {logical_id}")
    return RESOURCES[logical_id]


def _get_att(logical_id, attribute):
    return ATTRIBUTES[(logical_id, attribute)]


@pytest.fixture
def resolver():
    return Resolver(
        parameters={"Env": "prod", "Key": "", "List": "a,b,c"},
        pseudo={
            "AWS::Region": "eu-west-1",
            "AWS::AccountId": "123456789012",
            "AWS::StackName": "stack",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        },
        conditions={
            "IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]},
            "NoKey": {"Fn::Equals": [{"Ref": "Key"}, ""]},
            "ProdWithoutKey": {"Fn::And": [{"Condition": "IsProd"}, {"Condition": "NoKey"}]},
            "NotProd": {"Fn::Not": [{"Condition": "IsProd"}]},
            "EitherWay": {"Fn::Or": [{"Condition": "NotProd"}, {"Condition": "NoKey"}]},
        },
        mappings={"Sizes": {"prod": {"Memory": "1024"}}},
        ref=_ref,
        get_att=_get_att,
    )


def test_ref_resolves_parameters_pseudo_parameters_and_resources(resolver):
    assert resolver.resolve({"Ref": "Env"}) == "prod"
    assert resolver.resolve({"Ref": "AWS::Region"}) == "eu-west-1"
    assert resolver.resolve({"Ref": "Table"}) == "stack-Table-ABC"


def test_no_value_drops_the_key_and_the_list_item(resolver):
    value = {"A": {"Fn::If": ["NotProd", "x", {"Ref": "AWS::NoValue"}]}, "B": ["1", {"Ref": "AWS::NoValue"}]}
    assert resolver.resolve(value) == {"B": ["1"]}


def test_get_att_in_both_notations(resolver):
    assert resolver.resolve({"Fn::GetAtt": ["Table", "Arn"]}).endswith("table/stack-Table-ABC")
    assert resolver.resolve({"Fn::GetAtt": "Table.Arn"}).endswith("table/stack-Table-ABC")


def test_sub_string_form_with_pseudo_parameters_attributes_and_literals(resolver):
    text = "arn:${AWS::Partition}:x:${AWS::Region}:${AWS::AccountId}:${Table}/${Table.Arn}/${!Literal}"
    assert resolver.resolve({"Fn::Sub": text}) == (
        "arn:aws:x:eu-west-1:123456789012:stack-Table-ABC/"
        "arn:aws:dynamodb:us-east-1:123456789012:table/stack-Table-ABC/${Literal}"
    )


def test_sub_list_form_uses_its_own_variables_first(resolver):
    assert resolver.resolve({"Fn::Sub": ["${Env}-${Name}", {"Name": {"Ref": "Table"}, "Env": "dev"}]}) == (
        "dev-stack-Table-ABC"
    )


def test_if_follows_the_conditions_section(resolver):
    assert resolver.resolve({"Fn::If": ["IsProd", "p", "d"]}) == "p"
    assert resolver.resolve({"Fn::If": ["ProdWithoutKey", "yes", "no"]}) == "yes"
    assert resolver.resolve({"Fn::If": ["NotProd", "yes", "no"]}) == "no"
    assert resolver.resolve({"Fn::If": ["EitherWay", "yes", "no"]}) == "yes"


def test_join_select_split_and_find_in_map(resolver):
    assert resolver.resolve({"Fn::Join": ["-", ["a", {"Ref": "Env"}]]}) == "a-prod"
    assert resolver.resolve({"Fn::Select": [2, {"Fn::Split": [",", {"Ref": "List"}]}]}) == "c"
    assert resolver.resolve({"Fn::FindInMap": ["Sizes", {"Ref": "Env"}, "Memory"]}) == "1024"


def test_an_unsupported_function_names_where_it_was_found(resolver):
    with pytest.raises(IntrinsicError, match=r"function F, variable V: Fn::ImportValue is not supported"):
        resolver.resolve({"Fn::ImportValue": "shared"}, "function F, variable V")


def test_unknown_condition_and_unknown_resource_are_errors(resolver):
    with pytest.raises(IntrinsicError, match="unknown condition"):
        resolver.resolve({"Fn::If": ["Nope", "a", "b"]})
    with pytest.raises(IntrinsicError, match="no Missing"):
        resolver.resolve({"Ref": "Missing"})
