"""Every function answers its sample events from events/ (without a valid token where one is needed)."""

import json

import pytest

from tests.conftest import EVENTS, import_handler, load_event

pytestmark = pytest.mark.integration

FUNCTIONS = {"api": ("ApiFunction", "api"), "admin": ("AdminFunction", "admin")}
EXPECTED = {
    "api_health.json": 200,
    "api_purposes.json": 200,
    "api_start_verification.json": 202,
    "api_confirm_verification.json": 404,  # a sample id that does not exist
    "api_put_consent.json": 401,  # the sample's token is a placeholder
    "admin_find_subject.json": 401,
    "admin_read_audit.json": 401,
}


def test_every_sample_event_is_covered():
    names = {p.name for p in EVENTS.glob("*.json") if p.name.split("_")[0] in FUNCTIONS}
    assert names == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_event_gets_the_expected_answer(name, use_function, lambda_context):
    logical_id, folder = FUNCTIONS[name.split("_")[0]]
    use_function(logical_id)
    result = import_handler(folder).handler(load_event(name), lambda_context)
    assert result["statusCode"] == EXPECTED[name], result.get("body")
    json.loads(result["body"])
