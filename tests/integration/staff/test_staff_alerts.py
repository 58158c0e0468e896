"""Suspicious access: rules trip alerts (stored, SNS, EventBridge), lock reveals until cleared."""

import json
import uuid

import boto3
import pytest

from tests.integration.helpers import verify
from tests.integration.staff.conftest import QUIET_RULES, whatsapp_message

pytestmark = pytest.mark.integration

VIEW = "/v1/admin/subjects/{subject_id}"
REVEAL = "/v1/admin/subjects/{subject_id}/reveal"
PROFILE = "/v1/admin/subjects/{subject_id}/profile"
CLEAR = "/v1/admin/alerts/{alert_id}/clear"
JUSTIFICATION = "Customer asked us to confirm the details on file (ticket 5512)"


def _subject(call, outbox, unique, admin, staff):
    subject_id = verify(call, outbox, f"{unique('subject')}@example.com")["subject_id"]
    profile = {"email": f"{unique('mail')}@example.com", "document_id": "390.533.447-05"}
    put = admin(
        "PUT",
        PROFILE.format(subject_id=subject_id),
        route=PROFILE,
        body=profile,
        headers=staff(["dpo"], sub="dpo-setup"),
    )
    assert put.status == 200, put.body
    return subject_id


def _view(admin, staff, subject_id, groups, sub):
    return admin("GET", VIEW.format(subject_id=subject_id), route=VIEW, headers=staff(groups, sub=sub))


def _reveal(admin, staff, subject_id, fields, groups, sub):
    body = {"fields": fields, "justification": JUSTIFICATION}
    return admin("POST", REVEAL.format(subject_id=subject_id), route=REVEAL, body=body, headers=staff(groups, sub=sub))


def _alerts(admin, staff, actor=None):
    answer = admin("GET", "/v1/admin/alerts", query={"limit": "200"}, headers=staff(["dpo"], sub="dpo-reader"))
    assert answer.status == 200, answer.body
    return [a for a in answer.body["alerts"] if actor is None or a["actor"] == actor]


def _clear(admin, staff, alert_id, groups, sub):
    return admin("POST", CLEAR.format(alert_id=alert_id), route=CLEAR, body={}, headers=staff(groups, sub=sub))


@pytest.fixture
def listeners(embedded_aws):
    """SQS queues subscribed to the alerts topic and to an EventBridge rule on the default bus."""
    endpoint = embedded_aws.moto_url
    sqs = boto3.client("sqs", endpoint_url=endpoint)
    topic_arn = embedded_aws.function_env("AdminFunction")["ALERTS_TOPIC_ARN"]
    queues = {}
    for name in ("sns", "events"):
        url = sqs.create_queue(QueueName=f"alerts-{name}-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        queues[name] = (
            url,
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"],
        )
    boto3.client("sns", endpoint_url=endpoint).subscribe(
        TopicArn=topic_arn, Protocol="sqs", Endpoint=queues["sns"][1], Attributes={"RawMessageDelivery": "true"}
    )
    events = boto3.client("events", endpoint_url=endpoint)
    rule = f"habeas-alerts-{uuid.uuid4().hex[:8]}"
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["habeas.staff-console"]}))
    events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": queues["events"][1]}])

    def read(name):
        url = queues[name][0]
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    yield read
    events.remove_targets(Rule=rule, Ids=["q"])
    events.delete_rule(Name=rule)


def test_an_agent_crawling_subjects_trips_the_alert_and_loses_reveals_until_a_supervisor_clears_it(
    admin, staff, call, outbox, unique, listeners
):
    subjects = [_subject(call, outbox, unique, admin, staff) for _ in range(3)]
    agent = unique("agent")
    for subject_id in subjects:  # max_subjects is 2 in these tests
        assert _view(admin, staff, subject_id, ["agent"], agent).status == 200

    raised = _alerts(admin, staff, agent)
    assert [(a["rule"], a["status"], a["locks_reveals"]) for a in raised] == [("many_subjects", "open", True)]
    assert raised[0]["detail"]["distinct_subjects"] == 3
    assert any(m["alert_id"] == raised[0]["alert_id"] for m in listeners("sns"))
    published = [m for m in listeners("events") if m["detail"]["alert_id"] == raised[0]["alert_id"]]
    assert published and published[0]["detail-type"] == "Suspicious staff access"

    locked = _reveal(admin, staff, subjects[0], ["email"], ["agent", "supervisor"], agent)
    assert locked.status == 403
    log = admin("GET", "/v1/admin/audit", query={"actor": agent}, headers=staff(["dpo"], sub="dpo-reader"))
    assert log.body["events"][0]["outcome"] == "refused" and log.body["events"][0]["detail"]["reason"] == "locked"

    alert_id = raised[0]["alert_id"]
    assert _clear(admin, staff, alert_id, ["agent"], unique("agent")).status == 403  # agents cannot clear
    assert _clear(admin, staff, alert_id, ["supervisor"], agent).status == 403  # nobody clears their own alert
    supervisor = unique("supervisor")
    cleared = _clear(admin, staff, alert_id, ["supervisor"], supervisor)
    assert cleared.status == 200 and cleared.body["status"] == "cleared" and cleared.body["cleared_by"] == supervisor
    assert _clear(admin, staff, alert_id, ["dpo"], unique("dpo")).status == 409
    assert _reveal(admin, staff, subjects[0], ["email"], ["agent", "supervisor"], agent).status == 200


def test_repeated_reveals_of_document_fields_trip_the_alert_and_lock_further_reveals(
    admin, staff, call, outbox, unique
):
    subject_id = _subject(call, outbox, unique, admin, staff)
    dpo = unique("dpo")
    assert _reveal(admin, staff, subject_id, ["document_id"], ["dpo"], dpo).status == 200
    assert _alerts(admin, staff, dpo) == []
    assert _reveal(admin, staff, subject_id, ["document_id"], ["dpo"], dpo).status == 200  # over max_reveals 1
    assert [a["rule"] for a in _alerts(admin, staff, dpo)] == ["sensitive_reveals"]
    assert _reveal(admin, staff, subject_id, ["email"], ["dpo"], dpo).status == 403


def test_access_outside_working_hours_raises_an_alert_without_locking(admin, staff, call, outbox, unique, alert_rules):
    subject_id = _subject(call, outbox, unique, admin, staff)
    alert_rules.write_text(
        QUIET_RULES.replace("weekdays: [1, 2, 3, 4, 5, 6, 7]", "weekdays: []").replace(
            "off_hours: {enabled: false}", "off_hours: {enabled: true}"
        )
    )
    supervisor = unique("supervisor")
    assert _view(admin, staff, subject_id, ["supervisor"], supervisor).status == 200
    assert _view(admin, staff, subject_id, ["supervisor"], supervisor).status == 200
    raised = _alerts(admin, staff, supervisor)
    assert [(a["rule"], a["locks_reveals"]) for a in raised] == [("off_hours", False)]  # one per window
    assert _reveal(admin, staff, subject_id, ["email"], ["supervisor"], supervisor).status == 200


def test_access_to_a_subject_with_no_conversation_or_request_raises_an_alert(
    admin, staff, call, outbox, unique, alert_rules, use_function, lambda_context
):
    alert_rules.write_text(QUIET_RULES.replace("no_relationship: {enabled: false}", "no_relationship: {enabled: true}"))
    stranger = _subject(call, outbox, unique, admin, staff)
    sender = f"3461{uuid.uuid4().int % 10_000_000:07d}"
    whatsapp_message(use_function, lambda_context, sender, "Hola, ¿dónde está mi pedido?")
    found = admin("GET", "/v1/admin/subjects", query={"identifier": f"+{sender}"}, headers=staff(["agent"]))
    customer = found.body["subject_id"]
    agent = unique("agent")
    assert _view(admin, staff, customer, ["agent"], agent).status == 200
    assert _alerts(admin, staff, agent) == []
    assert _view(admin, staff, stranger, ["agent"], agent).status == 200
    raised = _alerts(admin, staff, agent)
    assert [(a["rule"], a["subject_id"]) for a in raised] == [("no_relationship", stranger)]


def test_only_a_dpo_lists_alerts_and_unknown_alerts_are_404(admin, staff, unique):
    assert admin("GET", "/v1/admin/alerts", headers=staff(["supervisor"])).status == 403
    assert admin("GET", "/v1/admin/alerts", query={"next": "bm90LWEtdG9rZW4"}, headers=staff(["dpo"])).status == 422
    assert _clear(admin, staff, "alr_20200101T000000000_0000000000", ["dpo"], unique("dpo")).status == 404
