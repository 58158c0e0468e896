import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest

from habeas import consent
from tests.integration.helpers import bearer, items, verify

pytestmark = pytest.mark.integration
PURPOSE_ROUTE = "/v1/consents/{purpose}"


def _put(call, token, purpose, **body):
    return call("ApiFunction", "PUT", f"/v1/consents/{purpose}", route=PURPOSE_ROUTE, body=body, headers=bearer(token))


@pytest.fixture
def subject(call, outbox):
    return verify(call, outbox, f"consent-{uuid.uuid4().hex[:12]}@example.com")


def test_withdrawal_after_grant_shows_in_history_and_current_state(call, subject):
    token = subject["access_token"]
    granted = _put(call, token, "marketing", granted=True, policy_version="2026-01", channel="portal")
    assert granted.status == 200
    assert {"purpose", "granted", "policy_version", "channel", "recorded_at", "receipt_id"} <= set(granted.body)
    withdrawn = _put(call, token, "marketing", granted=False, policy_version="2026-01", channel="whatsapp")
    assert withdrawn.status == 200 and withdrawn.body["granted"] is False

    current = call("ApiFunction", "GET", "/v1/consents", headers=bearer(token))
    assert current.status == 200
    assert [(c["purpose"], c["granted"], c["channel"]) for c in current.body["consents"]] == [
        ("marketing", False, "whatsapp")
    ]
    history = call(
        "ApiFunction",
        "GET",
        "/v1/consents/marketing/history",
        route="/v1/consents/{purpose}/history",
        headers=bearer(token),
    )
    assert history.status == 200
    assert [(e["granted"], e["channel"]) for e in history.body["events"]] == [(True, "portal"), (False, "whatsapp")]
    assert history.body["events"][0]["receipt_id"] == granted.body["receipt_id"]


def test_purposes_are_listed_with_texts_in_three_languages(call):
    answer = call("ApiFunction", "GET", "/v1/purposes")
    assert answer.status == 200
    marketing = next(p for p in answer.body["purposes"] if p["purpose"] == "marketing")
    assert set(marketing["description"]) == {"es", "pt", "en"}
    assert marketing["legal_basis"] == "consent" and marketing["policy_version"]


@pytest.mark.parametrize(
    ("purpose", "body"),
    [
        ("telepathy", {"granted": True, "policy_version": "2026-01", "channel": "portal"}),
        ("marketing", {"granted": True, "policy_version": "1999-01", "channel": "portal"}),
        ("marketing", {"granted": True, "policy_version": "2025-06", "channel": "portal"}),  # superseded
        ("marketing", {"granted": "yes", "policy_version": "2026-01", "channel": "portal"}),
        ("marketing", {"granted": True, "policy_version": "2026-01", "channel": "fax"}),
        ("marketing", {"granted": True, "channel": "portal"}),
    ],
)
def test_bad_consent_is_422_and_records_nothing(call, subject, embedded_aws, purpose, body):
    answer = call(
        "ApiFunction",
        "PUT",
        f"/v1/consents/{purpose}",
        route=PURPOSE_ROUTE,
        body=body,
        headers=bearer(subject["access_token"]),
    )
    assert answer.status == 422 and answer.headers["content-type"] == "application/problem+json"
    assert not [i for i in items(embedded_aws, "consents_table") if i["subject_id"] == subject["subject_id"]]


def test_withdrawal_under_a_previous_policy_version_is_accepted(call, subject):
    answer = _put(call, subject["access_token"], "marketing", granted=False, policy_version="2025-06", channel="email")
    assert answer.status == 200 and answer.body["granted"] is False


@pytest.mark.parametrize("header", [None, "Bearer not-a-token", "Basic abc"])
def test_consent_without_a_valid_token_is_401_even_with_a_bad_body(call, embedded_aws, header):
    before = len(items(embedded_aws, "consents_table"))
    headers = {"authorization": header} if header else {}
    answer = call(
        "ApiFunction", "PUT", "/v1/consents/marketing", route=PURPOSE_ROUTE, raw_body="{oops", headers=headers
    )
    assert answer.status == 401
    assert call("ApiFunction", "GET", "/v1/consents", headers=headers).status == 401
    assert len(items(embedded_aws, "consents_table")) == before


def test_a_subject_sees_only_its_own_consents(call, outbox):
    ana = verify(call, outbox, "ana.only@example.com")
    bob = verify(call, outbox, "bob.only@example.com")
    assert (
        _put(call, ana["access_token"], "analytics", granted=True, policy_version="2026-01", channel="portal").status
        == 200
    )
    bobs = call("ApiFunction", "GET", "/v1/consents", headers=bearer(bob["access_token"]))
    assert bobs.body["consents"] == []


def test_unknown_purpose_history_is_404(call, subject):
    answer = call(
        "ApiFunction",
        "GET",
        "/v1/consents/telepathy/history",
        route="/v1/consents/{purpose}/history",
        headers=bearer(subject["access_token"]),
    )
    assert answer.status == 404


def _ledger_table(embedded_aws):
    return boto3.resource("dynamodb", endpoint_url=embedded_aws.moto_url).Table(
        embedded_aws.function_env("ApiFunction")["CONSENTS_TABLE"]
    )


def _three_events(call, subject):
    for granted in (True, False, True):
        assert (
            _put(
                call, subject["access_token"], "marketing", granted=granted, policy_version="2026-01", channel="portal"
            ).status
            == 200
        )


def test_an_intact_ledger_verifies(call, subject, use_function):
    _three_events(call, subject)
    use_function("ApiFunction")
    report = consent.verify_ledger(subject["subject_id"])
    assert report.ok and report.events == 3


def test_editing_a_stored_consent_event_is_detected(call, subject, embedded_aws, use_function):
    _three_events(call, subject)
    _ledger_table(embedded_aws).update_item(
        Key={"subject_id": subject["subject_id"], "sk": "EVENT#0000000002"},
        UpdateExpression="SET granted = :yes",
        ExpressionAttributeValues={":yes": True},
    )
    use_function("ApiFunction")
    report = consent.verify_ledger(subject["subject_id"])
    assert not report.ok and report.broken_at == 2


def test_deleting_a_consent_event_is_detected(call, subject, embedded_aws, use_function):
    _three_events(call, subject)
    for sk in ("EVENT#0000000003", "EVENT#0000000002"):
        _ledger_table(embedded_aws).delete_item(Key={"subject_id": subject["subject_id"], "sk": sk})
        use_function("ApiFunction")
        assert not consent.verify_ledger(subject["subject_id"]).ok


def test_an_event_appended_after_the_head_without_moving_it_is_detected(call, subject, embedded_aws, use_function):
    _three_events(call, subject)
    table = _ledger_table(embedded_aws)
    third = table.get_item(Key={"subject_id": subject["subject_id"], "sk": "EVENT#0000000003"})["Item"]
    from habeas.chain import _hashed_part, link_hash

    forged = {**third, "sk": "EVENT#0000000004", "seq": 4, "prev_hash": third["hash"], "granted": False}
    forged["hash"] = link_hash(third["hash"], _hashed_part(forged))
    table.put_item(Item=forged)
    use_function("ApiFunction")
    report = consent.verify_ledger(subject["subject_id"])
    assert not report.ok and report.broken_at == 4


def test_an_append_racing_the_check_is_not_a_break(call, subject, use_function, monkeypatch):
    _three_events(call, subject)
    use_function("ApiFunction")
    from habeas import audit
    from habeas.chain import ChainedLog

    events = ChainedLog.events

    def events_then_a_new_grant(self, partition, **kwargs):
        # The check has read the head (3 events); a grant lands before it reads the events.
        consent.record_consent(
            subject["subject_id"],
            "marketing",
            granted=False,
            policy_version="2026-01",
            channel="portal",
            locale="en",
            actor=audit.Actor(id=subject["subject_id"], role="subject"),
        )
        monkeypatch.setattr(ChainedLog, "events", events)
        return events(self, partition, **kwargs)

    monkeypatch.setattr(ChainedLog, "events", events_then_a_new_grant)
    report = consent.verify_ledger(subject["subject_id"])
    assert report.ok and report.events == 3
    assert consent.verify_ledger(subject["subject_id"]).events == 4


def test_concurrent_consent_changes_keep_one_unbroken_chain(call, subject, use_function):
    use_function("ApiFunction")
    from habeas import audit

    actor = audit.Actor(id=subject["subject_id"], role="subject")

    def change(i):
        return consent.record_consent(
            subject["subject_id"],
            "analytics",
            granted=i % 2 == 0,
            policy_version="2026-01",
            channel="portal",
            locale="en",
            actor=actor,
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        receipts = list(pool.map(change, range(8)))
    assert len({r["receipt_id"] for r in receipts}) == 8
    report = consent.verify_ledger(subject["subject_id"])
    assert report.ok and report.events == 8


def test_consent_changes_are_audited_without_personal_data(call, subject, embedded_aws, use_function):
    _three_events(call, subject)
    use_function("ApiFunction")
    from habeas import audit

    entries = list(audit.entries(subject["subject_id"], newest_first=False))
    actions = [e["action"] for e in entries]
    assert actions[0] in ("subject.created", "subject.verified")
    assert actions[-3:] == ["consent.granted", "consent.withdrawn", "consent.granted"]
    assert "@" not in json.dumps(entries, default=str)
    assert audit.verify(subject["subject_id"]).ok


def test_many_writers_racing_on_one_audit_chain_all_land_in_order(subject, use_function):
    # More writers than rounds a fixed retry count allowed: each round of the race has one winner.
    use_function("ApiFunction")
    from habeas import audit

    actor = audit.Actor(id="system", role="system")
    before = audit.verify(subject["subject_id"]).events

    def write(i):
        return audit.record(
            actor, audit.AuditEvent(action="test.race", subject_id=subject["subject_id"], detail={"i": i})
        )

    with ThreadPoolExecutor(max_workers=10) as pool:
        written = list(pool.map(write, range(20)))
    assert sorted(e["seq"] for e in written) == list(range(before + 1, before + 21))
    report = audit.verify(subject["subject_id"])
    assert report.ok and report.events == before + 20


@pytest.mark.parametrize(
    ("patience", "invocation_left"),
    [(0.5, None), (5.0, 3.5)],  # its own budget; or the invocation's time less what it keeps to answer 409
    ids=["patience", "invocation"],
)
def test_a_writer_that_never_wins_the_head_retries_for_its_budget_then_gives_up_writing_nothing(
    subject, use_function, monkeypatch, patience, invocation_left
):
    use_function("ApiFunction")
    import contextlib

    from habeas import audit, chain
    from habeas import clock as habeas_clock
    from habeas.errors import Conflict
    from tests.conftest import FakeLambdaContext

    class Invocation(FakeLambdaContext):
        def get_remaining_time_in_millis(self) -> int:
            return int(invocation_left * 1000)

    class Clock:  # time passes only while the writer waits, so the count of rounds does not depend on moto's speed
        now = 0.0

        def monotonic(self):
            return self.now

        def sleep(self, seconds):
            self.now += seconds

    clock = Clock()
    monkeypatch.setattr(chain, "time", clock)
    before = audit.verify(subject["subject_id"])
    read_head = chain.ChainedLog.head_item
    rounds = []

    def always_behind(self, partition):  # another writer always moved the head after this read
        rounds.append(clock.now)
        item = read_head(self, partition)
        return {**item, "head_seq": int(item["head_seq"]) - 1}

    monkeypatch.setattr(chain.ChainedLog, "head_item", always_behind)
    within = habeas_clock.invocation(Invocation()) if invocation_left else contextlib.nullcontext()
    with within, pytest.raises(Conflict):
        chain_name = audit.chain_of(subject["subject_id"], audit.Actor(id="s", role="system"))
        audit._LOG.append(chain_name, {}, patience=patience)
    assert clock.now == pytest.approx(0.5, abs=0.05) and len(rounds) >= 5  # backoff: 10 ms doubling, capped at 160 ms
    assert all(later > earlier for earlier, later in zip(rounds, rounds[1:], strict=False))
    monkeypatch.undo()
    after = audit.verify(subject["subject_id"])
    assert after.ok and after.events == before.events


def test_an_append_cancelled_for_a_conflicting_transaction_is_retried(subject, use_function, monkeypatch):
    # Real DynamoDB cancels one of two transactions racing on an item with TransactionConflict (moto never does).
    use_function("ApiFunction")
    from botocore.exceptions import ClientError

    from habeas import audit, aws

    dynamodb = aws.client("dynamodb")
    transact = dynamodb.transact_write_items
    calls = []

    def conflicting_once(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            reasons = [{"Code": "TransactionConflict"}, {"Code": "None"}]
            error = {"Code": "TransactionCanceledException", "Message": "conflict"}
            raise ClientError({"Error": error, "CancellationReasons": reasons}, "TransactWriteItems")
        return transact(**kwargs)

    monkeypatch.setattr(dynamodb, "transact_write_items", conflicting_once)
    before = audit.verify(subject["subject_id"]).events
    entry = audit.record(
        audit.Actor(id="system", role="system"), audit.AuditEvent("test.retried", subject["subject_id"])
    )
    assert len(calls) == 2 and entry["seq"] == before + 1
    monkeypatch.undo()
    assert audit.verify(subject["subject_id"]).events == before + 1


def test_a_route_stops_retrying_a_contended_chain_in_time_to_answer_409(call, subject, monkeypatch):
    token = subject["access_token"]
    assert _put(call, token, "marketing", granted=True, policy_version="2026-01", channel="portal").status == 200
    from habeas import chain, clock

    # The route's invocation has 10 s left (the test context); keeping all of it leaves no time for a second round.
    monkeypatch.setattr(chain, "ANSWER_RESERVE", 10.0)
    read_head, rounds = chain.ChainedLog.head_item, []

    def always_behind(self, partition):
        rounds.append(partition)
        item = read_head(self, partition)
        return {**item, "head_seq": int(item["head_seq"]) - 1}

    monkeypatch.setattr(chain.ChainedLog, "head_item", always_behind)
    answer = _put(call, token, "marketing", granted=False, policy_version="2026-01", channel="portal")
    assert answer.status == 409 and len(rounds) == 1
    assert clock.invocation_time_left() is None  # the invocation's deadline ends with it
    monkeypatch.undo()
    current = call("ApiFunction", "GET", "/v1/consents", headers=bearer(token)).body["consents"]
    assert [(c["purpose"], c["granted"]) for c in current] == [("marketing", True)]
