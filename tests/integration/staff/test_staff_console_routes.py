"""The staff console over the AdminFunction: subject view, profile upsert, reveals, the access log."""

import json
import random
import time

import boto3
import pytest

from tests.integration.helpers import items, verify
from tests.integration.staff.conftest import whatsapp_message

pytestmark = pytest.mark.integration

VIEW = "/v1/admin/subjects/{subject_id}"
PROFILE = "/v1/admin/subjects/{subject_id}/profile"
REVEAL = "/v1/admin/subjects/{subject_id}/reveal"
JUSTIFICATION = "Customer called to confirm identity for a chargeback (ticket 4411)"


def _profile(unique):
    tag = unique("p")
    return {
        "name": "Ana Souza",
        "email": f"ana.{tag}@example.com",
        "phone": f"+55119{random.randint(10_000_000, 99_999_999)}",  # noqa: S311
        "address": "Rua das Flores 12, Sao Paulo",
        "document_id": "390.533.447-05",
    }


def _subject(call, outbox, unique):
    return verify(call, outbox, f"{unique('subject')}@example.com")["subject_id"]


def _put(admin, staff, subject_id, body, role="agent", sub="agent-1"):
    return admin("PUT", PROFILE.format(subject_id=subject_id), route=PROFILE, body=body, headers=staff([role], sub=sub))


def _view(admin, staff, subject_id, role="agent", sub="agent-1"):
    return admin("GET", VIEW.format(subject_id=subject_id), route=VIEW, headers=staff([role], sub=sub))


def _audit(admin, staff, **query):
    return admin("GET", "/v1/admin/audit", query=query, headers=staff(["dpo"], sub="dpo-auditor"))


def test_each_role_sees_the_stored_profile_masked_as_the_data_map_says(admin, staff, call, outbox, unique):
    subject_id = _subject(call, outbox, unique)
    profile = {**_profile(unique), "phone": f"+55119{random.randint(1000, 9999)}4321"}  # noqa: S311
    assert _put(admin, staff, subject_id, profile).status == 200

    agent = _view(admin, staff, subject_id, "agent", unique("agent"))
    assert agent.status == 200
    email_domain = profile["email"].split("@")[1]
    assert agent.body["profile"] == {"name": "Ana Souza", "email": f"a***@{email_domain}", "phone": "*********4321"}
    assert agent.body["masking"]["document_id"] == "hidden" and agent.body["masking"]["address"] == "hidden"

    supervisor = _view(admin, staff, subject_id, "supervisor", unique("supervisor"))
    assert supervisor.body["profile"] == {
        **{k: v for k, v in profile.items() if k != "document_id"},
        "document_id": "****4705",
    }

    dpo = _view(admin, staff, subject_id, "dpo", unique("dpo"))
    assert "document_id" not in dpo.body["profile"]  # a DPO sees the document only through a reveal
    assert dpo.body["profile"]["email"] == profile["email"]


def test_the_profile_is_stored_encrypted_bound_to_its_item(admin, staff, call, outbox, unique, embedded_aws):
    subject_id = _subject(call, outbox, unique)
    profile = _profile(unique)
    assert _put(admin, staff, subject_id, profile).status == 200
    stored = next(i for i in items(embedded_aws, "SUBJECTS_TABLE") if i["subject_id"] == subject_id)
    for name, value in profile.items():
        assert stored[name].startswith("hbk1.") and value not in json.dumps(stored, default=str)
    assert stored["profile_updated_at"]


@pytest.mark.parametrize(
    "body",
    [
        {"favourite_colour": "blue"},  # the data map names no such profile field
        {"email": "not-an-email"},
        {"phone": "0612345678"},  # not E.164
        {"phone": "ana@example.com"},  # an identifier, but not a phone
        {"document_id": "!!"},
        {"name": 42},
        {"name": "x" * 201},
        {"email": None},  # an identifier can be replaced, not cleared
        {},
    ],
)
def test_profile_changes_the_data_map_rejects_are_422_and_change_nothing(admin, staff, call, outbox, unique, body):
    subject_id = _subject(call, outbox, unique)
    assert _put(admin, staff, subject_id, {"name": "Before"}).status == 200
    answer = _put(admin, staff, subject_id, {**body, "name": "After"} if body and "name" not in body else body)
    assert answer.status == 422, answer.body
    assert "not-an-email" not in json.dumps(answer.body)
    view = _view(admin, staff, subject_id, "supervisor", unique("supervisor"))
    assert view.body["profile"] == {"name": "Before"}


def test_an_unknown_subject_is_404(admin, staff):
    assert _put(admin, staff, "sub_doesnotexist", {"name": "Ana"}).status == 404
    assert _view(admin, staff, "sub_doesnotexist").status == 404


def test_a_new_email_or_phone_moves_the_blind_index(admin, staff, call, outbox, unique):
    subject_id = _subject(call, outbox, unique)
    first = f"{unique('first')}@example.com"
    second = f"{unique('second')}@example.com"
    assert _put(admin, staff, subject_id, {"email": first}).status == 200
    answer = _put(admin, staff, subject_id, {"email": second.upper(), "phone": "+34 612 000 111"})
    assert answer.status == 200 and answer.body["identifiers_moved"] == ["email", "phone"]

    def lookup(identifier):
        return admin("GET", "/v1/admin/subjects", query={"identifier": identifier}, headers=staff(["agent"]))

    assert lookup(second).body == {"subject_id": subject_id}
    assert lookup("+34612000111").body == {"subject_id": subject_id}
    assert lookup(first).status == 404


def test_an_email_of_another_subject_is_409_and_nothing_changes(admin, staff, call, outbox, unique):
    taken = f"{unique('taken')}@example.com"
    verify(call, outbox, taken)
    subject_id = _subject(call, outbox, unique)
    assert _put(admin, staff, subject_id, {"name": "Before"}).status == 200
    assert _put(admin, staff, subject_id, {"email": taken, "name": "After"}).status == 409
    assert _view(admin, staff, subject_id, "supervisor", unique("s")).body["profile"] == {"name": "Before"}


def test_an_agent_sees_a_card_sent_on_whatsapp_only_masked_and_expired_messages_not_at_all(
    admin, staff, use_function, lambda_context, embedded_aws, unique
):
    sender = f"55119{int(time.time() * 1000) % 100000000:08d}"
    whatsapp_message(use_function, lambda_context, sender, "Meu cartão é 4111 1111 1111 1111, pode cobrar?")
    found = admin("GET", "/v1/admin/subjects", query={"identifier": f"+{sender}"}, headers=staff(["agent"]))
    subject_id = found.body["subject_id"]
    table = embedded_aws.function_env("ChannelWorkerFunction")["CONVERSATIONS_TABLE"]
    boto3.client("dynamodb", endpoint_url=embedded_aws.moto_url).put_item(
        TableName=table,
        Item={
            "subject_id": {"S": subject_id},
            "sk": {"S": "MSG#2020-01-01T00:00:00.000Z#whatsapp#old"},
            "text": {"S": "an old message past its retention"},
            "expires_at": {"N": str(int(time.time()) - 60)},
        },
    )
    view = _view(admin, staff, subject_id, "agent", unique("agent"))
    assert view.status == 200
    texts = [c.get("text", "") for c in view.body["conversations"]]
    assert len(texts) == 1 and "cart" in texts[0]
    assert "4111" not in json.dumps(view.body) and "1111 1111" not in json.dumps(view.body)


def test_views_and_profile_changes_land_in_the_audit_log_with_who_what_why_and_where(
    admin, staff, call, outbox, unique
):
    subject_id = _subject(call, outbox, unique)
    agent = unique("agent")
    assert _put(admin, staff, subject_id, {"name": "Ana"}, sub=agent).status == 200
    assert _view(admin, staff, subject_id, sub=agent).status == 200
    log = _audit(admin, staff, subject_id=subject_id)
    assert log.status == 200 and log.body["chain_ok"] is True
    viewed, updated = log.body["events"][0], log.body["events"][1]
    assert viewed["action"] == "subject.viewed" and updated["action"] == "profile.updated"
    for event in (viewed, updated):
        assert event["actor"] == agent and event["role"] == "agent" and event["subject_id"] == subject_id
        assert event["source_ip"] == "198.51.100.7" and event["request_id"] and event["purpose"] == "customer_support"
    assert viewed["fields"] == ["name"] and updated["fields"] == ["name"]
    assert "Ana" not in json.dumps(log.body)


def test_the_audit_log_filters_by_actor_without_a_subject_and_by_time_and_pages(admin, staff, call, outbox, unique):
    agent = unique("agent")
    subjects = [_subject(call, outbox, unique) for _ in range(2)]
    for subject_id in subjects:
        _put(admin, staff, subject_id, {"name": "Ana"}, sub=agent)
    by_actor = _audit(admin, staff, actor=agent)
    assert by_actor.status == 200 and by_actor.body["chain_ok"] is True
    assert [e["subject_id"] for e in by_actor.body["events"]] == list(reversed(subjects))
    assert {e["actor"] for e in by_actor.body["events"]} == {agent}

    first = _audit(admin, staff, actor=agent, limit="1")
    assert len(first.body["events"]) == 1 and first.body["next"]
    second = _audit(admin, staff, actor=agent, limit="1", next=first.body["next"])
    assert second.body["events"][0]["subject_id"] == subjects[0]
    assert _audit(admin, staff, actor="someone-else", next=first.body["next"]).status == 422

    assert _audit(admin, staff, actor=agent, **{"from": "2999-01-01T00:00:00Z"}).body["events"] == []
    assert len(_audit(admin, staff, actor=agent, to="2999-01-01T00:00:00Z").body["events"]) == 2
    assert _audit(admin, staff, actor=agent, to="yesterday").status == 422
    assert _audit(admin, staff).status == 422
    assert admin("GET", "/v1/admin/audit", query={"actor": agent}, headers=staff(["supervisor"])).status == 403


def _reveal(admin, staff, subject_id, body, role, sub):
    return admin("POST", REVEAL.format(subject_id=subject_id), route=REVEAL, body=body, headers=staff([role], sub=sub))


def test_reveals_without_the_role_or_without_a_justification_are_refused_and_audited(
    admin, staff, call, outbox, unique
):
    subject_id = _subject(call, outbox, unique)
    assert _put(admin, staff, subject_id, _profile(unique)).status == 200
    agent, dpo = unique("agent"), unique("dpo")
    no_role = _reveal(
        admin, staff, subject_id, {"fields": ["document_id"], "justification": JUSTIFICATION}, "agent", agent
    )
    assert no_role.status == 403
    no_reason = _reveal(admin, staff, subject_id, {"fields": ["document_id"]}, "dpo", dpo)
    assert no_reason.status == 422
    too_short = _reveal(admin, staff, subject_id, {"fields": ["document_id"], "justification": "because"}, "dpo", dpo)
    assert too_short.status == 422
    assert "390.533" not in json.dumps([no_role.body, no_reason.body, too_short.body])

    events = _audit(admin, staff, subject_id=subject_id).body["events"]
    refused = [e for e in events if e["action"] == "subject.reveal"]
    assert [(e["actor"], e["outcome"], e["detail"]["reason"]) for e in refused] == [
        (dpo, "refused", "justification"),
        (dpo, "refused", "justification"),
        (agent, "refused", "role"),
    ]
    assert all(e["fields"] == ["document_id"] for e in refused)


def test_a_dpo_reveal_shows_the_value_and_audits_the_justification_by_hash(admin, staff, call, outbox, unique):
    subject_id = _subject(call, outbox, unique)
    profile = _profile(unique)
    assert _put(admin, staff, subject_id, profile).status == 200
    dpo = unique("dpo")
    body = {"fields": ["document_id"], "justification": JUSTIFICATION, "purpose": "fraud_investigation"}
    shown = _reveal(admin, staff, subject_id, body, "dpo", dpo)
    assert shown.status == 200 and shown.body["fields"] == {"document_id": profile["document_id"]}
    entry = _audit(admin, staff, subject_id=subject_id).body["events"][0]
    assert entry["action"] == "subject.reveal" and entry["outcome"] == "ok" and entry["actor"] == dpo
    assert entry["purpose"] == "fraud_investigation" and entry["fields"] == ["document_id"]
    assert entry["detail"]["justification_length"] == len(JUSTIFICATION)
    assert len(entry["detail"]["justification_sha256"]) == 64
    assert "chargeback" not in json.dumps(entry) and profile["document_id"] not in json.dumps(entry)


def test_a_supervisor_may_reveal_an_email_but_not_a_document(admin, staff, call, outbox, unique):
    subject_id = _subject(call, outbox, unique)
    profile = _profile(unique)
    _put(admin, staff, subject_id, profile)
    supervisor = unique("supervisor")
    email = _reveal(
        admin, staff, subject_id, {"fields": ["email"], "justification": JUSTIFICATION}, "supervisor", supervisor
    )
    assert email.status == 200 and email.body["fields"] == {"email": profile["email"]}
    both = {"fields": ["email", "document_id"], "justification": JUSTIFICATION}
    assert _reveal(admin, staff, subject_id, both, "supervisor", supervisor).status == 403
    unknown = {"fields": ["favourite_colour"], "justification": JUSTIFICATION}
    assert _reveal(admin, staff, subject_id, unknown, "supervisor", supervisor).status == 422


def test_a_lookup_by_identifier_is_in_the_subjects_audit_log_and_a_miss_in_the_actors(
    admin, staff, call, outbox, unique
):
    email = f"{unique('lookup')}@example.com"
    subject_id = verify(call, outbox, email)["subject_id"]
    agent = unique("agent")
    for identifier in (email, f"{unique('nobody')}@example.com"):
        admin("GET", "/v1/admin/subjects", query={"identifier": identifier}, headers=staff(["agent"], sub=agent))
    newest = _audit(admin, staff, subject_id=subject_id).body["events"][0]
    assert (newest["action"], newest["actor"], newest["outcome"]) == ("subject.lookup", agent, "found")
    by_actor = _audit(admin, staff, actor=agent).body["events"]
    assert [(e["outcome"], e.get("subject_id")) for e in by_actor] == [("not_found", None), ("found", subject_id)]
    assert email not in json.dumps(by_actor)


def test_the_view_lists_the_subjects_open_requests_and_consents(admin, staff, call, outbox, unique):
    confirmed = verify(call, outbox, f"{unique('asks')}@example.com")
    subject_id, auth = confirmed["subject_id"], {"authorization": f"Bearer {confirmed['access_token']}"}
    filed = call("ApiFunction", "POST", "/v1/requests", body={"type": "access"}, headers=auth)
    assert filed.status == 202, filed.body
    purposes = call("ApiFunction", "GET", "/v1/purposes").body["purposes"]
    marketing = next(p for p in purposes if p["purpose"] == "marketing")
    body = {"granted": True, "policy_version": marketing["policy_version"], "channel": "portal"}
    consent_path = "/v1/consents/marketing"
    assert (
        call("ApiFunction", "PUT", consent_path, route="/v1/consents/{purpose}", body=body, headers=auth).status == 200
    )

    view = _view(admin, staff, subject_id, "agent", unique("agent"))
    assert [(r["request_id"], r["type"]) for r in view.body["requests"]] == [(filed.body["request_id"], "access")]
    assert [(c["purpose"], c["granted"]) for c in view.body["consents"]] == [("marketing", True)]


def test_the_dpo_reads_a_staff_members_justifications_as_written_and_that_read_is_audited(
    admin, staff, call, outbox, unique
):
    subject_id = _subject(call, outbox, unique)
    assert _put(admin, staff, subject_id, _profile(unique)).status == 200
    supervisor = unique("supervisor")
    body = {"fields": ["email"], "justification": JUSTIFICATION}
    revealed = _reveal(admin, staff, subject_id, body, "supervisor", supervisor)
    assert revealed.status == 200

    reader = unique("dpo")
    query = {"actor": supervisor}
    listed = admin("GET", "/v1/admin/reveals", query=query, headers=staff(["dpo"], sub=reader))
    assert listed.status == 200
    assert listed.body["reveals"] == [
        {
            "reveal_id": revealed.body["reveal_id"],
            "subject_id": subject_id,
            "fields": ["email"],
            "categories": ["email"],
            "justification": JUSTIFICATION,
            "at": listed.body["reveals"][0]["at"],
        }
    ]
    assert admin("GET", "/v1/admin/reveals", query=query, headers=staff(["supervisor"])).status == 403
    read = _audit(admin, staff, actor=reader).body["events"][0]
    assert read["action"] == "reveals.read" and read["detail"] == {"actor_filter": supervisor, "count": 1}
