"""External-processor connector against a local HTTP server: signed notice, retries, recorded answer."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest

from habeas.config import ConfigurationError
from habeas.connectors import ProcessorRejected, StoreUnavailable, connector_for
from habeas.connectors import external as external_connector
from habeas.datamap import data_map

pytestmark = pytest.mark.integration
SECRET = "processor-shared-secret"  # noqa: S105 - test value


class Processor:
    """A third party's callback endpoint that answers from a script of (status, delay) steps."""

    def __init__(self, script: list[tuple[int, float]]) -> None:
        self.script = list(script)
        self.received: list[tuple[dict[str, str], bytes]] = []
        processor = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                processor.received.append((dict(self.headers), body))
                status, delay = processor.script.pop(0) if processor.script else (200, 0)
                time.sleep(delay)
                answer = json.dumps({"erased": 3, "reference": "T-42"} if status == 200 else {}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    pass  # the client gave up waiting

            def log_message(self, *_args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/habeas"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def processor_env(stores, monkeypatch):
    arn = boto3.client("secretsmanager").create_secret(Name=f"support-desk-{uuid.uuid4().hex}", SecretString=SECRET)[
        "ARN"
    ]
    monkeypatch.setenv("SUPPORT_DESK_SECRET_ARN", arn)
    opened = []

    def serve(script):
        processor = Processor(script)
        opened.append(processor)
        monkeypatch.setenv("SUPPORT_DESK_ENDPOINT", processor.url)
        connector = connector_for(data_map().store("support_desk"))
        connector.sleep = lambda _seconds: None
        return processor, connector

    yield serve
    for processor in opened:
        processor.close()


def test_processor_failing_twice_then_answering_gets_one_signed_notice_recorded(processor_env, subject_id):
    processor, connector = processor_env([(503, 0), (500, 0)])

    outcome = connector.erase(subject_id, request_id="req-77")

    assert outcome.strategy == "delete" and outcome.count == 3
    assert outcome.detail == {"notified": True, "processor_status": 200, "processor_reference": "T-42"}
    assert len(processor.received) == 3
    headers, body = processor.received[-1]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Habeas-Signature"] == expected
    notice = json.loads(body)
    assert notice["action"] == "erase" and notice["request_id"] == "req-77" and notice["event"] == "habeas.erase"
    assert notice["subject_ref"] == hmac.new(SECRET.encode(), f"subject:{subject_id}".encode(), "sha256").hexdigest()
    assert subject_id not in body.decode()
    assert connector.find(subject_id) == 0 and connector.export(subject_id) == []


def test_timeouts_are_retried(processor_env, subject_id, monkeypatch):
    monkeypatch.setattr(external_connector, "TIMEOUT_SECONDS", 0.3)
    processor, connector = processor_env([(200, 1.0)])
    assert connector.erase(subject_id, request_id="r").detail["processor_status"] == 200
    assert len(processor.received) == 2


def test_processor_that_stays_down_fails_the_store(processor_env, subject_id):
    processor, connector = processor_env([(503, 0)] * 10)
    with pytest.raises(StoreUnavailable):
        connector.erase(subject_id, request_id="r")
    assert len(processor.received) == external_connector.ATTEMPTS


def test_client_error_is_not_retried(processor_env, subject_id):
    processor, connector = processor_env([(401, 0)])
    with pytest.raises(ProcessorRejected):
        connector.erase(subject_id, request_id="r")
    assert len(processor.received) == 1


def test_rectification_notice_names_fields_never_values(processor_env, subject_id):
    processor, connector = processor_env([])
    assert connector.rectify(subject_id, {"email": "new@example.com"}, request_id="r") == 1
    notice = json.loads(processor.received[0][1])
    assert notice["action"] == "rectify" and notice["fields"] == ["email"]
    assert "new@example.com" not in processor.received[0][1].decode()
    assert connector.rectify(subject_id, {"address": "Rua C"}, request_id="r") == 0  # not a field it holds
    assert len(processor.received) == 1


def test_processor_without_endpoint_is_not_applicable(stores, monkeypatch, subject_id):
    monkeypatch.setenv("SUPPORT_DESK_ENDPOINT", "")
    connector = connector_for(data_map().store("support_desk"))
    assert not connector.applicable()
    outcome = connector.erase(subject_id, request_id="r")
    assert outcome.count == 0 and outcome.detail["notified"] is False


@pytest.mark.parametrize("url", ["http://processor.example.com/hook", "ftp://127.0.0.1/x", "http://10.0.0.8/x"])
def test_plain_http_is_refused_outside_loopback(processor_env, monkeypatch, subject_id, url):
    processor, connector = processor_env([])
    monkeypatch.setenv("SUPPORT_DESK_ENDPOINT", url)
    with pytest.raises(ConfigurationError):
        connector.erase(subject_id, request_id="r")
    assert processor.received == []
