import base64
import json

import pytest

from habeas.http import guard

pytestmark = pytest.mark.unit


def _event(body, method="POST", content_type="application/json", b64=False):
    return {
        "requestContext": {"http": {"method": method}},
        "headers": {"content-type": content_type} if content_type else {},
        "body": body,
        "isBase64Encoded": b64,
    }


def _status(result):
    return None if result is None else (result["statusCode"], json.loads(result["body"])["status"])


def test_a_json_object_passes():
    assert guard(_event('{"a": 1}')) is None


@pytest.mark.parametrize("body", ["{not json", "[1, 2]", '"text"', "42", "null", "", None])
def test_anything_but_a_json_object_is_400(body):
    assert _status(guard(_event(body))) == (400, 400)


def test_body_over_256_kib_is_413_even_if_valid_json():
    body = json.dumps({"x": "a" * (256 * 1024)})
    result = guard(_event(body))
    assert _status(result) == (413, 413)
    assert result["headers"]["Content-Type"] == "application/problem+json"


def test_base64_bodies_are_decoded_before_the_checks():
    assert guard(_event(base64.b64encode(b'{"a": 1}').decode(), b64=True)) is None
    assert _status(guard(_event(base64.b64encode(b"[1]").decode(), b64=True))) == (400, 400)


def test_non_json_content_type_is_415():
    assert _status(guard(_event("a=b", content_type="application/x-www-form-urlencoded"))) == (415, 415)


def test_get_without_body_passes():
    assert guard(_event(None, method="GET")) is None
