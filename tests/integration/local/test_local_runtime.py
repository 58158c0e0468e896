"""The local runtime on the fixture template: HTTP API emulation, workers, event sources, /local/ routes."""

import base64
import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

import jwt
import pytest

from habeas_local.functions import FunctionError
from habeas_local.testing import runtime_from_template

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "runtime" / "template.yaml"


@pytest.fixture(scope="module")
def runtime():
    # A canary in the runtime's own environment: no function may see it.
    os.environ["HABEAS_LEAK_CANARY"] = "leaked"
    try:
        with runtime_from_template(FIXTURE, ttl_reap_seconds=0.5) as local:
            yield local
    finally:
        os.environ.pop("HABEAS_LEAK_CANARY", None)


def request(runtime, method, path, body=None, headers=None):
    data = body if isinstance(body, bytes | None) else json.dumps(body).encode()
    req = urllib.request.Request(runtime.url + path, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def echo(runtime, path, **kwargs):
    status, headers, body = request(runtime, kwargs.pop("method", "GET"), path, **kwargs)
    assert status == 201, body
    return json.loads(body)


def records(runtime, prefix):
    dynamodb = runtime.aws.client("dynamodb")
    table = runtime.function_env("EchoFunction")["RECORDS_TABLE"]
    items = dynamodb.scan(TableName=table)["Items"]
    return [json.loads(i["record"]["S"]) for i in items if i["pk"]["S"].startswith(prefix)]


def eventually(probe, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


# ---------------------------------------------------------------------------- HTTP API
def test_a_route_gets_a_payload_v2_event(runtime):
    body = echo(
        runtime,
        "/echo/ana?x=1&x=2&y=",
        method="POST",
        body={"hello": "world"},
        headers={
            "Content-Type": "application/json",
            "Cookie": "c=1; d=2",
            "X-Forwarded-For": "203.0.113.9",
            "X-Multi": "a",
        },
    )
    event = body["event"]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "ANY /echo/{name}" == event["requestContext"]["routeKey"]
    assert event["rawPath"] == "/echo/ana" and event["rawQueryString"] == "x=1&x=2&y="
    assert event["queryStringParameters"] == {"x": "1,2", "y": ""}
    assert event["pathParameters"] == {"name": "ana"}
    assert event["cookies"] == ["c=1", "d=2"] and "cookie" not in event["headers"]
    assert event["headers"]["x-multi"] == "a" and event["headers"]["content-type"] == "application/json"
    assert json.loads(event["body"]) == {"hello": "world"} and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["http"]["method"] == "POST" and context["http"]["path"] == "/echo/ana"
    assert context["http"]["sourceIp"] == "127.0.0.1"  # the TCP peer, never X-Forwarded-For
    assert context["stage"] == "$default" and context["accountId"] == "123456789012"
    assert isinstance(context["timeEpoch"], int) and context["requestId"]


def test_binary_bodies_arrive_base64_encoded(runtime):
    payload = bytes(range(256))
    event = echo(
        runtime, "/echo/bin", method="POST", body=payload, headers={"Content-Type": "application/octet-stream"}
    )["event"]
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == payload


def test_exact_routes_win_over_parameters_and_greedy_paths_match_deep(runtime):
    assert echo(runtime, "/echo/special")["event"]["routeKey"] == "GET /echo/special"
    deep = echo(runtime, "/files/a/b/c.txt")["event"]
    assert deep["routeKey"] == "GET /files/{proxy+}" and deep["pathParameters"] == {"proxy": "a/b/c.txt"}


def test_the_response_keeps_status_headers_and_cookies(runtime):
    status, headers, _ = request(runtime, "GET", "/echo/x")
    assert status == 201 and headers["x-echo"] == "yes"
    assert headers.get_all("set-cookie") == ["a=1; Path=/", "b=2"]
    assert headers["apigw-requestid"]


def test_a_result_without_status_code_is_a_200_json_body(runtime):
    status, headers, body = request(runtime, "GET", "/echo/raw")
    assert status == 200 and json.loads(body) == {"just": "a dict"} and "json" in headers["content-type"]


def test_unknown_routes_and_methods_are_404_as_api_gateway_answers(runtime):
    assert request(runtime, "GET", "/nowhere")[::2] == (404, b'{"message": "Not Found"}')
    assert request(runtime, "DELETE", "/echo/special")[0] == 201  # ANY /echo/{name} catches it
    assert request(runtime, "POST", "/files/a")[0] == 404  # GET only


def test_a_handler_exception_is_a_502_and_the_worker_survives(runtime):
    first = echo(runtime, "/echo/a")["pid"]
    status, _, body = request(runtime, "GET", "/echo/boom")
    assert (status, json.loads(body)) == (502, {"message": "Internal Server Error"})
    assert echo(runtime, "/echo/a")["pid"] == first


def test_a_function_sees_only_its_template_environment(runtime):
    env = echo(runtime, "/echo/env")["env"]
    assert "HABEAS_LEAK_CANARY" not in env
    assert env["GREETING"] == "hello" and env["MODE"] == "plain-mode" and "OPTIONAL" not in env
    assert env["JOINED"] == "hello/b" and env["SUBBED"] == "hello:us-east-1:${Literal}"
    assert env["AWS_ENDPOINT_URL"] == runtime.moto_url and env["AWS_REGION"] == "us-east-1"
    assert env["PYTHONPATH"].endswith("functions/echo")
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_ACCESS_KEY_ID"] == "habeas-local"  # dummy credentials, never the shell's


def test_the_context_is_lambda_shaped_and_honours_the_timeout(runtime):
    context = echo(runtime, "/echo/ctx")["context"]
    assert context["function_name"] == runtime.aws.function_name("EchoFunction")
    assert context["invoked_function_arn"].endswith(":function:" + context["function_name"])
    assert context["memory_limit_in_mb"] == 256 and context["function_version"] == "$LATEST"
    assert context["log_group_name"] == "/aws/lambda/" + context["function_name"]
    assert 4000 < context["remaining_ms"] <= 5000  # Timeout: 5 in Globals


def test_an_invocation_past_the_timeout_fails_and_the_container_is_replaced(runtime):
    before = echo(runtime, "/echo/a")["pid"]
    started = time.monotonic()
    assert request(runtime, "GET", "/echo/sleep?seconds=30")[0] == 502
    assert time.monotonic() - started < 10
    assert echo(runtime, "/echo/a")["pid"] != before


def test_python_api_invoke_returns_results_and_raises_function_errors(runtime):
    result = runtime.invoke("TickerFunction", {"direct": True})
    assert result == {"received": {"direct": True}}
    with pytest.raises(FunctionError) as error:
        runtime.invoke("EchoFunction", {"rawPath": "/boom"})
    assert error.value.error_type == "RuntimeError"


# ---------------------------------------------------------------------------- JWT authorizer and CORS
def test_the_jwt_authorizer_rejects_missing_expired_forged_and_wrong_audience_tokens(runtime):
    unauthorized = (401, b'{"message": "Unauthorized"}')
    assert request(runtime, "GET", "/private/whoami")[::2] == unauthorized
    now = int(time.time())
    forged = jwt.encode(
        {"sub": "x", "iat": now, "exp": now + 60}, "a-guessed-shared-secret-of-32-bytes", algorithm="HS256"
    )
    for token in (
        runtime.aws.staff_token("agent-7", ["agent"], expired=True),
        runtime.aws.staff_token("agent-7", ["agent"], audience="another-client"),
        runtime.aws.staff_token("agent-7", ["agent"], issuer="https://cognito-idp.us-east-1.amazonaws.com/forged"),
        forged,
        "garbage",
    ):
        assert request(runtime, "GET", "/private/whoami", headers={"Authorization": f"Bearer {token}"})[::2] == (
            unauthorized
        )


def test_a_valid_token_reaches_the_function_with_claims_as_api_gateway_passes_them(runtime):
    status, _, body = request(runtime, "POST", "/local/staff-tokens", {"sub": "agent-7", "groups": ["agent", "dpo"]})
    assert status == 200
    token = json.loads(body)["access_token"]
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    pool, client = runtime.aws.ref("FixturePool"), runtime.aws.ref("FixturePoolClient")
    assert header["alg"] == "RS256" and header["kid"]
    assert claims["iss"] == f"https://cognito-idp.us-east-1.amazonaws.com/{pool}" and claims["aud"] == client
    assert claims["token_use"] == "id" and claims["cognito:username"] == "agent-7"
    assert claims["exp"] - claims["iat"] == 3600
    event = echo(runtime, "/private/whoami", headers={"Authorization": f"Bearer {token}"})["event"]
    jwt_context = event["requestContext"]["authorizer"]["jwt"]
    assert jwt_context["claims"]["sub"] == "agent-7"
    assert jwt_context["claims"]["cognito:groups"] == "[agent dpo]"
    assert jwt_context["claims"]["exp"] == str(claims["exp"])
    assert jwt_context["scopes"] is None


def test_routes_without_an_authorizer_have_no_authorizer_context(runtime):
    assert "authorizer" not in echo(runtime, "/public/hello")["event"]["requestContext"]


def test_cors_preflight_and_response_headers_follow_the_cors_configuration(runtime):
    origin = "https://portal.fixture.example"
    status, headers, _ = request(
        runtime, "OPTIONS", "/public/hello", headers={"Origin": origin, "Access-Control-Request-Method": "GET"}
    )
    assert status == 204 and headers["access-control-allow-origin"] == origin
    assert "authorization" in headers["access-control-allow-headers"]
    _, headers, _ = request(runtime, "GET", "/public/hello", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in headers


# ---------------------------------------------------------------------------- /local/ routes
@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{nope", 400),
        (b"[]", 400),
        ({"groups": ["agent"]}, 422),
        ({"sub": "a", "groups": "agent"}, 422),
        ({"sub": "a", "admin": True}, 422),
    ],
)
def test_bad_staff_token_requests_are_problems(runtime, body, status):
    answer_status, headers, answer = request(runtime, "POST", "/local/staff-tokens", body)
    assert answer_status == status and headers["content-type"] == "application/problem+json"
    assert json.loads(answer)["status"] == status


def test_the_outbox_holds_ses_sns_sms_and_captured_graph_sends(runtime):
    sender = "sender@fixture.example"
    runtime.aws.client("ses").send_email(
        Source=sender,
        Destination={"ToAddresses": ["outbox.mail@example.org"]},
        Message={"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "mail body 123456"}}},
    )
    runtime.aws.client("sns").publish(PhoneNumber="+34600111222", Message="sms body 654321")
    whatsapp = {"messaging_product": "whatsapp", "to": "34600111333", "type": "text", "text": {"body": "wa body"}}
    status, _, answer = request(runtime, "POST", "/local/graph/v21.0/12345/messages", whatsapp)
    assert status == 200 and json.loads(answer)["messages"][0]["id"].startswith("wamid.")
    instagram = {"recipient": {"id": "ig-user-1"}, "message": {"text": "ig body"}}
    assert request(runtime, "POST", "/local/graph/me/messages", instagram)[0] == 200
    assert request(runtime, "POST", "/local/graph/me/messages", {"recipient": {}})[0] == 422

    status, _, answer = request(runtime, "GET", "/local/outbox")
    messages = {m["to"]: m for m in json.loads(answer)["messages"]}
    assert messages["outbox.mail@example.org"]["channel"] == "email"
    assert messages["outbox.mail@example.org"]["body"] == "mail body 123456"
    assert messages["+34600111222"] == {**messages["+34600111222"], "channel": "sms", "body": "sms body 654321"}
    assert messages["34600111333"]["channel"] == "whatsapp" and messages["34600111333"]["body"] == "wa body"
    assert messages["ig-user-1"]["channel"] == "instagram"
    assert all(m["sent_at"].endswith("Z") for m in messages.values())


# ---------------------------------------------------------------------------- event sources
def test_an_sqs_message_reaches_the_handler_and_a_failing_one_lands_in_the_dlq(runtime):
    sqs = runtime.aws.client("sqs")
    queue = runtime.function_env("EchoFunction")["QUEUE_URL"]
    sqs.send_message(
        QueueUrl=queue, MessageBody="ok", MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}}
    )
    sqs.send_message(QueueUrl=queue, MessageBody="fail")
    delivered = eventually(lambda: [r for r in records(runtime, "sqs#") if r["body"] == "ok"])
    assert delivered and delivered[0]["eventSource"] == "aws:sqs"
    assert delivered[0]["eventSourceARN"] == runtime.aws.get_att("WorkQueue", "Arn")
    assert delivered[0]["messageAttributes"]["k"]["stringValue"] == "v"
    dlq = runtime.aws.ref("WorkDLQ")
    dead = eventually(lambda: sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1).get("Messages"), timeout=20)
    assert dead and dead[0]["Body"] == "fail"
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"  # the good one was deleted


def test_a_stream_insert_reaches_the_handler_with_its_event_source_arn(runtime):
    table = runtime.aws.ref("WatchedTable")
    runtime.aws.client("dynamodb").put_item(TableName=table, Item={"pk": {"S": "stream-insert"}, "n": {"N": "1"}})
    found = eventually(
        lambda: [
            r
            for r in records(runtime, "stream#")
            if r["eventName"] == "INSERT" and r["dynamodb"]["Keys"]["pk"]["S"] == "stream-insert"
        ]
    )
    assert found
    assert found[0]["eventSourceARN"] == runtime.aws.get_att("WatchedTable", "StreamArn")
    assert found[0]["dynamodb"]["NewImage"]["n"] == {"N": "1"}
    assert isinstance(found[0]["dynamodb"]["ApproximateCreationDateTime"], int)
    assert "userIdentity" not in found[0]


def test_an_expired_item_is_reaped_and_streams_as_a_ttl_remove(runtime):
    dynamodb = runtime.aws.client("dynamodb")
    table = runtime.aws.ref("WatchedTable")
    past, future = str(int(time.time()) - 5), str(int(time.time()) + 3600)
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "expired"}, "expires_at": {"N": past}})
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "alive"}, "expires_at": {"N": future}})
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "deleted-by-hand"}})
    dynamodb.delete_item(TableName=table, Key={"pk": {"S": "deleted-by-hand"}})
    assert eventually(lambda: "Item" not in dynamodb.get_item(TableName=table, Key={"pk": {"S": "expired"}}))
    assert "Item" in dynamodb.get_item(TableName=table, Key={"pk": {"S": "alive"}})

    def removes():
        return {r["dynamodb"]["Keys"]["pk"]["S"]: r for r in records(runtime, "stream#") if r["eventName"] == "REMOVE"}

    found = eventually(lambda: {"expired", "deleted-by-hand"} <= set(removes()))
    assert found
    assert removes()["expired"]["userIdentity"] == {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    assert "userIdentity" not in removes()["deleted-by-hand"]


def test_a_schedule_fires_with_its_input_or_a_scheduled_event(runtime):
    status, _, body = request(runtime, "POST", "/local/schedules/TickerFunction")
    assert status == 200 and json.loads(body) == {"received": {"tick": "scheduled"}}
    status, _, body = request(runtime, "POST", "/local/schedules/TickerFunction/Nightly")
    event = json.loads(body)["received"]
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert request(runtime, "POST", "/local/schedules/EchoFunction")[0] == 404
    assert any(r.get("tick") == "scheduled" for r in records(runtime, "tick#"))


def test_schedules_compute_their_next_firing_from_the_template(runtime):
    ticker = {s.event_name: s for s in runtime.schedules["TickerFunction"]}
    assert ticker["EveryMinute"].expression == "rate(1 minute)" and ticker["EveryMinute"].is_alive()
    assert eventually(lambda: ticker["EveryMinute"].next_at is not None, timeout=5)
    assert 0 < (ticker["EveryMinute"].next_at - ticker["EveryMinute"].started).total_seconds() <= 60
    assert ticker["Nightly"].next_at.hour == 3 and ticker["Nightly"].next_at.minute == 0
