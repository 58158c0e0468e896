"""Breach records: deadlines, affected subjects from the audit log and the stores, notices only after approval."""

import json
import uuid

import boto3
import pytest

from habeas import clock
from tests.conftest import import_handler
from tests.integration.channels.conftest import graph  # noqa: F401 - fixture
from tests.integration.helpers import verify

pytestmark = pytest.mark.integration

INCIDENTS = "/v1/admin/incidents"
INCIDENT = "/v1/admin/incidents/{incident_id}"
APPROVE = "/v1/admin/incidents/{incident_id}/approve"
PROFILE = "/v1/admin/subjects/{subject_id}/profile"
BREACH = {
    "what": "A support laptop holding an export of customer contact details was stolen.",
    "discovered_at": "2026-11-27T10:00:00Z",  # a Friday
    "categories": ["email", "phone"],
    "systems": [],
}


def _record(admin, staff, body, groups=("dpo",)):
    return admin("POST", INCIDENTS, body=body, headers=staff(list(groups), sub="dpo-incidents"))


def _run_jobs(embedded_aws, use_function, lambda_context, graph_url=None, monkeypatch=None):
    """Hand every queued incident job to the worker, as the SQS event source would."""
    use_function("IncidentWorkerFunction")
    if graph_url:
        monkeypatch.setenv("GRAPH_API_BASE_URL", graph_url)
    url = embedded_aws.function_env("AdminFunction")["INCIDENT_JOBS_QUEUE_URL"]
    sqs = boto3.client("sqs", endpoint_url=embedded_aws.moto_url)
    handled = 0
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            return handled
        for message in messages:
            record = {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1",
                    "SenderId": "x",
                    "ApproximateFirstReceiveTimestamp": "1",
                },
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:IncidentJobsQueue",
                "awsRegion": "us-east-1",
            }
            result = import_handler("incident_worker").handler({"Records": [record]}, lambda_context)
            assert result == {"batchItemFailures": []}, result
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            handled += 1


def test_recording_an_incident_computes_the_deadlines_and_queues_the_assessment(admin, staff):
    answer = _record(admin, staff, BREACH)
    assert answer.status == 202, answer.body
    assert answer.body["status"] == "assessing" and answer.body["incident_id"].startswith("inc_")
    deadlines = answer.body["deadlines"]
    assert deadlines["gdpr_authority"]["due_at"] == "2026-11-30T10:00:00.000Z"  # 72 hours
    assert deadlines["lgpd_anpd"]["due_at"] == "2026-12-02T10:00:00.000Z"  # 3 business days: Mon, Tue, Wed
    assert deadlines["lgpd_subjects"]["due_at"] == "2026-12-02T10:00:00.000Z"


@pytest.mark.parametrize(
    "body",
    [
        {**BREACH, "categories": ["hair_colour"]},
        {**BREACH, "systems": ["the_mainframe"]},
        {**BREACH, "discovered_at": "last tuesday"},
        {**BREACH, "discovered_at": "2999-01-01T00:00:00Z"},
        {**BREACH, "started_at": "2026-11-20T00:00:00Z", "ended_at": "2026-11-10T00:00:00Z"},
        {k: v for k, v in BREACH.items() if k != "what"},
    ],
)
def test_an_incident_the_data_map_or_the_calendar_rejects_is_422(admin, staff, body):
    assert _record(admin, staff, body).status == 422


def test_only_a_dpo_handles_incidents(admin, staff):
    assert _record(admin, staff, BREACH, groups=("supervisor",)).status == 403
    path = INCIDENT.format(incident_id="inc_0123abcd")
    assert admin("GET", path, route=INCIDENT, headers=staff(["agent"])).status == 403
    assert admin("GET", path, route=INCIDENT, headers=staff(["dpo"])).status == 404


def test_affected_subjects_get_notices_in_their_language_sent_only_after_approval(
    admin,
    staff,
    call,
    outbox,
    unique,
    embedded_aws,
    use_function,
    lambda_context,
    graph,  # noqa: F811
    monkeypatch,
):
    _run_jobs(embedded_aws, use_function, lambda_context, graph.url, monkeypatch)  # earlier tests' jobs
    window_start = clock.rfc3339(clock.now())
    brazilian = verify(call, outbox, f"{unique('br')}@example.com")["subject_id"]
    spanish = verify(call, outbox, f"{unique('es')}@example.com")["subject_id"]
    br_email = f"{unique('cliente')}@example.com"
    es_phone = f"+3461{uuid.uuid4().int % 10_000_000:07d}"
    dpo = staff(["dpo"], sub="dpo-setup")
    assert admin(
        "PUT",
        PROFILE.format(subject_id=brazilian),
        route=PROFILE,
        body={"email": br_email, "phone": "+5511912345678"},
        headers=dpo,
    ).status in (200, 409)
    assert (
        admin("PUT", PROFILE.format(subject_id=spanish), route=PROFILE, body={"phone": es_phone}, headers=dpo).status
        == 200
    )

    body = {**BREACH, "discovered_at": clock.rfc3339(clock.now()), "started_at": window_start}
    recorded = _record(admin, staff, body)
    incident_id = recorded.body["incident_id"]
    path = INCIDENT.format(incident_id=incident_id)
    assert admin("POST", APPROVE.format(incident_id=incident_id), route=APPROVE, body={}, headers=dpo).status == 409

    _run_jobs(embedded_aws, use_function, lambda_context, graph.url, monkeypatch)
    drafted = admin("GET", path, route=INCIDENT, headers=dpo)
    assert drafted.status == 200 and drafted.body["status"] == "drafted"
    notices = {n["subject_id"]: n for n in drafted.body["notices"]["items"]}
    assert {brazilian, spanish} <= set(notices)
    assert notices[spanish]["language"] == "es" and notices[spanish]["channel"] == "sms"
    assert notices[spanish]["status"] == "draft"
    sent_before = [m for m in outbox() if m["to"] == es_phone]
    assert sent_before == []  # nothing goes out before approval

    approved = admin("POST", APPROVE.format(incident_id=incident_id), route=APPROVE, body={}, headers=dpo)
    assert approved.status == 200 and approved.body["status"] == "approved"
    _run_jobs(embedded_aws, use_function, lambda_context, graph.url, monkeypatch)
    done = admin("GET", path, route=INCIDENT, headers=dpo).body
    assert done["status"] == "notified"
    texts = [m["body"] for m in outbox() if m["to"] == es_phone]
    assert len(texts) == 1 and "incidente de seguridad" in texts[0] and "correo electrónico" in texts[0]
    if notices[brazilian]["channel"] == "email":
        mails = [m for m in outbox() if m["to"] == br_email]
        assert (
            len(mails) == 1 and notices[brazilian]["language"] == "pt" and "incidente de segurança" in mails[0]["body"]
        )
    assert json.dumps(done).count(es_phone) == 0  # the record never holds the destination


def test_a_retried_post_with_the_same_idempotency_key_records_the_incident_once(admin, staff, unique):
    key = {**staff(["dpo"], sub="dpo-incidents"), "idempotency-key": unique("incident-key")}
    first = admin("POST", INCIDENTS, body=BREACH, headers=key)
    again = admin("POST", INCIDENTS, body=BREACH, headers=key)
    assert first.status == again.status == 202 and first.body["incident_id"] == again.body["incident_id"]
    other = admin("POST", INCIDENTS, body={**BREACH, "categories": ["name"]}, headers=key)
    assert other.status == 422
