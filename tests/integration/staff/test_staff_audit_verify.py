"""The audit chains' verification: the scheduled function and `python -m habeas.audit verify` catch tampering."""

import json

import boto3
import pytest

from tests.conftest import import_handler
from tests.integration.helpers import verify

pytestmark = pytest.mark.integration

PROFILE = "/v1/admin/subjects/{subject_id}/profile"


def _audited_subject(call, outbox, unique, admin, staff):
    subject_id = verify(call, outbox, f"{unique('audited')}@example.com")["subject_id"]
    for name in ("Ana", "Ana Souza"):
        body = {"name": name}
        assert (
            admin(
                "PUT", PROFILE.format(subject_id=subject_id), route=PROFILE, body=body, headers=staff(["agent"])
            ).status
            == 200
        )
    return subject_id


def _tamper(embedded_aws, subject_id, seq=2):
    """Someone with table access rewrites one entry: claims it touched another field."""
    table = embedded_aws.function_env("AdminFunction")["AUDIT_TABLE"]
    boto3.client("dynamodb", endpoint_url=embedded_aws.moto_url).update_item(
        TableName=table,
        Key={"chain": {"S": f"subject#{subject_id}"}, "seq": {"N": str(seq)}},
        UpdateExpression="SET #f = :f",
        ExpressionAttributeNames={"#f": "fields"},
        ExpressionAttributeValues={":f": {"L": [{"S": "address"}]}},
    )


def _run_scheduled(use_function, lambda_context, event=None):
    use_function("AuditVerifyFunction")
    return import_handler("audit_verify").handler(
        event or {"detail-type": "Scheduled Event", "detail": {}}, lambda_context
    )


def _broken_alerts(admin, staff, subject_id):
    answer = admin("GET", "/v1/admin/alerts", query={"limit": "200"}, headers=staff(["dpo"], sub="dpo-reader"))
    return [a for a in answer.body["alerts"] if a["rule"] == "audit_chain_broken" and a["subject_id"] == subject_id]


def test_the_scheduled_verification_catches_a_tampered_entry_and_alerts_once(
    admin, staff, call, outbox, unique, embedded_aws, use_function, lambda_context
):
    subject_id = _audited_subject(call, outbox, unique, admin, staff)
    _tamper(embedded_aws, subject_id)
    first = _run_scheduled(use_function, lambda_context)
    assert first["broken"] >= 1
    alerts = _broken_alerts(admin, staff, subject_id)
    assert len(alerts) == 1 and alerts[0]["detail"]["reason"] == "event content altered"
    assert alerts[0]["detail"]["broken_at"] == 2
    _run_scheduled(use_function, lambda_context, {"full": True})
    assert len(_broken_alerts(admin, staff, subject_id)) == 1  # the same break is reported once


def test_an_edit_to_a_quiet_chain_is_caught_by_the_periodic_full_check(
    admin, staff, call, outbox, unique, embedded_aws, use_function, lambda_context
):
    from habeas.audit_watch import verify_touched

    subject_id = _audited_subject(call, outbox, unique, admin, staff)
    _run_scheduled(use_function, lambda_context)  # checkpoint: the chain verified
    _tamper(embedded_aws, subject_id, seq=1)  # the head does not move
    use_function("AuditVerifyFunction")
    report = verify_touched(reverify_hours=0)  # its periodic full check is due
    assert f"subject#{subject_id}" in report.broken
    assert len(_broken_alerts(admin, staff, subject_id)) == 1


def test_a_deleted_chain_head_is_caught_and_a_chain_past_retention_is_let_go(
    admin, staff, call, outbox, unique, embedded_aws, use_function, lambda_context
):
    from habeas.audit_watch import verify_touched

    subject_id = _audited_subject(call, outbox, unique, admin, staff)
    _run_scheduled(use_function, lambda_context)  # checkpoint: the chain verified
    audit_table = boto3.resource("dynamodb", endpoint_url=embedded_aws.moto_url).Table(
        embedded_aws.function_env("AdminFunction")["AUDIT_TABLE"]
    )
    audit_table.delete_item(Key={"chain": f"subject#{subject_id}", "seq": 0})  # the head, gone
    use_function("AuditVerifyFunction")
    report = verify_touched()
    assert f"subject#{subject_id}" in report.broken  # young events, no head: not retention's doing
    assert len(_broken_alerts(admin, staff, subject_id)) == 1

    entries = audit_table.query(
        KeyConditionExpression="chain = :c", ExpressionAttributeValues={":c": f"subject#{subject_id}"}
    )["Items"]
    for entry in entries:  # the whole chain, gone
        audit_table.delete_item(Key={"chain": entry["chain"], "seq": entry["seq"]})
    use_function("AuditVerifyFunction")
    report = verify_touched(reverify_hours=0)
    assert f"subject#{subject_id}" in report.broken  # its newest entry was young: not retention's doing

    from habeas import alerts as alerts_module

    dynamodb = boto3.client("dynamodb", endpoint_url=embedded_aws.moto_url)
    checkpoint_key = {"pk": {"S": "AUDITVERIFY"}, "sk": {"S": f"subject#{subject_id}"}}
    dynamodb.update_item(  # years later: the newest entry is past the 6-year policy, the chain expired whole
        TableName=alerts_module._table(),
        Key=checkpoint_key,
        UpdateExpression="SET newest_at = :old",
        ExpressionAttributeValues={":old": {"N": "1546300800"}},  # 2019-01-01T00:00:00Z
    )
    report = verify_touched(reverify_hours=0)
    assert f"subject#{subject_id}" not in report.broken
    assert "Item" not in dynamodb.get_item(TableName=alerts_module._table(), Key=checkpoint_key)  # let go


def test_the_command_line_check_names_the_broken_chain_and_exits_1(
    admin, staff, call, outbox, unique, embedded_aws, use_function, capsys
):
    from habeas import audit

    subject_id = _audited_subject(call, outbox, unique, admin, staff)
    use_function("AdminFunction")
    assert audit.main(["verify", "--subject", subject_id]) == 0
    _tamper(embedded_aws, subject_id)
    capsys.readouterr()
    assert audit.main(["verify", "--subject", subject_id]) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0] == {
        "chain": f"subject#{subject_id}",
        "ok": False,
        "events": 1,
        "broken_at": 2,
        "reason": "event content altered",
    }
    assert lines[-1] == {"chains": 1, "broken": 1}


def test_the_audit_read_reports_a_broken_chain(admin, staff, call, outbox, unique, embedded_aws):
    subject_id = _audited_subject(call, outbox, unique, admin, staff)
    _tamper(embedded_aws, subject_id)
    answer = admin("GET", "/v1/admin/audit", query={"subject_id": subject_id}, headers=staff(["dpo"]))
    assert answer.status == 200 and answer.body["chain_ok"] is False


def test_a_tampered_entry_on_a_staff_members_page_shows_as_a_broken_chain(
    admin, staff, call, outbox, unique, embedded_aws
):
    subject_id = verify(call, outbox, f"{unique('audited')}@example.com")["subject_id"]
    agent = unique("agent")
    body = {"name": "Ana"}
    admin("PUT", PROFILE.format(subject_id=subject_id), route=PROFILE, body=body, headers=staff(["agent"], sub=agent))
    read = admin("GET", "/v1/admin/audit", query={"actor": agent}, headers=staff(["dpo"]))
    assert read.status == 200 and read.body["chain_ok"] is True
    table = embedded_aws.function_env("AdminFunction")["AUDIT_TABLE"]
    boto3.client("dynamodb", endpoint_url=embedded_aws.moto_url).update_item(
        TableName=table,
        Key={"chain": {"S": f"actor#{agent}"}, "seq": {"N": "1"}},
        UpdateExpression="SET purpose = :p",
        ExpressionAttributeValues={":p": {"S": "audit"}},
    )
    read = admin("GET", "/v1/admin/audit", query={"actor": agent}, headers=staff(["dpo"]))
    assert read.status == 200 and read.body["chain_ok"] is False
